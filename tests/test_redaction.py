"""Personal data redacted at export (issue 29): every text that leaves, in
every format and target, previews, jobs and the training report; placeholders
and per-export pseudonyms; counts per entity (never values) in the audit row
and the report; the owner's minimum, which API callers cannot lower; token
counts and duplicates computed on the redacted text; clear errors.
"""
import csv
import io
import json
import time

import psycopg
import pytest

from support import ALICE, Session, admin_connect, create_database, fetch_rows, rpc, rpc_export
from support.conversations import add_conversation
from support.reference_tokens import example_tokens

EMAIL = "john.doe@example.com"
TITLE_EMAIL = "jane.roe@example.org"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
IPV4 = "192.168.1.10"
IPV6 = "2001:db8::8a2e:370:7334"
SECRET = "sk-proj-abcdEFGH1234ijklMNOP5678qrstUVWX90yz"
TOOL_RESULT_IP = "10.0.0.7"
PLANTED = [EMAIL, TITLE_EMAIL, PHONE, CARD, IBAN, IPV4, IPV6, SECRET, TOOL_RESULT_IP]
ALL_ENTITIES = ["email_address", "phone_number", "credit_card", "iban_code", "ip_address", "secret"]

USER_TEXT = (f"My email is {EMAIL}, phone {PHONE}, card {CARD}, IBAN {IBAN}, "
             f"servers {IPV4} and {IPV6}, key {SECRET}.")
TURNS = [
    ("user", USER_TEXT, None, None),
    ("assistant", "", [{"id": "call_1", "name": "notify",
                        "arguments": {"contact": EMAIL, "note": f"card {CARD}", "count": 3}}], None),
    ("tool", f"Sent from {TOOL_RESULT_IP}", None, "call_1"),
    ("assistant", f"Done: I wrote to {EMAIL} again.", None, None),
]
PLAIN_TURNS = [("user", USER_TEXT), ("assistant", f"Noted, {EMAIL}.")]


@pytest.fixture(scope="module")
def db():
    name = create_database("t_redaction")
    with admin_connect(name) as conn:
        conn.execute("DELETE FROM public.conversations")
    add_conversation(name, "pii-tools", TURNS, title=f"Follow-up for {TITLE_EMAIL}", persona=f"Caller {PHONE}")
    add_conversation(name, "pii-plain", PLAIN_TURNS, title=f"Plain {TITLE_EMAIL}")
    return name


def export(db, config):
    with admin_connect(db) as conn:
        rows = conn.execute("SELECT export_system.export_conversations(%s)", (json.dumps(config),)).fetchall()
    return "\n".join(row[0] for row in rows)


CONFIGS = [
    {"format": "jsonl", "target": "openai", "include_metadata": True},
    {"format": "jsonl", "target": "sharegpt", "include_metadata": True},
    {"format": "jsonl", "target": "anthropic"},
    {"format": "json"},
    {"format": "csv", "bom": False},
    {"format": "markdown"},
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c['format']}-{c.get('target', '')}")
def test_no_planted_value_leaves_in_any_format_or_target(db, config):
    plain = export(db, {"scope": "all", **config})
    assert EMAIL in plain or config.get("target") == "anthropic"
    redacted = export(db, {"scope": "all", "redact": True, **config})
    for value in PLANTED:
        assert value not in redacted, value
        # Markdown escapes punctuation: the value must not survive escaped either.
        assert value.replace(".", "\\.") not in redacted, value
    assert "<EMAIL_ADDRESS>" in redacted.replace("\\<", "<").replace("\\>", ">").replace("&lt;", "<")


def test_tool_call_arguments_stay_valid_json_with_their_strings_redacted(db):
    lines = export(db, {"scope": "all", "redact": True, "include_metadata": True}).splitlines()
    example = next(json.loads(line) for line in lines if json.loads(line)["metadata"]["conversation_id"] == "pii-tools")
    call = next(m for m in example["messages"] if m.get("tool_calls"))["tool_calls"][0]
    arguments = json.loads(call["function"]["arguments"])
    assert arguments == {"contact": "<EMAIL_ADDRESS>", "note": "card <CREDIT_CARD>", "count": 3}
    tool = next(m for m in example["messages"] if m["role"] == "tool")
    assert tool["content"] == "Sent from <IP_ADDRESS>"
    user = example["messages"][0]["content"]
    assert user == ("My email is <EMAIL_ADDRESS>, phone <PHONE_NUMBER>, card <CREDIT_CARD>, IBAN <IBAN_CODE>, "
                    "servers <IP_ADDRESS> and <IP_ADDRESS>, key <SECRET>.")
    assert example["metadata"]["title"] == "Follow-up for <EMAIL_ADDRESS>"


def test_pseudonyms_name_one_value_alike_throughout_one_export(db):
    lines = export(db, {"scope": "all", "redact": ["email_address"], "redaction": "pseudonym",
                        "include_metadata": True}).splitlines()
    examples = {json.loads(line)["metadata"]["conversation_id"]: json.loads(line) for line in lines}
    tools = examples["pii-tools"]
    plain = examples["pii-plain"]
    john = tools["messages"][0]["content"].split("My email is ")[1].split(",")[0]
    jane = tools["metadata"]["title"].removeprefix("Follow-up for ")
    assert john.startswith("<EMAIL_ADDRESS_") and jane.startswith("<EMAIL_ADDRESS_") and john != jane
    assert tools["messages"][-1]["content"] == f"Done: I wrote to {john} again."
    assert plain["messages"][1]["content"] == f"Noted, {john}."
    assert plain["metadata"]["title"] == f"Plain {jane}"
    # Only e-mail addresses were asked for: the rest stays.
    assert PHONE in tools["messages"][0]["content"] and IBAN in tools["messages"][0]["content"]


def latest_audit(db):
    return fetch_rows(db, "SELECT config, redactions, error_message FROM export_system.export_logs "
                          "ORDER BY timestamp DESC LIMIT 1")[0]


def test_the_audit_row_and_the_report_count_per_entity_never_values(db):
    export(db, {"scope": "all", "redact": True})
    config, redactions, error = latest_audit(db)
    # Two e-mails per conversation in its turns, plus the titles; the tool call's arguments hold one more.
    # Read for JSONL without metadata: titles yes, persona no (its phone is not read, so not counted).
    assert redactions == {"email_address": 7, "phone_number": 2, "credit_card": 3, "iban_code": 2,
                          "ip_address": 5, "secret": 2}
    assert config["redact"] == ALL_ENTITIES and config["redaction"] == "placeholder"
    row_text = json.dumps([config, redactions, error])
    assert not any(value in row_text for value in PLANTED)
    report = fetch_rows(db, "SELECT export_system.training_report('{\"scope\": \"all\", \"redact\": true}')")[0][0]
    assert report["redactions"]["email_address"] >= 4 and set(report["redactions"]) == set(ALL_ENTITIES)
    assert not any(value in json.dumps(report) for value in PLANTED)
    export(db, {"scope": "all"})
    assert latest_audit(db)[1] is None


@pytest.mark.parametrize("config,key", [
    ({"redact": "yes"}, '"redact"'),
    ({"redact": ["email_address", "ssn"]}, '"redact"'),
    ({"redact": [1]}, '"redact"'),
    ({"redaction": "mask"}, '"redaction"'),
])
def test_bad_redaction_options_are_clear_errors(db, config, key):
    with admin_connect(db) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
            conn.execute("SELECT export_system.export_conversations(%s)", (json.dumps(config),)).fetchall()
    assert key in raised.value.diag.message_primary
    assert raised.value.diag.message_hint


def test_the_owners_minimum_cannot_be_lowered_by_an_api_caller(db):
    api = Session(db)
    with admin_connect(db) as conn:
        conn.execute(f'ALTER DATABASE "{db}" SET export_system.redact = \'email_address\'')
    try:
        rows = rpc_export(api, {"scope": "all", "redact": False, "include_metadata": True}, sub=ALICE)
        text = "\n".join(rows)
        assert EMAIL not in text and TITLE_EMAIL not in text and "<EMAIL_ADDRESS>" in text
        assert PHONE in text  # the minimum names e-mail addresses only
        config, redactions, _ = latest_audit(db)
        assert config["redact"] == ["email_address"] and redactions["email_address"] > 0
        # A preference adds to it, never removes it.
        rpc(api, "set_export_preferences", {"preferences": "jsonb"}, {"preferences": {"redact": ["phone_number"]}},
            sub=ALICE)
        text = "\n".join(rpc_export(api, {"scope": "all", "include_metadata": True}, sub=ALICE))
        assert EMAIL not in text and PHONE not in text
        # The setting is the owner's: an API role cannot change it.
        with psycopg.connect(dbname=db, user="authenticator") as conn:
            conn.execute("SELECT set_config('role', 'authenticated', true)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SET export_system.redact = ''")
    finally:
        rpc(api, "set_export_preferences", {"preferences": "jsonb"}, {"preferences": {}}, sub=ALICE)
        with admin_connect(db) as conn:
            conn.execute(f'ALTER DATABASE "{db}" RESET export_system.redact')


def test_an_unknown_name_in_the_owners_minimum_is_a_clear_error(db):
    with admin_connect(db) as conn:
        conn.execute("SET export_system.redact = 'email_address, passport'")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="passport"):
            conn.execute("SELECT export_system.export_conversations('{}')").fetchall()


def test_previews_and_background_jobs_redact_too(db):
    api = Session(db)
    preview = rpc(api, "preview_export", {"config": "jsonb"}, {"config": {"scope": "all", "redact": True}}, sub=ALICE)
    assert not any(value in json.dumps(preview) for value in PLANTED)
    export_id = rpc(api, "queue_export", {"config": "jsonb"}, {"config": {"scope": "all", "redact": True}}, sub=ALICE)
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = rpc(api, "export_status", {"export_id": "uuid"}, {"export_id": export_id}, sub=ALICE)
        if status["status"] in ("completed", "failed"):
            break
        time.sleep(0.5)
    assert status["status"] == "completed", status
    parts = rpc(api, "download_export", {"export_id": "uuid"}, {"export_id": export_id}, sub=ALICE)
    text = json.dumps(parts)
    assert "EMAIL_ADDRESS" in text and not any(value in text for value in PLANTED)
    assert fetch_rows(db, "SELECT redactions ->> 'email_address' FROM export_system.export_logs "
                          "WHERE export_id = %s", (export_id,))[0][0] == "7"


def test_token_counts_and_duplicates_are_those_of_the_redacted_text(db):
    add_conversation(db, "pii-twin-a", [("user", "Write to a.person@example.com please."), ("assistant", "Done.")],
                     title="twin a")
    add_conversation(db, "pii-twin-b", [("user", "Write to b.other@example.net please."), ("assistant", "Done.")],
                     title="twin b")
    config = {"scope": "filtered", "filters": {"search": "twin"}, "include_metadata": True,
              "include_token_count": True, "dedupe": True}
    assert len(export(db, config).splitlines()) == 2  # different addresses: no duplicate
    lines = export(db, {**config, "redact": ["email_address"]}).splitlines()
    assert len(lines) == 1  # the same once redacted
    example = json.loads(lines[0])
    assert example["messages"][0]["content"] == "Write to <EMAIL_ADDRESS> please."
    assert int(example["metadata"]["token_count"]) == example_tokens("o200k_base", "openai", example)


def test_csv_cells_hold_the_redacted_text(db):
    records = list(csv.DictReader(io.StringIO(export(db, {"scope": "all", "format": "csv", "bom": False,
                                                           "redact": True}))))
    contents = [record["content"] for record in records if record["conversation_id"] == "pii-tools"]
    assert contents[0].startswith("My email is <EMAIL_ADDRESS>, phone <PHONE_NUMBER>")
