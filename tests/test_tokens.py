"""Token counts, max_tokens, dedupe and the training report (issue 20),
checked against an independent implementation of the same encodings —
Python tiktoken loaded offline from the rank files the Rust crate ships —
and against OpenAI's cookbook formulas computed here from the exported file.
"""
import csv
import io
import json
import math
import re
import time

import psycopg
import pytest

from support import ALICE, Session, admin_connect, create_database, fetch_rows, rpc, rpc_export
from support.conversations import add_conversation
from support.reference_tokens import default_epochs, example_messages, example_tokens, percentile

TOKENIZERS = ["o200k_base", "cl100k_base"]
REPORT_ARGS = {"config": "jsonb"}

REAL_TEXT = [
    ("system", "You are a careful assistant. Réponds en français si on te parle français."),
    ("user", "Family 👩‍👩‍👧‍👦, flags 🇯🇵🇫🇷, skin tones 👍🏽👋🏿, a rainbow flag 🏳️‍🌈 and keycaps 1️⃣#️⃣ — summarise?"),
    ("assistant", "東京都の天気は晴れです。明日は雨が降るでしょう。中文测试：你好，世界！한국어 문장도 있습니다。"),
    ("user", "مرحبا بالعالم! كيف حالك اليوم؟ هذا نص عربي مع أرقام ١٢٣ و 456، وعلامات التشكيل: مُحَمَّد."),
    ("assistant", "```rust\nfn main() {\n    let squares: Vec<u32> = (0..10).map(|x| x * x).collect();\n"
                  "    println!(\"{:?}\", squares);\n}\n```\n\tTabs, CRLF\r\nand <|endoftext|> as text, "
                  "\\backslashes\\, \"quotes\", it's we'll they'RE I'd."),
    ("user", "SELECT id, count(*) FROM t WHERE x >= 0x1F AND y <> 'naïve café' GROUP BY 1; -- Ωmega ∑ ∫ x² dx …"),
    ("assistant", "   leading spaces, trailing   \n\n\n   several newlines\u2028a line separator 3.14159 1234567890"),
]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather by city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city, e.g. Paris."},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}},
    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]
WEATHER = [
    ("user", "Weather in Paris and 東京?", None, None),
    ("assistant", "", [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
                       {"id": "call_2", "name": "get_weather", "arguments": {"city": "東京"}}], None),
    ("tool", "18°C, cloudy ☁️", None, "call_1"),
    ("tool", "24°C, sunny ☀️", None, "call_2"),
    ("assistant", "Paris is 18°C and cloudy; 東京 24°C and sunny.", None, None),
]
SAME = [("user", "What is 2 + 2?"), ("assistant", "2 + 2 = 4.")]


@pytest.fixture(scope="module")
def db():
    name = create_database("t_tokens")
    add_conversation(name, "real-text", REAL_TEXT)
    add_conversation(name, "real-text-dialogue", REAL_TEXT[1:])
    add_conversation(name, "tool-weather", WEATHER, tools=TOOLS)
    return name


@pytest.fixture(scope="module")
def duplicates(db):
    return {label: add_conversation(db, label, turns, title=f"{label} title") for label, turns in
            [("dup-first", SAME), ("dup-second", SAME), ("dup-other", SAME[:1] + [("assistant", "Four.")])]}


def export(db, config, notices=None):
    with admin_connect(db) as conn:
        if notices is not None:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        return [r[0] for r in conn.execute("SELECT export_system.export_conversations(%s)",
                                           (json.dumps(config),)).fetchall()]


def last_skipped_count(db):
    return fetch_rows(db, "SELECT skipped_count FROM export_system.export_logs WHERE kind = 'conversations' "
                          "ORDER BY timestamp DESC LIMIT 1")[0][0]


def report(db, config):
    return fetch_rows(db, "SELECT export_system.training_report(%s)", (json.dumps(config),))[0][0]


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
@pytest.mark.parametrize("target", ["openai", "sharegpt"])
def test_every_examples_count_equals_tiktokens(db, target, tokenizer):
    """The sample app and real text (emoji, CJK, Arabic, code, tool calls)."""
    lines = export(db, {"scope": "all", "target": target, "tokenizer": tokenizer, "include_metadata": True,
                        "include_token_count": True})
    labels = set()
    for line in lines:
        example = json.loads(line)
        count = example["metadata"]["token_count"]
        assert isinstance(count, str)  # training JSONL metadata values are strings
        assert int(count) == example_tokens(tokenizer, target, example), example["metadata"]["conversation_id"]
        labels.add(example["metadata"]["conversation_id"])
    assert len(lines) > 150 and {"real-text", "real-text-dialogue"} <= labels
    assert "tool-weather" in labels  # calls, results and tool definitions


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
def test_anthropic_counts_equal_tiktokens_at_every_threshold(db, tokenizer):
    """Bedrock's lines carry no metadata: max_tokens at each count c and c - 1
    keeps exactly the lines whose reference count is at most it."""
    lines = export(db, {"scope": "all", "target": "anthropic"})
    counts = [example_tokens(tokenizer, "anthropic", json.loads(line)) for line in lines]
    with admin_connect(db) as conn:
        for limit in sorted({c for c in counts} | {c - 1 for c in counts if c > 1}):
            config = {"scope": "all", "target": "anthropic", "tokenizer": tokenizer, "max_tokens": limit}
            kept = [r[0] for r in conn.execute("SELECT export_system.export_conversations(%s)",
                                               (json.dumps(config),)).fetchall()]
            assert kept == [line for line, count in zip(lines, counts) if count <= limit], limit


def test_json_csv_and_markdown_metadata_hold_the_count_when_asked(db):
    lines = export(db, {"scope": "all", "include_metadata": True, "include_token_count": True})
    counts = {json.loads(line)["metadata"]["conversation_id"]: int(json.loads(line)["metadata"]["token_count"])
              for line in lines}
    document = json.loads("\n".join(export(db, {"scope": "all", "format": "json", "include_token_count": True})))
    for conversation in document["conversations"]:
        if conversation["conversation_id"] in counts:
            assert conversation["metadata"]["token_count"] == counts[conversation["conversation_id"]]
    records = csv.DictReader(io.StringIO("\n".join(export(db, {"scope": "all", "format": "csv", "bom": False,
                                                              "include_token_count": True}))))
    csv_counts = {r["conversation_id"]: int(r["token_count"]) for r in records}
    markdown = "\n".join(export(db, {"scope": "all", "format": "markdown", "include_token_count": True}))
    markdown_counts = {label.replace("\\-", "-"): int(n) for label, n in
                       re.findall(r"- ID: (\S+)\n(?:- .*\n)*?- Token Count: (\d+)", markdown)}
    for label, count in counts.items():
        assert csv_counts.get(label, count) == count and markdown_counts.get(label, count) == count, label
    assert len(csv_counts) > 150 and len(markdown_counts) > 150
    plain = json.loads("\n".join(export(db, {"scope": "all", "format": "json", "max_tokens": 10 ** 6})))
    stored = json.loads("\n".join(export(db, {"scope": "all", "format": "json"})))
    assert [c["metadata"]["token_count"] for c in plain["conversations"]] == \
        [c["metadata"]["token_count"] for c in stored["conversations"]]


def test_max_tokens_skips_with_the_count_in_the_notice_and_the_audit_row(db):
    full = export(db, {"scope": "all"})
    counts = [example_tokens("o200k_base", "openai", json.loads(line)) for line in full]
    limit = sorted(counts)[len(counts) // 2]
    invalid = last_skipped_count(db)
    notices = []
    kept = export(db, {"scope": "all", "max_tokens": limit}, notices)
    over = [count for count in counts if count > limit]
    assert kept == [line for line, count in zip(full, counts) if count <= limit] and over
    assert last_skipped_count(db) == invalid + len(over)
    [notice] = [n for n in notices if "skipped" in n]
    assert f"skipped {invalid + len(over)} conversation(s)" in notice
    assert re.search(rf"\(\d+ tokens, over max_tokens {limit}\)", notice), notice
    with pytest.raises(psycopg.errors.DataException) as raised:
        export(db, {"scope": "all", "max_tokens": 1, "strict": True, "filters": {"search": "東京都の天気"}})
    assert raised.value.diag.message_primary.startswith("conversation real-text has ")
    assert "tokens (o200k_base), over max_tokens 1" in raised.value.diag.message_primary


def test_max_tokens_holds_in_previews_splits_and_preferences(db):
    config = {"scope": "all", "max_tokens": 300}
    full = export(db, config)
    assert 3 < len(full) < len(export(db, {"scope": "all"}))
    assert fetch_rows(db, "SELECT export_system.preview_export(%s)", (json.dumps(config),)) == \
        [(line,) for line in full[:3]]
    split = {"validation": 0.3, "seed": "tokens"}
    parts = [export(db, dict(config, split=dict(split, part=part))) for part in ("train", "validation")]
    assert sorted(parts[0] + parts[1]) == sorted(full) and not set(parts[0]) & set(parts[1])
    mine = rpc_export(Session(db), {"scope": "all"}, sub=ALICE)
    api = Session(db)
    rpc(api, "set_export_preferences", {"preferences": "jsonb"}, {"preferences": {"maxTokens": 300}}, sub=ALICE)
    try:
        assert rpc_export(api, {"scope": "all"}, sub=ALICE) == rpc_export(api, dict(config), sub=ALICE)
        assert len(rpc_export(api, {"scope": "all", "max_tokens": 10 ** 6}, sub=ALICE)) == len(mine)
    finally:
        rpc(api, "set_export_preferences", {"preferences": "jsonb"}, {"preferences": {}}, sub=ALICE)


def test_max_tokens_holds_in_a_background_job(db):
    config = {"scope": "all", "max_tokens": 300}
    expected = export(db, config)
    export_id = rpc(Session(db), "queue_export", {"config": "jsonb"}, {"config": config}, sub=ALICE)
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        [(status, skipped)] = fetch_rows(db, "SELECT status, skipped_count FROM export_system.export_logs "
                                             "WHERE export_id = %s", (export_id,))
        if status not in ("queued", "processing"):
            break
        time.sleep(0.1)
    assert status == "completed"
    parts = rpc(Session(db), "download_export", {"export_id": "uuid"}, {"export_id": export_id},
                returns_set=True, sub=ALICE)
    mine = rpc_export(Session(db), config, sub=ALICE)
    assert "".join(part + "\n" for part in parts) == "".join(line + "\n" for line in mine) and skipped > 0
    assert len(expected) > len(mine)


def test_dedupe_skips_repeats_naming_the_first(db, duplicates):
    ids = list(duplicates.values())
    config = {"scope": "selected", "conversation_ids": ids, "include_metadata": True, "sort": "title"}
    assert len(export(db, config)) == 3
    notices = []
    lines = export(db, dict(config, dedupe=True), notices)
    assert [json.loads(line)["metadata"]["conversation_id"] for line in lines] == ["dup-first", "dup-other"]
    assert any(f"dup-second (duplicate of {duplicates['dup-first']})" in n for n in notices), notices
    assert last_skipped_count(db) == 1
    # The same in every format, and under a preference.
    assert len(json.loads("\n".join(export(db, dict(config, format="json", dedupe=True))))["conversations"]) == 2


def cookbook_report(lines, tokenizer, target, max_tokens=None):
    """The cookbook's data checks and cost estimate, over an exported file."""
    examples = [json.loads(line) for line in lines]
    counts = [example_tokens(tokenizer, target, e) for e in examples]
    n_messages = [len(example_messages(target, e)) for e in examples]
    billing = sum(min(max_tokens, c) if max_tokens else c for c in counts)
    epochs = default_epochs(len(examples))
    roles = [{m.get("role") for m in example_messages(target, e)} for e in examples]
    return {
        "examples": len(examples),
        "messages_per_example": {"min": min(n_messages), "mean": sum(n_messages) / len(n_messages),
                                 "max": max(n_messages)},
        "tokens_per_example": {"min": min(counts), "p50": percentile(counts, 0.5), "p95": percentile(counts, 0.95),
                               "max": max(counts), "mean": sum(counts) / len(counts), "total": sum(counts)},
        "over_limit": sum(c > max_tokens for c in counts) if max_tokens else None,
        "billing_tokens_per_epoch": billing,
        "default_epochs": epochs,
        "estimated_training_tokens": billing * epochs,
        "missing_system_message": sum("system" not in r for r in roles),
        "missing_user_message": sum(not r & {"user", "human"} for r in roles),
    }


def flat(figures, prefix=""):
    out = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def assert_same_figures(found, expected):
    found, expected = flat(found), flat(expected)
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float) or isinstance(found[key], float):
            assert math.isclose(found[key], value, rel_tol=1e-12), (key, found[key], value)
        else:
            assert found[key] == value, (key, found[key], value)


def summary(found):
    """The report's figures in cookbook_report's shape."""
    return {
        "examples": found["examples"],
        "messages_per_example": found["messages_per_example"],
        "tokens_per_example": found["tokens_per_example"],
        "over_limit": found["over_limit"] and found["over_limit"]["count"],
        "billing_tokens_per_epoch": found["billing_tokens_per_epoch"],
        "default_epochs": found["default_epochs"],
        "estimated_training_tokens": found["estimated_training_tokens"],
        "missing_system_message": found["warnings"]["missing_system_message"]["count"],
        "missing_user_message": found["warnings"]["missing_user_message"]["count"],
    }


@pytest.mark.parametrize("config", [{"scope": "all"}, {"scope": "all", "tokenizer": "cl100k_base", "max_tokens": 250},
                                    {"scope": "approved", "split": {"validation": 0.2, "seed": "r", "part": "train"}}])
def test_the_report_equals_the_cookbooks_formulas_over_the_exported_file(db, config):
    # The report counts the examples over max_tokens (the cookbook caps them); the export skips them.
    lines = export(db, {key: value for key, value in config.items() if key != "max_tokens"})
    skipped = last_skipped_count(db)
    found = report(db, config)
    expected = cookbook_report(lines, config.get("tokenizer", "o200k_base"), "openai", config.get("max_tokens"))
    assert_same_figures(summary(found), expected)
    assert found["skipped"]["count"] == skipped
    assert sum(r["count"] for r in found["skipped"]["by_reason"].values()) == skipped
    assert found["warnings"]["missing_assistant_message"]["count"] == \
        found["skipped"]["by_reason"].get("no assistant turn", {"count": 0})["count"]
    for finding in found["skipped"]["by_reason"].values():
        assert len(finding["first"]) == min(10, finding["count"])
    if "max_tokens" in config:
        limited = export(db, dict(config))
        assert len(limited) == found["examples"] - found["over_limit"]["count"]


def test_the_report_reads_what_the_caller_may_export_and_counts_duplicates(db, duplicates):
    api = Session(db)
    mine = rpc_export(api, {"scope": "all", "target": "sharegpt"}, sub=ALICE)
    found = rpc(api, "training_report", REPORT_ARGS, {"config": {"scope": "all", "target": "sharegpt"}}, sub=ALICE)
    assert_same_figures(summary(found), cookbook_report(mine, "o200k_base", "sharegpt"))
    assert found["duplicates"]["count"] >= 1 and "dup-second" in found["duplicates"]["first"]
    deduped = rpc(api, "training_report", REPORT_ARGS, {"config": {"scope": "all", "dedupe": True}}, sub=ALICE)
    plain = rpc(api, "training_report", REPORT_ARGS, {"config": {"scope": "all"}}, sub=ALICE)
    assert deduped["examples"] == plain["examples"] - plain["duplicates"]["count"]
    assert deduped["examples"] == len(rpc_export(api, {"scope": "all", "dedupe": True}, sub=ALICE))


def test_the_report_is_granted_like_preview_and_not_audited(db):
    before = fetch_rows(db, "SELECT count(*) FROM export_system.export_logs")
    report(db, {"scope": "all"})
    assert fetch_rows(db, "SELECT count(*) FROM export_system.export_logs") == before
    assert fetch_rows(db, "SELECT has_function_privilege(r, 'export_system.training_report(jsonb)', 'EXECUTE') "
                          "FROM unnest(ARRAY['authenticated', 'service_role', 'anon']) r") == \
        [(True,), (True,), (False,)]
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        report(db, {"tokenizer": "gpt2"})
    assert "o200k_base, cl100k_base" in raised.value.diag.message_hint


# --- Counting stops when asked, and stays exact across its internal pieces -------------------

def long_piece_text():
    """Text whose encoding pieces straddle every 64 KiB mark at which
    counting checks for interrupts: words, then runs the encoding cannot
    split (letters, spaces, punctuation, digits, CJK, newlines) longer than
    one such piece, then words again, at every alignment."""
    words = "".join(f"word{n % 97} naïve 東京 {n}, " for n in range(9000))
    runs = ["x" * 70_000, " " * 70_000, "!" * 70_000, "7" * 70_000, "語" * 30_000, "\n" * 70_000,
            "Ab" * 40_000, " \t" * 35_000]
    return words + "".join(run + words[:n * 997] for n, run in enumerate(runs))


@pytest.mark.parametrize("tokenizer", TOKENIZERS)
def test_counts_across_long_pieces_equal_tiktokens(db, tokenizer):
    text = long_piece_text()
    label = f"long-pieces-{tokenizer}"
    add_conversation(db, label, [("user", "Count this."), ("assistant", text)])
    lines = export(db, {"scope": "all", "tokenizer": tokenizer, "include_metadata": True,
                        "include_token_count": True, "filters": {"search": label}})
    examples = [json.loads(line) for line in lines if f'"{label}"' in line]
    assert len(examples) == 1
    assert int(examples[0]["metadata"]["token_count"]) == example_tokens(tokenizer, "openai", examples[0])
