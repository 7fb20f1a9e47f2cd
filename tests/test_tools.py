"""Tool calls end to end, checked against the consumers' published formats:
OpenAI's fine-tuning format (top-level `tools`, assistant `tool_calls` with
`id`, `type`, `function.name` and `function.arguments` as a JSON string,
`tool` messages with `tool_call_id`), LLaMA-Factory's sharegpt
(`function_call` / `observation` turns, `tools` as a JSON string), JSON
verbatim, CSV and Markdown one record or section per call and result.
"""
import csv
import io
import json
import sys

import datasets
import psycopg
import pytest

from support import ALICE, REPO, Session, admin_connect, create_database, new_uuid, rpc_export

sys.path.insert(0, str(REPO / "scripts"))
from check_openai_jsonl import problems  # noqa: E402

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}}}}}]


def add_conversation(db, label, turns, tools=TOOLS):
    conversation = new_uuid()
    with admin_connect(db) as conn:
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier, tools) "
                     "VALUES (%s, %s, %s, %s, 'approved', 'template', %s)",
                     (conversation, label, ALICE, label, json.dumps(tools) if tools else None))
        for number, (role, content, calls, call_id) in enumerate(turns, 1):
            conn.execute("INSERT INTO public.conversation_turns "
                         "(conversation_id, turn_number, role, content, tool_calls, tool_call_id) "
                         "VALUES (%s, %s, %s, %s, %s, %s)",
                         (conversation, number, role, content, json.dumps(calls) if calls else None, call_id))
    return conversation


WEATHER = [
    ("user", "Weather in Paris and Rome?", None, None),
    ("assistant", "", [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
                       {"id": "call_2", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}], None),
    ("tool", "18°C, cloudy", None, "call_1"),
    ("tool", "24°C, sunny", None, "call_2"),
    ("assistant", "Paris is 18°C and cloudy; Rome 24°C and sunny.", None, None),
]


@pytest.fixture(scope="module")
def db():
    name = create_database("t_tools")
    ids = {
        "weather": add_conversation(name, "tool-weather", WEATHER),
        "orphan": add_conversation(name, "tool-orphan", [("user", "Hi", None, None),
                                                         ("tool", "stray result", None, "call_9"),
                                                         ("assistant", "Hello", None, None)]),
        "unanswered": add_conversation(name, "tool-unanswered", [
            ("user", "Weather?", None, None),
            ("assistant", "", [{"id": "call_1", "name": "get_weather", "arguments": {}}], None),
            ("assistant", "I could not check.", None, None)]),
    }
    return name, ids


def export(db, ids, which, **config):
    return rpc_export(Session(db), dict(config, scope="selected", conversation_ids=[ids[w] for w in which]),
                      sub=ALICE)


def test_openai_tool_calls_follow_openais_format(db, tmp_path):
    name, ids = db
    [line] = export(name, ids, ["weather"])
    example = json.loads(line)
    assert example["tools"] == TOOLS
    messages = example["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]
    call_message = messages[1]
    assert call_message["content"] is None
    for call in call_message["tool_calls"]:
        assert set(call) == {"id", "type", "function"} and call["type"] == "function"
        assert set(call["function"]) == {"name", "arguments"}
        assert isinstance(call["function"]["arguments"], str)
        json.loads(call["function"]["arguments"])
    calls = {call["id"] for call in call_message["tool_calls"]}
    assert {m["tool_call_id"] for m in messages if m["role"] == "tool"} == calls == {"call_1", "call_2"}
    assert [json.loads(c["function"]["arguments"]) for c in call_message["tool_calls"]] == \
        [{"city": "Paris"}, {"city": "Rome"}]
    path = tmp_path / "tools.jsonl"
    path.write_text(line + "\n")
    assert list(problems(path.read_bytes())) == []
    loaded = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c"))
    assert loaded[0]["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_invalid_tool_flows_are_skipped_with_the_reason_or_fail_in_strict(db):
    name, ids = db
    with admin_connect(name) as conn:
        notices = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
        rows = conn.execute("SELECT export_system.export_conversations(%s)", (json.dumps(
            {"scope": "selected", "conversation_ids": [ids["orphan"], ids["unanswered"], ids["weather"]]}),)
        ).fetchall()
    assert len(rows) == 1
    assert "tool-orphan (a tool result does not follow a call with its id)" in notices[0]
    assert "tool-unanswered (a tool call has no result)" in notices[0]
    with pytest.raises(psycopg.errors.DataException, match="tool"):
        export(name, ids, ["orphan"], strict=True)


def test_llama_factory_sharegpt_function_calls(db):
    name, ids = db
    [line] = export(name, ids, ["weather"], target="sharegpt")
    example = json.loads(line)
    assert [t["from"] for t in example["conversations"]] == ["human", "function_call", "observation", "gpt"]
    calls = json.loads(example["conversations"][1]["value"])
    assert calls == [{"name": "get_weather", "arguments": {"city": "Paris"}},
                     {"name": "get_weather", "arguments": {"city": "Rome"}}]
    assert json.loads(example["conversations"][2]["value"]) == ["18°C, cloudy", "24°C, sunny"]
    assert json.loads(example["tools"]) == [TOOLS[0]["function"]]


def test_bedrock_skips_tool_use(db):
    name, ids = db
    assert export(name, ids, ["weather"], target="anthropic") == []


def test_empty_tool_fields_are_no_tool_use(db):
    name, _ = db
    plain = add_conversation(name, "tool-empty", [("user", "Hi", None, None), ("assistant", "Hello", None, None)],
                             tools=[])
    with admin_connect(name) as conn:
        conn.execute("UPDATE public.conversation_turns SET tool_calls = 'null' WHERE conversation_id = %s", (plain,))
        conn.execute("UPDATE public.conversations SET tools = '[]' WHERE id = %s", (plain,))
    for target in ("anthropic", "openai", "sharegpt"):
        [line] = export(name, {"plain": plain}, ["plain"], target=target)
        assert "tool" not in line


def test_json_keeps_tool_use_verbatim_and_csv_markdown_show_each_call(db):
    name, ids = db
    document = json.loads("\n".join(export(name, ids, ["weather"], format="json")))
    conversation = document["conversations"][0]
    assert conversation["tools"] == TOOLS
    assert conversation["turns"][1]["tool_calls"] == WEATHER[1][2]
    assert conversation["turns"][2]["tool_call_id"] == "call_1"
    records = list(csv.DictReader(io.StringIO("\n".join(export(name, ids, ["weather"], format="csv", bom=False)))))
    assert [r["role"] for r in records] == ["user", "assistant", "tool_call call_1", "tool_call call_2",
                                            "tool call_1", "tool call_2", "assistant"]
    assert records[2]["content"] == 'get_weather {"city":"Paris"}'
    markdown = "\n".join(export(name, ids, ["weather"], format="markdown"))
    assert "**Tool call (call\\_2):** get\\_weather" in markdown or "**Tool call (call_2):** get_weather" in markdown
    assert "**Tool result (call_1):**" in markdown or "**Tool result (call\\_1):**" in markdown
