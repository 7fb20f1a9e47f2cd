"""Every user-facing error, table-driven: its SQLSTATE, message and hint,
compared with tests/golden/errors.txt, so a review shows every wording
change. `UPDATE_GOLDEN=1 make test` rewrites the file after a deliberate
change (then read the diff).
"""
import json
import os
import re
from pathlib import Path

import psycopg
import pytest

from support import ALICE, admin_connect, create_database

GOLDEN = Path(__file__).resolve().parent / "golden" / "errors.txt"
MISSING = "00000000-0000-4000-8000-0000000000ff"

# (case, role, sub, SQL): role None is an operator (the owner, no JWT).
CASES = [
    ("config is not an object", "authenticated", ALICE, "SELECT export_system.export_conversations('[]')"),
    ("unknown key", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"fromat\": \"csv\"}')"),
    ("key twice", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"include_metadata\": true, \"includeMetadata\": false}')"),
    ("bad format", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"format\": \"xml\"}')"),
    ("format not a string", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"format\": 3}')"),
    ("bad boolean", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"include_metadata\": \"yes\"}')"),
    ("bad limit", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"limit\": 0}')"),
    ("selected without ids", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"scope\": \"selected\"}')"),
    ("bad id", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"scope\": \"selected\", \"conversation_ids\": [\"x\"]}')"),
    ("ids without selected", "authenticated", ALICE,
     f"SELECT export_system.export_conversations('{{\"conversation_ids\": [\"{MISSING}\"]}}')"),
    ("bad tier", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"filters\": {\"tier\": [\"gold\"]}}')"),
    ("bad date", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"filters\": {\"created_from\": \"yesterday\"}}')"),
    ("quality out of range", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"filters\": {\"quality_min\": 11}}')"),
    ("quality min above max", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"filters\": {\"quality_min\": 8, \"quality_max\": 2}}')"),
    ("bad sort column", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"sort\": {\"by\": \"content\"}}')"),
    ("number serde cannot hold", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"limit\": 1e400}')"),
    ("strict invalid example", None, None,
     "SELECT export_system.export_conversations('{\"scope\": \"all\", \"strict\": true, \"target\": \"anthropic\"}')"),
    ("bad tokenizer", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"tokenizer\": \"gpt2\"}')"),
    ("max_tokens not positive", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"max_tokens\": 0}')"),
    ("max_tokens not an integer", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"max_tokens\": \"4k\"}')"),
    ("dedupe not a boolean", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"dedupe\": \"yes\"}')"),
    ("redact not a list", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"redact\": \"yes\"}')"),
    ("redact unknown entity", "authenticated", ALICE,
     "SELECT export_system.export_conversations('{\"redact\": [\"email_address\", \"ssn\"]}')"),
    ("bad redaction", "authenticated", ALICE, "SELECT export_system.export_conversations('{\"redaction\": \"mask\"}')"),
    ("preference bad redact", "authenticated", ALICE,
     "SELECT export_system.set_export_preferences('{\"redact\": [\"passport\"]}')"),
    ("preference bad tokenizer", "authenticated", ALICE,
     "SELECT export_system.set_export_preferences('{\"tokenizer\": \"p50k_base\"}')"),
    ("preference bad max_tokens", "authenticated", ALICE,
     "SELECT export_system.set_export_preferences('{\"max_tokens\": -5}')"),
    ("report bad config", "authenticated", ALICE, "SELECT export_system.training_report('{\"dedupe\": 1}')"),
    ("strict over max_tokens", None, None,
     "SELECT export_system.export_conversations('{\"scope\": \"all\", \"strict\": true, \"max_tokens\": 5}')"),
    ("download without id", "authenticated", ALICE, "SELECT export_system.download_export(NULL)"),
    ("download from part 0", "authenticated", ALICE, f"SELECT export_system.download_export('{MISSING}', 0)"),
    ("download part count 0", "authenticated", ALICE, f"SELECT export_system.download_export('{MISSING}', 1, 0)"),
    ("download unknown export", "authenticated", ALICE, f"SELECT export_system.download_export('{MISSING}')"),
    ("retry unknown export", "authenticated", ALICE, f"SELECT export_system.retry_export('{MISSING}')"),
    ("preferences without identity", None, None, "SELECT export_system.set_export_preferences('{\"format\": \"csv\"}')"),
    ("preference not allowed", "authenticated", ALICE,
     "SELECT export_system.set_export_preferences('{\"scope\": \"all\"}')"),
    ("export_query from the API", "authenticated", ALICE, "SELECT export_system.export_query('SELECT 1')"),
    ("export_query with a write", None, None,
     "SELECT export_system.export_query('DELETE FROM export_system.export_preferences RETURNING 1')"),
    ("history unknown key", "authenticated", ALICE, "SELECT export_system.export_history('{\"pages\": 2}')"),
    ("history bad limit", "authenticated", ALICE, "SELECT export_system.export_history('{\"limit\": 500}')"),
    ("history bad status", "authenticated", ALICE, "SELECT export_system.export_history('{\"status\": \"done\"}')"),
    ("metrics window", "authenticated", ALICE, "SELECT export_system.export_metrics('-1 day')"),
]

# Values that differ from run to run.
VOLATILE = [(re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<time>"),
            (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>")]


def normalized(text):
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def error_of(dbname, role, sub, sql):
    with psycopg.connect(dbname=dbname, user="postgres" if role is None else "authenticator") as conn:
        if role is not None:
            conn.execute("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                         (role, json.dumps({"role": role, "sub": sub})))
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(sql).fetchall()
    diag = caught.value.diag
    return diag.sqlstate, normalized(diag.message_primary or ""), normalized(diag.message_hint or "")


@pytest.fixture(scope="module")
def db():
    return create_database("t_errors")


def test_every_error_matches_the_golden_file(db):
    lines = []
    for case, role, sub, sql in CASES:
        state, message, hint = error_of(db, role, sub, sql)
        assert state != "XX000", (case, message)
        lines.append(f"{case} | {state} | {message} | {hint}")
    text = "\n".join(lines) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_every_case_has_a_hint_but_the_plain_sql_ones(db):
    golden = [line.split(" | ") for line in GOLDEN.read_text().splitlines()]
    assert len(golden) == len(CASES)
    # Postgres's own errors: a function not granted, a read-only transaction.
    plain = {"export_query from the API", "export_query with a write"}
    assert [row[0] for row in golden if not row[3] and row[0] not in plain] == []
