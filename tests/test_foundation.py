"""The foundation: audited, RLS-safe, byte-exact JSONL through every way users call it."""
import json
import subprocess
import sys

import psycopg
import pytest

from support import (ALICE, BOB, CAROL, REPO, admin_connect, create_database, fetch_rows, psql_export,
                      rows_to_file, rpc_export)

sys.path.insert(0, str(REPO / "scripts"))
from check_openai_jsonl import problems  # noqa: E402


def stored_turns(dbname, user_id=None):
    """conversation_id -> [(role, content)] straight from the tables."""
    where = "WHERE c.user_id = %s" if user_id else ""
    rows = fetch_rows(
        dbname,
        f"""SELECT c.conversation_id, t.role, t.content FROM public.conversations c
            JOIN public.conversation_turns t ON t.conversation_id = c.id {where}
            ORDER BY c.conversation_id, t.turn_number""",
        (user_id,) if user_id else (),
    )
    turns = {}
    for conversation_id, role, content in rows:
        turns.setdefault(conversation_id, []).append((role, content))
    return turns


def audit_rows(dbname):
    return fetch_rows(
        dbname,
        "SELECT status, conversation_count, skipped_count, file_size, user_id::text, db_role, config "
        "FROM export_system.export_logs ORDER BY created_at, \"timestamp\"",
    )


@pytest.fixture
def clean_audit(sample_db):
    with admin_connect(sample_db) as conn:
        conn.execute("DELETE FROM export_system.export_logs")
    return sample_db


# --- JSONL content --------------------------------------------------------------

def test_jsonl_file_equals_stored_turns_with_tricky_content(sample_db, tmp_path):
    data = psql_export(sample_db, {"scope": "all", "include_metadata": True}, tmp_path / "all.jsonl")
    stored = stored_turns(sample_db)
    lines = data.decode("utf-8").split("\n")
    assert lines[-1] == "", "file ends with a newline"
    exported = {}
    for line in lines[:-1]:
        example = json.loads(line)
        exported[example["metadata"]["conversation_id"]] = [(m["role"], m["content"]) for m in example["messages"]]
    assert exported, "something was exported"
    for conversation_id, messages in exported.items():
        assert messages == stored[conversation_id], conversation_id
    everything = "".join(c for turns in exported.values() for _, c in turns)
    for tricky in ['"hello"', "\n\n", "\t", "C:\\Users", "👩‍👩‍👧", "中文", "مرحبا", "\u2028", "\r\n", "=SUM"]:
        assert tricky in everything, f"sample content exercises {tricky!r}"
    # Only conversations that cannot be valid examples are missing.
    for conversation_id in set(stored) - set(exported):
        turns = stored[conversation_id]
        assert not any(r == "assistant" for r, _ in turns) or any(not c.strip() for _, c in turns)


def test_jsonl_file_follows_openai_chat_rules(sample_db, tmp_path):
    data = psql_export(sample_db, {"scope": "approved"}, tmp_path / "approved.jsonl")
    assert data.count(b"\n") > 50
    assert list(problems(data)) == []
    assert b"\\u2028" in data and "\u2028".encode() not in data


def test_jsonl_metadata_follows_include_flags(sample_db):
    rows = fetch_rows(sample_db, "SELECT r FROM export_system.export_conversations("
                                 "'{\"scope\": \"all\", \"include_metadata\": true, \"include_approval_history\": true, "
                                 "\"include_parent_references\": true, \"include_timestamps\": false}') r")
    metadata = [json.loads(r[0])["metadata"] for r in rows]
    assert all({"conversation_id", "title", "tier", "quality_score", "review_history"} <= m.keys() for m in metadata)
    assert not any("created_at" in m for m in metadata)
    assert all("parent_id" in m for m in metadata) and any(m["parent_id"] for m in metadata)
    # Training JSONL is clean by default.
    bare = fetch_rows(sample_db, "SELECT r FROM export_system.export_conversations('{}') r")
    assert all(json.loads(r[0]).keys() == {"messages"} for r in bare)


def valid_example(turns):
    return any(r == "assistant" for r, _ in turns) and all(c.strip() for _, c in turns)


def test_scope_selected_exports_exactly_the_chosen(sample_db):
    stored = stored_turns(sample_db)
    chosen = fetch_rows(sample_db, "SELECT id::text, conversation_id FROM public.conversations "
                                   "WHERE status <> 'approved' ORDER BY conversation_id LIMIT 5")
    config = json.dumps({"scope": "selected", "conversation_ids": [i for i, _ in chosen], "include_metadata": True})
    rows = fetch_rows(sample_db, "SELECT r FROM export_system.export_conversations(%s::jsonb) r", (config,))
    expected = {c for _, c in chosen if valid_example(stored[c])}
    assert len(expected) >= 3
    assert {json.loads(r[0])["metadata"]["conversation_id"] for r in rows} == expected


def test_scope_approved_is_the_default(sample_db):
    stored = stored_turns(sample_db)
    approved = {r[0] for r in fetch_rows(sample_db, "SELECT conversation_id FROM public.conversations "
                                                    "WHERE status = 'approved'")}
    rows = fetch_rows(sample_db, "SELECT r FROM export_system.export_conversations('{\"include_metadata\": true}') r")
    assert {json.loads(r[0])["metadata"]["conversation_id"] for r in rows} == \
        {c for c in approved if valid_example(stored[c])}


# --- files on disk -------------------------------------------------------------

def test_psql_file_is_byte_identical_to_the_rows(sample_db, tmp_path):
    data = psql_export(sample_db, {"scope": "all"}, tmp_path / "out.jsonl")
    rows = fetch_rows(sample_db, "SELECT r FROM export_system.export_conversations('{\"scope\": \"all\"}') r")
    assert data == rows_to_file(r[0] for r in rows)
    assert not data.startswith(b"\xef\xbb\xbf")


def test_copy_in_text_format_corrupts_json(sample_db, tmp_path):
    """Why the README says psql -A, not COPY ... TO in text format."""
    exact = psql_export(sample_db, {"scope": "all"}, tmp_path / "exact.jsonl")
    copied = subprocess.run(
        ["psql", "-X", "-d", sample_db, "-c",
         "COPY (SELECT export_system.export_conversations('{\"scope\": \"all\"}')) TO STDOUT"],
        check=True, capture_output=True,
    ).stdout
    assert copied != exact
    changed = [(a, b) for a, b in zip(exact.split(b"\n"), copied.split(b"\n")) if a != b]
    assert changed and all(b"\\\\" in b for _, b in changed), "COPY doubled the backslashes"


# --- audit -----------------------------------------------------------------------

def test_rollback_leaves_no_audit_row(clean_audit, postgrest):
    rpc_export(postgrest, {"format": "jsonl"}, sub=ALICE, rollback=True)
    assert audit_rows(clean_audit) == []


def test_commit_leaves_one_row_matching_the_file(clean_audit, postgrest, tmp_path):
    rows = rpc_export(postgrest, {"format": "jsonl"}, sub=ALICE)
    [(status, count, skipped, size, user_id, db_role, config)] = audit_rows(clean_audit)
    assert status == "completed"
    assert count == len(rows)
    assert size == len(rows_to_file(rows))
    assert user_id == ALICE and db_role == "authenticated"
    assert config["format"] == "jsonl" and config["scope"] == "approved" and config["include_metadata"] is False


def test_psql_export_is_audited_with_the_file_size(clean_audit, tmp_path):
    data = psql_export(clean_audit, {"scope": "all"}, tmp_path / "f.jsonl")
    [(status, count, skipped, size, user_id, db_role, _)] = audit_rows(clean_audit)
    assert (status, count, size, user_id, db_role) == ("completed", data.count(b"\n"), len(data), None, "postgres")
    assert skipped > 0


def test_an_error_leaves_no_audit_row(clean_audit):
    with admin_connect(clean_audit) as conn:
        with pytest.raises(psycopg.errors.DataException):
            # strict: the first invalid conversation aborts the export mid-stream.
            conn.execute("SELECT export_system.export_conversations('{\"scope\": \"all\", \"strict\": true}')")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT export_system.export_conversations('{\"format\": 1}')")
    assert audit_rows(clean_audit) == []


def test_stopping_early_records_what_was_delivered(clean_audit):
    with admin_connect(clean_audit) as conn:
        rows = conn.execute("SELECT export_system.export_conversations('{}') LIMIT 3").fetchall()
        with conn.transaction():
            cur = conn.cursor(name="partial")
            cur.execute("SELECT export_system.export_conversations('{\"scope\": \"all\"}')")
            fetched = cur.fetchmany(5)
            cur.close()
    audits = audit_rows(clean_audit)
    assert [a[0] for a in audits] == ["cancelled", "cancelled"]
    assert audits[0][3] == len(rows_to_file(r[0] for r in rows))
    assert audits[1][3] >= len(rows_to_file(r[0] for r in fetched))


def test_users_cannot_write_audit_rows(postgrest):
    for sql in [
        "INSERT INTO export_system.export_logs (user_id, format, config, status) "
        f"VALUES ('{ALICE}', 'jsonl', '{{}}', 'completed')",
        "UPDATE export_system.export_logs SET file_size = 0",
        "DELETE FROM export_system.export_logs",
        "TRUNCATE export_system.export_logs",
    ]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            postgrest.call(sql, sub=ALICE)


# --- Row Level Security, as PostgREST calls it ---------------------------------

def exported_ids(rows):
    return {json.loads(r)["metadata"]["conversation_id"] for r in rows}


def owned_ids(dbname, user_id):
    return {r[0] for r in fetch_rows(dbname, "SELECT conversation_id FROM public.conversations "
                                             "WHERE user_id = %s", (user_id,))}


def test_each_user_exports_only_their_own(sample_db, postgrest):
    alice = exported_ids(rpc_export(postgrest, {"scope": "all", "include_metadata": True}, sub=ALICE))
    bob = exported_ids(rpc_export(postgrest, {"scope": "all", "include_metadata": True}, sub=BOB))
    assert alice and bob and not alice & bob
    assert alice <= owned_ids(sample_db, ALICE)
    assert bob <= owned_ids(sample_db, BOB)


def test_selecting_another_users_conversation_exports_nothing(sample_db, postgrest):
    [(bobs_id,)] = fetch_rows(sample_db, "SELECT id::text FROM public.conversations "
                                         "WHERE user_id = %s ORDER BY conversation_id LIMIT 1", (BOB,))
    assert rpc_export(postgrest, {"scope": "selected", "conversation_ids": [bobs_id]}, sub=ALICE) == []


def test_users_see_only_their_own_audit_rows(sample_db, postgrest):
    rpc_export(postgrest, {}, sub=ALICE)
    rpc_export(postgrest, {}, sub=BOB)
    seen = postgrest.call("SELECT DISTINCT user_id::text FROM export_system.export_logs", sub=ALICE)
    assert seen == [(ALICE,)]


def test_anon_is_refused(postgrest):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        rpc_export(postgrest, {}, role="anon")


def test_no_identity_sees_nothing(postgrest):
    assert rpc_export(postgrest, {"scope": "all"}, sub=None) == []


def test_service_role_sees_everyone(sample_db, postgrest):
    rows = rpc_export(postgrest, {"scope": "all", "include_metadata": True}, role="service_role", max_rows=10000)
    everyone = owned_ids(sample_db, ALICE) | owned_ids(sample_db, BOB) | owned_ids(sample_db, CAROL)
    assert len(exported_ids(rows)) > len(owned_ids(sample_db, ALICE))
    assert exported_ids(rows) <= everyone


def test_execute_is_never_granted_to_anon_or_public(sample_db):
    rows = fetch_rows(sample_db, """
        SELECT p.proname, has_function_privilege('anon', p.oid, 'EXECUTE'),
               has_function_privilege('authenticated', p.oid, 'EXECUTE'),
               p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a
                                           WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute
        FROM pg_proc p WHERE p.pronamespace = 'export_system'::regnamespace""")
    assert rows
    # Maintenance for pg_cron, and export_query, which takes SQL text.
    owner_only = {"cleanup_expired", "run_queued_exports", "export_query", "set_source"}
    for name, anon, authenticated, public in rows:
        assert not anon and not public, name
        assert authenticated == (name not in owner_only), name


# --- bad input --------------------------------------------------------------------

BAD_CONFIGS = [
    ('"jsonl"', "export config must be a JSON object"),
    ('[]', "export config must be a JSON object"),
    ('{"fromat": "csv"}', '"fromat"'),
    ('{"format": "xml"}', '"format"'),
    ('{"format": 3}', '"format"'),
    ('{"scope": "everything"}', '"scope"'),
    ('{"include_metadata": "yes"}', '"include_metadata"'),
    ('{"limit": 0}', '"limit"'),
    ('{"scope": "selected", "conversation_ids": ["not-a-uuid"]}', '"conversation_ids"'),
    ('{"scope": "selected"}', '"conversation_ids"'),
    ('{"filters": {"tier": ["gold"]}}', '"filters.tier"'),
    ('{"filters": {"created_from": "yesterday"}}', '"filters.created_from"'),
    ('{"sort": {"by": "content; DROP TABLE x"}}', '"sort.by"'),
]


@pytest.mark.parametrize("config,named", BAD_CONFIGS)
def test_bad_config_is_22023_naming_the_key(postgrest, config, named):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        postgrest.call("SELECT export_system.export_conversations(%s::jsonb)", (config,), sub=ALICE)
    diag = error.value.diag
    assert diag.sqlstate == "22023"
    assert named in diag.message_primary
    assert diag.message_hint


# --- installation without Supabase ---------------------------------------------

def test_works_without_a_supabase_auth_schema(tmp_path):
    dbname = create_database("t_plain_postgres", supabase_auth=False)
    fks = fetch_rows(dbname, "SELECT count(*) FROM pg_constraint WHERE conname = 'export_logs_user_id_fkey'")
    assert fks == [(0,)]
    with admin_connect(dbname) as conn:
        conn.execute("SET request.jwt.claim.sub = %s" % ("'" + BOB + "'"))
        assert conn.execute("SELECT export_system.current_user_id()::text").fetchone() == (BOB,)
    data = psql_export(dbname, {}, tmp_path / "plain.jsonl")
    assert list(problems(data)) == [] and data


def test_supabase_install_ties_audit_rows_to_auth_users(sample_db):
    fks = fetch_rows(sample_db, "SELECT confrelid::regclass::text FROM pg_constraint "
                                "WHERE conname = 'export_logs_user_id_fkey'")
    assert fks == [("auth.users",)]
