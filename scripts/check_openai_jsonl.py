"""Check a JSONL file against OpenAI's chat fine-tuning rules; exit 1 on the first violation."""
import json
import sys

ROLES = {"system", "user", "assistant", "tool"}


def message_problems(number, messages):
    open_calls = set()
    for message in messages:
        role = message.get("role")
        if role not in ROLES:
            yield f"line {number}: bad role {role!r}"
        calls = message.get("tool_calls") or []
        content = message.get("content")
        if role == "assistant" and calls:
            if content is not None and not isinstance(content, str):
                yield f"line {number}: non-string content"
            for call in calls:
                function = call.get("function") or {}
                if call.get("type") != "function" or not call.get("id") or not function.get("name"):
                    yield f"line {number}: tool call without id, type function and a name"
                elif not isinstance(function.get("arguments"), str):
                    yield f"line {number}: tool call arguments are not a JSON string"
                else:
                    json.loads(function["arguments"])
            open_calls = {call.get("id") for call in calls}
            continue
        if not isinstance(content, str) or not content.strip():
            yield f"line {number}: empty or non-string content"
        if role == "tool":
            if message.get("tool_call_id") not in open_calls:
                yield f"line {number}: tool result without a call of its id before it"
            open_calls.discard(message.get("tool_call_id"))


def problems(data: bytes):
    """OpenAI's chat fine-tuning format, tool calls included."""
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
        if set(example) - {"messages", "tools", "parallel_tool_calls", "metadata"}:
            yield f"line {number}: unexpected keys {sorted(set(example))}"
        yield from message_problems(number, messages)
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
