"""The reference the extension's token counts are checked against: Python
`tiktoken` (OpenAI's own implementation), loaded offline from the rank files
the Rust crate ships, with the published split patterns and special tokens;
and OpenAI's cookbook formulas (`num_tokens_from_messages`,
`num_tokens_for_tools`, the default-epochs rule), written here from the
cookbook, over the lines of an exported file.
"""
import functools
import gzip
import json
import os
import subprocess
import tempfile
from pathlib import Path

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from support.databases import REPO

# tiktoken_ext/openai_public.py, as published.
PATTERNS = {
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "o200k_base": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}
SPECIAL_TOKENS = {
    "cl100k_base": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
# The cookbook's num_tokens_for_tools: gpt-4o's constants for o200k_base,
# gpt-4's and gpt-3.5-turbo's for cl100k_base.
FUNC_INIT = {"o200k_base": 7, "cl100k_base": 10}
PROP_INIT, PROP_KEY, ENUM_INIT, ENUM_ITEM, FUNC_END = 3, 3, -3, 3, 12


def crate_data_dir():
    """bpe-openai's data/ in cargo's registry, for the version Cargo.lock pins."""
    metadata = subprocess.run(["cargo", "metadata", "--format-version", "1", "--offline",
                               "--manifest-path", str(REPO / "Cargo.toml")],
                              check=True, capture_output=True).stdout
    package = next(p for p in json.loads(metadata)["packages"] if p["name"] == "bpe-openai")
    return Path(package["manifest_path"]).parent / "data"


@functools.cache
def encoding(name):
    with tempfile.TemporaryDirectory() as tmp:
        ranks = Path(tmp) / f"{name}.tiktoken"
        ranks.write_bytes(gzip.decompress((crate_data_dir() / f"{name}.tiktoken.gz").read_bytes()))
        cache = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local file, cache nothing
        try:
            mergeable_ranks = load_tiktoken_bpe(str(ranks))
        finally:
            if cache is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = cache
    return tiktoken.Encoding(name, pat_str=PATTERNS[name], mergeable_ranks=mergeable_ranks,
                             special_tokens=SPECIAL_TOKENS[name])


def tokens(name, text):
    """Special tokens' text counts as ordinary text, as in the extension."""
    return len(encoding(name).encode_ordinary(text))


def text_of(value):
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def without_final_period(text):
    return text[:-1] if text.endswith(".") else text


def num_tokens_for_tools(name, functions):
    """The cookbook's tool part: definitions, OpenAI-wrapped or not."""
    if not functions:
        return 0
    count = 0
    for f in functions:
        function = f.get("function", f) if isinstance(f, dict) else f
        function = function if isinstance(function, dict) else {}
        count += FUNC_INIT[name]
        line = text_of(function.get("name")) + ":" + without_final_period(text_of(function.get("description")))
        count += tokens(name, line)
        properties = (function.get("parameters") or {}).get("properties") or {}
        if properties:
            count += PROP_INIT
            for key, schema in properties.items():
                count += PROP_KEY
                if "enum" in schema:
                    count += ENUM_INIT
                    for item in schema["enum"]:
                        count += ENUM_ITEM + tokens(name, text_of(item))
                line = f"{key}:{text_of(schema.get('type'))}:{without_final_period(text_of(schema.get('description')))}"
                count += tokens(name, line)
    return max(0, count + FUNC_END)


def num_tokens_from_messages(name, messages):
    """The cookbook's rule: 3 per message, every value encoded, 1 per name,
    3 for the reply's priming; tool calls add their names and arguments."""
    count = 0
    for message in messages:
        count += 3
        for key, value in message.items():
            if key == "tool_calls":
                count += sum(tokens(name, c["function"]["name"]) + tokens(name, c["function"]["arguments"])
                             for c in value)
            elif value is not None:
                count += tokens(name, value)
                if key == "name":
                    count += 1
    return count + 3


def example_messages(target, example):
    """A JSONL line's messages, in the target's own fields."""
    if target == "openai":
        return example["messages"]
    system = [{"role": "system", "content": example["system"]}] if "system" in example else []
    if target == "anthropic":
        return system + example["messages"]
    return system + [{"role": m["from"], "content": m["value"]} for m in example["conversations"]]


def example_tools(target, example):
    if "tools" not in example:
        return []
    return json.loads(example["tools"]) if target == "sharegpt" else example["tools"]


def example_tokens(name, target, example):
    return (num_tokens_from_messages(name, example_messages(target, example))
            + num_tokens_for_tools(name, example_tools(target, example)))


def default_epochs(n):
    """The cookbook's default-epochs rule."""
    target_epochs, min_examples, max_examples, min_epochs, max_epochs = 3, 100, 25000, 1, 25
    if n == 0:
        return None
    if n * target_epochs < min_examples:
        return min(max_epochs, min_examples // n)
    if n * target_epochs > max_examples:
        return max(min_epochs, max_examples // n)
    return target_epochs


def percentile(values, fraction):
    """numpy.percentile's default (linear) method."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    below = int(position)
    if below + 1 >= len(ordered):
        return float(ordered[below])
    return ordered[below] + (ordered[below + 1] - ordered[below]) * (position - below)
