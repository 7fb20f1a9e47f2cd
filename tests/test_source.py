"""The registered source: the application's own tables, in either shape,
under the application's own RLS; registration refusals; the extension never
owning (or deleting) user data; the update from 0.1.0 (through 0.2.0) to this version.
"""
import json
import re
import subprocess
import tomllib

import psycopg
import pytest

from support import (ALICE, BOB, REPO, Session, admin_connect, create_database, fetch_rows, psql_export,
                     rpc, rpc_export)

VERSION = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]

FORMATS = [{"format": "jsonl"}, {"format": "jsonl", "target": "sharegpt"}, {"format": "json"},
           {"format": "json", "pretty": False}, {"format": "csv"}, {"format": "markdown"}]

# A second, differently shaped application: one table, messages embedded as
# jsonb, every column named differently.
EMBEDDED_APP = """
CREATE SCHEMA chat;
CREATE TABLE chat.threads (
    thread_key uuid PRIMARY KEY, label text NOT NULL, owner uuid NOT NULL, subject varchar(200),
    labels varchar[] NOT NULL DEFAULT '{}', state text NOT NULL, score numeric(4,2), score_detail jsonb,
    who text, mood text, about text, level text NOT NULL, turns_total smallint, tokens bigint,
    derived_from uuid, derived_kind text, reviews jsonb, opened timestamp, changed timestamptz,
    messages jsonb NOT NULL);
ALTER TABLE chat.threads ENABLE ROW LEVEL SECURITY;
CREATE POLICY threads_owner ON chat.threads USING (owner = (SELECT auth.uid()));
GRANT USAGE ON SCHEMA chat TO authenticated, service_role;
GRANT SELECT ON chat.threads TO authenticated, service_role;
INSERT INTO chat.threads
SELECT c.id, c.conversation_id, c.user_id, c.title, c.category, c.status, c.quality_score, c.quality_metrics,
       c.persona, c.emotion, c.topic, c.tier, c.total_turns, c.token_count, c.parent_id, c.parent_type,
       c.review_history, c.created_at AT TIME ZONE 'UTC', c.updated_at,
       COALESCE((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'role', t.role, 'content', t.content, 'token_count', t.token_count)) ORDER BY t.turn_number)
                 FROM public.conversation_turns t WHERE t.conversation_id = c.id), '[]')
FROM public.conversations c;
"""
EMBEDDED_COLUMNS = {"conversations": {
    "id": "thread_key", "conversation_id": "label", "title": "subject", "category": "labels", "status": "state",
    "quality_score": "score", "quality_metrics": "score_detail", "persona": "who", "emotion": "mood",
    "topic": "about", "tier": "level", "total_turns": "turns_total", "token_count": "tokens",
    "parent_id": "derived_from", "parent_type": "derived_kind", "review_history": "reviews",
    "created_at": "opened", "updated_at": "changed", "messages": "messages"}}


def set_source(conn, conversations, turns=None, columns=None, allow_without_rls=False):
    return conn.execute("SELECT export_system.set_source(%s, %s, %s, %s)",
                        (conversations, turns, json.dumps(columns or {}), allow_without_rls)).fetchone()[0]


def normalized(conn):
    return set_source(conn, "public.conversations", "public.conversation_turns")


def embedded(conn):
    return set_source(conn, "chat.threads", None, EMBEDDED_COLUMNS)


@pytest.fixture(scope="module")
def db():
    name = create_database("t_source")
    with admin_connect(name) as conn:
        conn.execute(EMBEDDED_APP)
    return name


def without_export_date(rows):
    return [re.sub(r'"export_date": ?"[^"]*"', '"export_date":""', row) for row in rows]


@pytest.mark.parametrize("config", FORMATS, ids=[json.dumps(c) for c in FORMATS])
def test_both_shapes_export_the_same_bytes(db, config):
    config = dict(config, scope="all", include_approval_history=True, include_parent_references=True)
    files = []
    for register in (normalized, embedded):
        with admin_connect(db) as conn:
            register(conn)
        files.append(without_export_date(rpc_export(Session(db), config, sub=ALICE)))
    with admin_connect(db) as conn:
        normalized(conn)
    assert files[0] and files[0] == files[1]


def test_every_filter_works_on_the_embedded_source(db):
    with admin_connect(db) as conn:
        embedded(conn)
    try:
        config = {"scope": "all", "filters": {"tier": ["template"], "category": ["finance"], "search": "turn 2",
                                               "quality_min": 5, "created_from": "2025-10-02"},
                  "sort": {"by": "title", "direction": "desc"}, "limit": 5}
        rows = rpc_export(Session(db), config, sub=ALICE)
        expected = fetch_rows(db, """
            SELECT count(*) FROM public.conversations c WHERE user_id = %s AND tier = 'template'
              AND category && '{finance}' AND quality_score >= 5 AND created_at >= '2025-10-02'
              AND EXISTS (SELECT FROM public.conversation_turns t WHERE t.conversation_id = c.id
                          AND strpos(lower(t.content), 'turn 2') > 0)""", (ALICE,))[0][0]
        assert len(rows) == min(5, expected) > 0
        counts = rpc(Session(db), "scope_counts", {"config": "jsonb"}, {"config": config}, sub=ALICE)
        assert counts["filtered"] == min(5, expected)
    finally:
        with admin_connect(db) as conn:
            normalized(conn)


@pytest.mark.parametrize("register", [normalized, embedded])
def test_the_applications_rls_decides_per_tenant(db, register):
    with admin_connect(db) as conn:
        register(conn)
    try:
        api = Session(db)
        owners = {}
        for user in (ALICE, BOB):
            rows = rpc_export(api, {"scope": "all", "format": "csv", "bom": False}, sub=user)
            owners[user] = {line.split(",")[0] for line in rows[1:]}
        assert owners[ALICE] and owners[BOB] and not owners[ALICE] & owners[BOB]
        ids = {user: {r[0] for r in fetch_rows(db, "SELECT conversation_id FROM public.conversations "
                                                   "WHERE user_id = %s", (user,))} for user in (ALICE, BOB)}
        assert owners[ALICE] <= ids[ALICE] and owners[BOB] <= ids[BOB]
        everyone = rpc_export(api, {"scope": "all", "format": "csv", "bom": False}, role="service_role")
        assert {line.split(",")[0] for line in everyone[1:]} >= owners[ALICE] | owners[BOB]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rpc_export(api, {}, role="anon")
    finally:
        with admin_connect(db) as conn:
            normalized(conn)


def test_a_missing_field_is_absent_and_a_filter_needing_it_is_22023(db):
    with admin_connect(db) as conn:
        conn.execute("CREATE TABLE public.minimal (id uuid PRIMARY KEY, messages jsonb NOT NULL, owner uuid)")
        conn.execute("ALTER TABLE public.minimal ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY minimal_owner ON public.minimal USING (owner = (SELECT auth.uid()))")
        conn.execute("GRANT SELECT ON public.minimal TO authenticated")
        conn.execute("INSERT INTO public.minimal VALUES ('00000000-0000-4000-8000-00000000aaaa', "
                     "'[{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"A\"}]', %s)",
                     (ALICE,))
        registration = set_source(conn, "public.minimal")
    try:
        assert registration["shape"] == "embedded"
        assert registration["conversations"]["columns"] == {"id": "id", "messages": "messages"}
        rows = rpc_export(Session(db), {"scope": "all", "include_metadata": False}, sub=ALICE)
        assert rows == ['{"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}']
        for config, named in [({"filters": {"tier": ["template"]}, "scope": "all"}, '"tier" column'),
                              ({}, '"status" column'),
                              ({"scope": "all", "sort": {"by": "title"}}, '"title" column')]:
            with pytest.raises(psycopg.errors.InvalidParameterValue, match=named):
                rpc_export(Session(db), config, sub=ALICE)
    finally:
        with admin_connect(db) as conn:
            normalized(conn)


REFUSALS = [
    ("missing relation", "SELECT export_system.set_source('public.nope')", "42P01", "nope"),
    ("missing mapped column", "SELECT export_system.set_source('public.conversations', 'public.conversation_turns', "
                              "'{\"conversations\": {\"title\": \"subject\"}}')", "42703", '"subject"'),
    ("mistyped column", "SELECT export_system.set_source('public.conversations', 'public.conversation_turns', "
                        "'{\"conversations\": {\"created_at\": \"title\"}}')", "42804", 'type text'),
    ("unknown field", "SELECT export_system.set_source('public.conversations', 'public.conversation_turns', "
                      "'{\"conversations\": {\"colour\": \"title\"}}')", "22023", '"conversations.colour"'),
    ("embedded without messages", "SELECT export_system.set_source('public.conversations')", "42703", '"messages"'),
    ("view without security_invoker", "SELECT export_system.set_source('public.plain_view', 'public.conversation_turns')",
     "42501", "security_invoker"),
    ("table without RLS", "SELECT export_system.set_source('public.no_rls', 'public.conversation_turns')",
     "42501", "Row Level Security"),
]


@pytest.fixture(scope="module")
def refusal_relations(db):
    with admin_connect(db) as conn:
        conn.execute("CREATE VIEW public.plain_view AS SELECT * FROM public.conversations")
        conn.execute("CREATE VIEW public.invoker_view WITH (security_invoker = true) AS "
                     "SELECT * FROM public.conversations")
        conn.execute("CREATE TABLE public.no_rls AS SELECT * FROM public.conversations")
        conn.execute("GRANT SELECT ON public.invoker_view, public.no_rls TO authenticated")
    return db


@pytest.mark.parametrize("case,sql,state,named", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_registration_refusals(refusal_relations, case, sql, state, named):
    with admin_connect(refusal_relations) as conn:
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(sql)
    assert raised.value.sqlstate == state, raised.value
    assert named in raised.value.diag.message_primary
    if state != "42P01":
        assert raised.value.diag.message_hint
    assert fetch_rows(refusal_relations, "SELECT export_system.get_source() -> 'conversations' ->> 'relation'") == \
        [("public.conversations",)]


def test_a_security_invoker_view_is_accepted_and_opting_out_is_audited(refusal_relations):
    db = refusal_relations
    with admin_connect(db) as conn:
        assert set_source(conn, "public.invoker_view", "public.conversation_turns")["shape"] == "normalized"
        assert set_source(conn, "public.no_rls", "public.conversation_turns",
                          allow_without_rls=True)["allow_without_rls"] is True
    try:
        rpc_export(Session(db), {"limit": 1}, sub=ALICE)
        config = fetch_rows(db, "SELECT config FROM export_system.export_logs ORDER BY \"timestamp\" DESC, "
                                "created_at DESC LIMIT 1")[0][0]
        assert config["source_allow_without_rls"] is True
    finally:
        with admin_connect(db) as conn:
            normalized(conn)


def test_only_the_owner_registers(db):
    api = Session(db)
    for role in ("authenticated", "service_role"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api.call("SELECT export_system.set_source('public.conversations', 'public.conversation_turns')",
                     sub=ALICE, role=role)
    with admin_connect(db) as conn:
        conn.execute("DROP ROLE IF EXISTS app_developer")
        conn.execute("CREATE ROLE app_developer")
        conn.execute("GRANT EXECUTE ON FUNCTION export_system.set_source(regclass, regclass, jsonb, boolean) "
                     "TO app_developer")
        conn.execute("GRANT USAGE ON SCHEMA export_system TO app_developer")
        conn.execute("SET ROLE app_developer")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="owner or a superuser"):
            conn.execute("SELECT export_system.set_source('public.conversations', 'public.conversation_turns')")


def test_drop_extension_keeps_application_data():
    name = create_database("t_source_drop")
    before = fetch_rows(name, "SELECT count(*), (SELECT count(*) FROM public.conversation_turns) "
                              "FROM public.conversations")
    with admin_connect(name) as conn:
        conn.execute("DROP EXTENSION export_system")  # no CASCADE
    assert fetch_rows(name, "SELECT count(*), (SELECT count(*) FROM public.conversation_turns) "
                            "FROM public.conversations") == before
    assert before[0][0] == 240


def test_update_from_0_1_0_keeps_data_and_bytes(tmp_path):
    fresh = create_database("t_source_fresh")
    name = "t_source_upgrade"
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'ALTER DATABASE "{name}" SET export_system.rate_limit = 0')
    env_db = {"PGDATABASE": name}
    subprocess.run(["bash", "-c", f'source "{REPO}/scripts/common.sh" && create_supabase_auth_schema "{name}"'],
                   check=True, env=dict(__import__("os").environ, **env_db))
    with admin_connect(name) as conn:
        conn.execute("CREATE EXTENSION export_system VERSION '0.1.0'")
    # 0.1.0's data lived in the extension's own tables.
    sample = (REPO / "sql/sample_data.sql").read_text().replace("public.conversation", "export_system.conversation")
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", name], input=sample, text=True, check=True,
                   stdout=subprocess.DEVNULL)
    with admin_connect(name) as conn:
        conn.execute("ALTER EXTENSION export_system UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'export_system'").fetchone() == \
            (VERSION,)
        source = conn.execute("SELECT export_system.get_source()").fetchone()[0]
        report = conn.execute("SELECT export_system.training_report('{\"scope\": \"all\"}')").fetchone()[0]
        granted = conn.execute("SELECT has_function_privilege('authenticated', "
                               "'export_system.training_report(jsonb)', 'EXECUTE')").fetchone()[0]
    assert source["conversations"]["relation"] == "export_system.conversations"
    # New in 0.2.0, created and granted by the update too.
    assert report["examples"] > 0 and granted
    for config in FORMATS:
        config = dict(config, scope="all")
        updated = without_export_date(rpc_export(Session(name), config, sub=ALICE))
        new = without_export_date(rpc_export(Session(fresh), config, sub=ALICE))
        assert updated and updated == new, config
    # The tables are the application's now: DROP EXTENSION leaves them, rows and all.
    with admin_connect(name) as conn:
        conn.execute("DROP EXTENSION export_system")
        assert conn.execute("SELECT count(*) FROM export_system.conversations").fetchone() == (240,)
        assert conn.execute("SELECT count(*) > 0 FROM export_system.conversation_turns").fetchone() == (True,)


def test_renamed_turn_columns_give_the_same_bytes(db):
    with admin_connect(db) as conn:
        conn.execute("DROP TABLE IF EXISTS public.utterances")
        conn.execute("CREATE TABLE public.utterances AS SELECT conversation_id AS thread, turn_number AS seq, "
                     "role AS speaker, content AS body, token_count AS tokens FROM public.conversation_turns")
        conn.execute("ALTER TABLE public.utterances ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY utterances_follow ON public.utterances USING "
                     "(EXISTS (SELECT FROM public.conversations c WHERE c.id = utterances.thread))")
        conn.execute("GRANT SELECT ON public.utterances TO authenticated")
    config = {"scope": "all", "format": "json", "pretty": False}
    expected = without_export_date(rpc_export(Session(db), config, sub=ALICE))
    with admin_connect(db) as conn:
        set_source(conn, "public.conversations", "public.utterances", {"turns": {
            "conversation_id": "thread", "turn_number": "seq", "role": "speaker", "content": "body",
            "token_count": "tokens"}})
    try:
        assert without_export_date(rpc_export(Session(db), config, sub=ALICE)) == expected
    finally:
        with admin_connect(db) as conn:
            normalized(conn)
