"""Check a JSONL file against OpenAI's chat fine-tuning rules; exit 1 on the first violation."""
import json
import sys

ROLES = {"system", "user", "assistant"}


def problems(data: bytes):
    if data.startswith(b"\xef\xbb\xbf"):
        yield "file starts with a BOM"
    for separator in ("\u2028", "\u2029"):
        if separator.encode() in data:
            yield f"raw U+{ord(separator):04X} in the file"
    if data and not data.endswith(b"\n"):
        yield "last line is not terminated"
    for number, line in enumerate(data.decode("utf-8").split("\n")[:-1], 1):
        if not line.strip():
            yield f"line {number}: blank"
            continue
        example = json.loads(line)
        messages = example.get("messages")
        if not isinstance(messages, list) or not messages:
            yield f"line {number}: no messages list"
            continue
        for message in messages:
            if message.get("role") not in ROLES:
                yield f"line {number}: bad role {message.get('role')!r}"
            content = message.get("content")
            if not isinstance(content, str) or not content.strip():
                yield f"line {number}: empty or non-string content"
        if not any(m.get("role") == "assistant" for m in messages):
            yield f"line {number}: no assistant message"


def main(path: str) -> int:
    with open(path, "rb") as f:
        data = f.read()
    found = list(problems(data))
    for problem in found[:20]:
        print(f"{path}: {problem}", file=sys.stderr)
    if not found:
        lines = data.count(b"\n")
        print(f"{path}: {lines} valid OpenAI chat examples")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
