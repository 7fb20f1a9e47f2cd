"""The attack suite: every attack of the security review, replayed as the
attacker would make it — through PostgREST's exact SQL where an API user
would, as a direct-SQL session where that is the threat — and shown refused
or harmless, with the server still up and nothing of another tenant seen.
"""
import csv
import html
import io
import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import cmarkgfm
import psycopg
import pytest
from markdown_it import MarkdownIt
from psycopg import sql as pgsql

from support import ALICE, BOB, CAROL, Session, admin_connect, create_database, fetch_rows, new_uuid, rpc, rpc_export

EXPORT_QUERY_ARGS = {"query": "text", "config": "jsonb"}
CONFIG_ARGS = {"config": "jsonb"}
API_ROLES = ["anon", "authenticated", "service_role"]


def server_alive():
    with admin_connect() as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


@pytest.fixture(scope="module")
def db():
    return create_database("t_security")


@pytest.fixture(scope="module")
def api(db):
    return Session(db)


def raw_postgrest_transaction(dbname, statements, sub, role="authenticated", search_path='"export_system", "public"'):
    """One PostgREST-style request made of several statements (a direct-SQL
    tenant can send any of them); returns each statement's rows."""
    claims = {"role": role, "sub": sub}
    results = []
    with psycopg.connect(dbname=dbname, user="authenticator") as conn:
        conn.execute("select set_config('search_path', %s, true), set_config('role', %s, true), "
                     "set_config('request.jwt.claims', %s, true)", (search_path, role, json.dumps(claims)))
        for sql in statements:
            cur = conn.execute(sql)
            results.append(cur.fetchall() if cur.description else [])
        conn.commit()
    return results


# --- 1. No API role reaches arbitrary SQL -----------------------------------------

ESCALATION = ("SELECT pg_catalog.set_config('role','service_role',true) AS r, "
              "pg_catalog.query_to_xml('SELECT count(*) AS n, count(DISTINCT user_id) AS owners "
              "FROM public.conversations', false, false, '') AS x")
OTHER_ATTACKS = [
    ESCALATION,
    f"SELECT pg_catalog.set_config('request.jwt.claims', '{{\"sub\":\"{BOB}\"}}', true)",
    f"SELECT pg_catalog.set_config('request.jwt.claim.sub', '{ALICE}', false)",
    "SELECT pg_catalog.set_config('role','authenticator',true), pg_catalog.pg_terminate_backend(1)",
    "SELECT pg_catalog.pg_try_advisory_lock(1163415636, 1)",
    "SELECT pg_catalog.lo_from_bytea(0, 'x')",
    "SELECT pg_catalog.pg_notify('pgrst', 'reload schema')",
]


@pytest.mark.parametrize("query", OTHER_ATTACKS)
@pytest.mark.parametrize("role", API_ROLES)
def test_api_roles_cannot_run_export_query(api, role, query):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        rpc(api, "export_query", EXPORT_QUERY_ARGS, {"query": query, "config": {"format": "jsonl"}},
            returns_set=True, sub=CAROL, role=role)
    assert server_alive()


def test_export_query_granted_by_mistake_still_refuses_api_callers(db, api):
    with admin_connect(db) as conn:
        conn.execute("GRANT EXECUTE ON FUNCTION export_system.export_query(text, jsonb) TO authenticated")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="for operators"):
            rpc(api, "export_query", EXPORT_QUERY_ARGS, {"query": ESCALATION, "config": {"format": "jsonl"}},
                returns_set=True, sub=CAROL)
    finally:
        with admin_connect(db) as conn:
            conn.execute("REVOKE EXECUTE ON FUNCTION export_system.export_query(text, jsonb) FROM authenticated")


def test_no_function_an_api_role_can_run_takes_sql_text(db):
    # Every function an API role may execute, with its argument types: none
    # takes SQL text (the only text arguments are a role name, two status
    # words and the json text of an embedded source's messages).
    rows = fetch_rows(db, """
        SELECT r.rolname, p.oid::regprocedure::text
        FROM pg_proc p CROSS JOIN pg_roles r
        WHERE p.pronamespace = 'export_system'::regnamespace
          AND r.rolname = ANY (%s) AND has_function_privilege(r.oid, p.oid, 'EXECUTE')""", (API_ROLES,))
    callable_ = {signature for _, signature in rows}
    assert "export_system.export_query(text,jsonb)" not in callable_
    assert sorted(s for s in callable_ if "text" in s) == [
        "export_system.drop_saved_export(text)", "export_system.in_queue(text,text)",
        "export_system.is_own_export(uuid,text)", "export_system.json_is_readable(text)",
        "export_system.save_export(text,jsonb)"]


def test_operators_still_export_query_results(db):
    with admin_connect(db) as conn:
        rows = conn.execute("SELECT export_system.export_query("
                            "'SELECT export_id, status FROM export_system.export_logs', '{\"bom\": false}')").fetchall()
    assert rows[0][0] == "export_id,status"


# --- 2. The extension's portal cannot be closed, replaced or read -----------------------

FORGED = ("SELECT 'forged'::text, 'FORGED-ROW'::text" + ", 'x'::text" * 20)


def test_portal_substitution_is_impossible(db):
    genuine = len(fetch_rows(db, "SELECT 1 FROM public.conversations WHERE user_id = %s", (ALICE,)))
    claims = json.dumps({"role": "authenticated", "sub": ALICE})
    with psycopg.connect(dbname=db, user="authenticator") as conn:
        conn.execute("select set_config('role', 'authenticated', true), "
                     "set_config('request.jwt.claims', %s, true)", (claims,))
        conn.execute("DECLARE o CURSOR FOR SELECT export_system.export_conversations("
                     "'{\"format\":\"csv\",\"bom\":false,\"scope\":\"all\"}')")
        header = conn.execute("FETCH 1 FROM o").fetchall()
        # Our portal is invisible: the caller sees only its own cursor.
        assert [r[0] for r in conn.execute("SELECT name FROM pg_cursors").fetchall()] == ["o"]
        for name in ["<unnamed portal 1>", "<unnamed portal 2>"]:
            conn.execute("SAVEPOINT s")
            with pytest.raises(psycopg.errors.InvalidCursorName):
                conn.execute(f'CLOSE "{name}"')
            conn.execute("ROLLBACK TO s")
            conn.execute(f'DECLARE "{name}" CURSOR FOR {FORGED}')
        rest = conn.execute("FETCH ALL FROM o").fetchall()
        conn.execute("CLOSE o")
        conn.commit()
    body = "\n".join(r[0] for r in header + rest)
    assert "FORGED-ROW" not in body
    records = list(csv.reader(io.StringIO(body)))
    assert len({record[0] for record in records[1:]}) == genuine  # one record per turn
    audit = fetch_rows(db, "SELECT conversation_count, status FROM export_system.export_logs "
                           "WHERE user_id = %s ORDER BY \"timestamp\" DESC LIMIT 1", (ALICE,))
    assert audit == [(genuine, "completed")]
    assert server_alive()


def test_close_all_cannot_drop_a_running_export(db):
    with admin_connect(db) as conn:
        with conn.transaction():
            conn.execute("DECLARE o CURSOR FOR SELECT export_system.export_conversations('{\"scope\":\"all\"}')")
            conn.execute("FETCH 1 FROM o")
            try:
                # Either our pinned portal refuses to be dropped, or o went
                # first and took the export down cleanly with it.
                conn.execute("CLOSE ALL")
            except psycopg.Error as error:
                assert "pinned portal" in str(error)
                raise psycopg.Rollback()
    assert server_alive()


# --- 3. Memory is bounded in bytes --------------------------------------------------------

LARGE_VALUE_MB = 5
LARGE_CONVERSATIONS = 20
MIB = 1 << 20
MEMORY_BOUND = 64 * MIB + 3 * LARGE_VALUE_MB * MIB


@pytest.fixture(scope="module")
def large_db():
    name = create_database("t_security_large")
    with admin_connect(name) as conn:
        conn.execute("""
            INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier)
            SELECT ('00000000-0000-4000-a000-' || lpad(g::text, 12, '0'))::uuid, 'large-' || g, %s,
                   'Large ' || g, 'approved', 'template'
            FROM generate_series(1, %s) g""", (ALICE, LARGE_CONVERSATIONS))
        conn.execute("""
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT c.id, t, CASE t WHEN 1 THEN 'user' ELSE 'assistant' END,
                   CASE t WHEN 1 THEN 'Tell me everything.' ELSE repeat('x', %s) END
            FROM public.conversations c CROSS JOIN generate_series(1, 2) t
            WHERE c.conversation_id LIKE 'large-%%'""", (LARGE_VALUE_MB * MIB,))
    return name


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def peak_backend_memory(dbname, sql):
    """Peak private memory of the backend running `sql`: RssAnon sampled
    while it runs, and its peak RSS less the shared and file pages it maps."""
    with admin_connect(dbname) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        peak, done = [0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], proc_status(pid).get("RssAnon", 0))
                time.sleep(0.001)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            done.set()
            sampler.join()
        status = proc_status(pid)
        private = status["VmHWM"] - status.get("RssShmem", 0) - status.get("RssFile", 0)
        return max(peak[0], private), rows


@pytest.mark.parametrize("sql", [
    "SELECT export_system.export_conversations('{\"scope\": \"all\"}')",
    "SELECT export_system.export_conversations('{\"scope\": \"all\", \"format\": \"json\"}')",
    "SELECT export_system.preview_export('{\"scope\": \"all\"}')",
    "SELECT export_system.export_query('SELECT content FROM public.conversation_turns')",
    "SELECT export_system.export_conversations('{\"scope\": \"all\", \"max_tokens\": 1000000000, "
    "\"dedupe\": true, \"include_token_count\": true}')",
    "SELECT export_system.preview_export('{\"scope\": \"all\", \"max_tokens\": 1000000000}')",
    "SELECT export_system.training_report('{\"scope\": \"all\"}')",
])
def test_memory_stays_bounded_by_the_largest_value(large_db, sql):
    peak, rows = peak_backend_memory(large_db, sql)
    assert len(rows) >= (1 if "training_report" in sql else 3)
    assert peak <= MEMORY_BOUND, f"peak {peak / MIB:.0f} MiB > {MEMORY_BOUND / MIB:.0f} MiB"


# --- 4. search_path: nothing the extension runs resolves a tenant's operator ------------

TRAPPED_OPERATORS = {
    ("=", "<>", "<", ">", "<=", ">="): [
        ("text", "text"), ("uuid", "uuid"), ("name", "name"), ("name", "text"), ("text", "name"),
        ("integer", "integer"), ("bigint", "bigint"), ("integer", "bigint"), ("bigint", "integer"),
        ("numeric", "numeric"), ("timestamptz", "timestamptz"), ("boolean", "boolean")],
    ("&&",): [("text[]", "text[]")],
    ("||",): [("text", "text"), ("jsonb", "jsonb")],
    ("-",): [("timestamptz", "interval"), ("integer", "integer")],
    ("+",): [("timestamptz", "interval")],
    ("->>", "->", "?"): [("jsonb", "text")],
}
TRAPPED_FUNCTIONS = ["lower(text)", "strpos(text, text)", "now()", "hashtext(text)", "octet_length(text)",
                     "to_char(timestamp, text)", "to_char(timestamptz, text)", "format(text)", "md5(text)",
                     "round(numeric)", "jsonb_typeof(jsonb)", "substr(text, integer, integer)",
                     "jsonb_array_elements(jsonb)", "unnest(text[])", "unnest(uuid[])"]
# Every operator name generated SQL could use, on every pair of the types it
# handles: an unqualified operator, or sugar that expands to one (BETWEEN,
# IN, ANY, LIKE), finds an exact match here before pg_catalog's inexact one.
SWEPT_OPERATORS = ["=", "<>", "<", ">", "<=", ">=", "&&", "||", "->", "->>", "/", "+", "-", "~~", "~~*", "@>", "?"]
SWEPT_TYPES = ["text", "integer", "bigint", "smallint", "numeric", "double precision", "real", "boolean",
               "timestamptz", "timestamp", "jsonb", "json", "uuid", "text[]"]
# Type names a cast could leave unqualified, shadowed by domains no value fits.
TRAPPED_TYPES = ["text", "jsonb", "uuid", "int4", "int8", "float8", "timestamptz", "bool"]


def create_trap_schema(dbname):
    """A schema any tenant can use, whose operators and functions shadow
    pg_catalog's when it comes first on the path; each raises 'hijacked'."""
    statements = ["DROP SCHEMA IF EXISTS evil CASCADE", "CREATE SCHEMA evil", "GRANT USAGE ON SCHEMA evil TO PUBLIC"]
    number = 0
    for operators, pairs in TRAPPED_OPERATORS.items():
        for left, right in pairs:
            number += 1
            function = f"evil.op_trap_{number}"
            statements.append(
                f"CREATE FUNCTION {function}({left}, {right}) RETURNS boolean LANGUAGE plpgsql AS "
                f"$$BEGIN RAISE EXCEPTION 'hijacked: operator on ({left}, {right})'; END$$")
            for operator in operators:
                statements.append(f"CREATE OPERATOR evil.{operator} (LEFTARG = {left}, RIGHTARG = {right}, "
                                  f"FUNCTION = {function})")
    for left in SWEPT_TYPES:
        for right in SWEPT_TYPES:
            number += 1
            function = f"evil.op_trap_{number}"
            statements.append(
                f"CREATE FUNCTION {function}({left}, {right}) RETURNS boolean LANGUAGE plpgsql AS "
                f"$$BEGIN RAISE EXCEPTION 'hijacked: operator on ({left}, {right})'; END$$")
            for operator in SWEPT_OPERATORS:
                statements.append(f"DO $$BEGIN CREATE OPERATOR evil.{operator} (LEFTARG = {left}, "
                                  f"RIGHTARG = {right}, FUNCTION = {function}); "
                                  f"EXCEPTION WHEN duplicate_function THEN NULL; END$$")
    for signature in TRAPPED_FUNCTIONS:
        returns = "SETOF text" if signature.startswith(("unnest", "jsonb_array_elements")) else "text"
        statements.append(f"CREATE FUNCTION evil.{signature} RETURNS {returns} LANGUAGE plpgsql AS "
                          f"$$BEGIN RAISE EXCEPTION 'hijacked: {signature}'; END$$")
    for name in TRAPPED_TYPES:
        statements.append(f"CREATE DOMAIN evil.{name} AS pg_catalog.int4 CHECK (false)")
    statements.append("CREATE FUNCTION evil.count_trap(bigint) RETURNS bigint LANGUAGE plpgsql AS "
                      "$$BEGIN RAISE EXCEPTION 'hijacked: count(*)'; END$$")
    statements.append("CREATE AGGREGATE evil.count(*) (SFUNC = int8inc, STYPE = bigint, INITCOND = '0', "
                      "FINALFUNC = evil.count_trap)")
    with admin_connect(dbname) as conn:
        for sql in statements:
            conn.execute(sql)


EVIL_PATH = 'evil, pg_catalog, "export_system", "public"'
EVERY_FILTER = {"scope": "all", "filters": {
    "status": ["approved"], "tier": ["template", "scenario"], "category": ["support"], "search": "a",
    "quality_min": 1, "quality_max": 10, "created_from": "2020-01-01", "created_to": "2030-01-01",
    "persona": ["p"], "emotion": ["e"], "topic": ["t"]}}


@pytest.fixture(scope="module")
def trapped_db(db):
    create_trap_schema(db)
    with admin_connect(db) as conn:
        # The application's RLS calls auth.uid(), a plain SQL function parsed
        # on the caller's path: hardened as a careful app (and Supabase's
        # linter) would, so the traps test the extension's SQL, not the app's.
        conn.execute("ALTER FUNCTION auth.uid() SET search_path = pg_catalog, pg_temp")
    with admin_connect(db) as conn:
        # The traps work: a query resolved on the evil path is hijacked.
        conn.execute(f"SET search_path = {EVIL_PATH}")
        with pytest.raises(psycopg.errors.RaiseException, match="hijacked"):
            conn.execute("SELECT lower('X')")
    return db


def api_calls():
    configs = [{}, EVERY_FILTER] + [dict(EVERY_FILTER, format=f) for f in ("json", "csv", "markdown")]
    calls = [f"SELECT export_system.export_conversations('{json.dumps(c)}')" for c in configs]
    calls += [f"SELECT export_system.{f}('{json.dumps(EVERY_FILTER)}')"
              for f in ("preview_export", "scope_counts", "export_file_info")]
    calls += ["SELECT export_system.export_history('{\"status\": \"completed\", \"from\": \"2020-01-01\"}')",
              "SELECT export_system.export_metrics('1 day')",
              "SELECT export_system.get_export_preferences()",
              "SELECT export_system.set_export_preferences('{\"format\": \"jsonl\"}')",
              "SELECT export_system.set_export_preferences('{}')",
              f"SELECT export_system.cancel_export(export_system.queue_export('{json.dumps(EVERY_FILTER)}'))"]
    return calls


@pytest.mark.parametrize("role", ["authenticated", "service_role"])
def test_api_calls_on_a_hostile_search_path(trapped_db, role):
    for sql in api_calls():
        raw_postgrest_transaction(trapped_db, [sql], sub=ALICE, role=role, search_path=EVIL_PATH)
    cancelled = fetch_rows(trapped_db, "SELECT export_id::text FROM export_system.export_logs "
                                       "WHERE status = 'cancelled' AND user_id = %s LIMIT 1", (ALICE,))
    raw_postgrest_transaction(trapped_db, [f"SELECT export_system.retry_export('{cancelled[0][0]}')",
                                           f"SELECT export_system.export_status('{cancelled[0][0]}')"],
                              sub=ALICE, role=role, search_path=EVIL_PATH)


# The embedded shape, on json (not jsonb) messages: every source shape's SQL
# runs under the traps (token counts, the readability check, the search).
EMBEDDED_JSON_APP = """
CREATE TABLE IF NOT EXISTS public.threads (
    id uuid PRIMARY KEY, owner uuid NOT NULL, title text, status text, tier text, category text[],
    quality_score numeric, persona text, emotion text, topic text, created_at timestamptz, messages json);
ALTER TABLE public.threads ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS threads_owner ON public.threads;
CREATE POLICY threads_owner ON public.threads USING (owner = (SELECT auth.uid()));
GRANT SELECT ON public.threads TO authenticated, service_role;
INSERT INTO public.threads
SELECT c.id, c.user_id, c.title, c.status, c.tier, c.category, c.quality_score, c.persona, c.emotion, c.topic,
       c.created_at,
       (SELECT json_agg(json_build_object('role', t.role, 'content', t.content, 'token_count', t.token_count)
                        ORDER BY t.turn_number)
        FROM public.conversation_turns t WHERE t.conversation_id = c.id)
FROM public.conversations c ON CONFLICT DO NOTHING;
"""


@pytest.mark.parametrize("role", ["authenticated", "service_role", "postgres"])
def test_the_embedded_shape_on_a_hostile_search_path(trapped_db, role):
    with admin_connect(trapped_db) as conn:
        conn.execute(EMBEDDED_JSON_APP)
        conn.execute("SELECT export_system.set_source('public.threads')")
    try:
        configs = [{}, dict(EVERY_FILTER, scope="filtered"), {"scope": "selected", "conversation_ids": [new_uuid()]},
                   {"scope": "all", "split": {"validation": 0.5, "seed": "s", "part": "train"}},
                   {"scope": "all", "sort": {"by": "quality_score", "direction": "desc"}, "limit": 3}]
        calls = [f"SELECT export_system.{function}('{json.dumps(config)}')" for config in configs
                 for function in ("export_conversations", "preview_export", "scope_counts")]
        if role == "postgres":
            with admin_connect(trapped_db) as conn:
                conn.execute(f"SET search_path = {EVIL_PATH}")
                for sql in calls:
                    conn.execute(sql).fetchall()
        else:
            for sql in calls:
                raw_postgrest_transaction(trapped_db, [sql], sub=ALICE, role=role, search_path=EVIL_PATH)
    finally:
        with admin_connect(trapped_db) as conn:
            conn.execute("SELECT export_system.set_source('public.conversations', 'public.conversation_turns')")


def test_operator_calls_on_a_hostile_search_path(trapped_db):
    with admin_connect(trapped_db) as conn:
        conn.execute(f"SET search_path = {EVIL_PATH}")
        for sql in api_calls()[:9] + [
                "SELECT export_system.export_query('SELECT 1 AS one', '{\"format\": \"json\"}')",
                "SELECT export_system.cleanup_expired()",
                "SELECT export_system.run_queued_exports()"]:
            conn.execute(sql).fetchall()


def test_background_job_on_a_hostile_search_path(db):
    """A worker started for a database whose default search_path puts the
    tenant's schema first still runs the job untouched: jobs pin theirs."""
    name = create_database("t_security_jobs")
    create_trap_schema(name)
    with admin_connect(name) as conn:
        conn.execute(f"ALTER DATABASE t_security_jobs SET search_path = {EVIL_PATH}")
    api = Session(name)
    export_id = rpc(api, "queue_export", CONFIG_ARGS, {"config": EVERY_FILTER}, sub=ALICE)
    with admin_connect(name) as conn:
        conn.execute("SET search_path = pg_catalog")
        conn.execute("SELECT export_system.run_queued_exports()")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = rpc(api, "export_status", {"export_id": "uuid"}, {"export_id": export_id}, sub=ALICE)
        if status["status"] not in ("queued", "processing"):
            break
        time.sleep(0.1)
    assert status["status"] == "completed", status["error_message"]


# --- 5. The rate limit holds under concurrency ------------------------------------------

def test_parallel_exports_cannot_race_past_the_rate_limit():
    name = create_database("t_security_rate", rate_limit=10)
    api = Session(name)
    outcomes = []

    def export():
        try:
            rpc_export(api, {"limit": 1}, sub=ALICE)
            outcomes.append("ok")
        except psycopg.errors.ConfigurationLimitExceeded:
            outcomes.append("53400")

    threads = [threading.Thread(target=export) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["53400"] * 10 + ["ok"] * 10
    assert fetch_rows(name, "SELECT count(*) FROM export_system.export_logs WHERE user_id = %s",
                      (ALICE,)) == [(10,)]


# --- 6. A rollback cannot erase the server-log trail ---------------------------------------

def server_log():
    return Path(os.environ["PGDATA_DIR"], "server.log")


def log_lines_after(offset):
    with server_log().open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


EXPORT_LOG_LINE = re.compile(r"export_system: export ([0-9a-f-]{36}) (started|completed|cancelled): (.*)")


@pytest.mark.parametrize("suppress", [
    ["BEGIN", "SAVEPOINT s", "SELECT export_system.export_conversations('{}')", "ROLLBACK TO s", "COMMIT"],
    ["DO $$BEGIN PERFORM export_system.export_conversations('{}'); RAISE division_by_zero; "
     "EXCEPTION WHEN division_by_zero THEN NULL; END$$"],
])
def test_rolled_back_exports_stay_in_the_server_log(db, suppress):
    before = server_log().stat().st_size
    audit_before = fetch_rows(db, "SELECT count(*) FROM export_system.export_logs")
    with psycopg.connect(dbname=db, user="authenticator", autocommit=True) as conn:
        conn.execute("SET ROLE authenticated")
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": ALICE}),))
        for sql in suppress:
            conn.execute(sql)
    assert fetch_rows(db, "SELECT count(*) FROM export_system.export_logs") == audit_before
    time.sleep(0.2)  # the logging collector is not in the way, but let the write land
    events = [m.groups() for m in EXPORT_LOG_LINE.finditer(log_lines_after(before))]
    assert [e[1] for e in events] == ["started", "completed"]
    assert events[0][0] == events[1][0]
    assert f"user_id={ALICE} db_role=authenticated kind=conversations format=jsonl" in events[1][2]
    assert re.search(r"conversations=\d+ skipped=\d+ bytes=\d+", events[1][2])


# --- 7. One stored value never breaks an export ------------------------------------------

def test_odd_jsonb_reaches_the_file_exactly(db):
    conversation = new_uuid()
    deep = "[" * 200 + "]" * 200
    with admin_connect(db) as conn:
        conn.execute("""INSERT INTO public.conversations
                          (id, conversation_id, user_id, title, status, tier, quality_metrics, review_history)
                        VALUES (%s, 'odd-jsonb', %s, 'Odd', 'approved', 'template', '{"x": 1e400, "y": 1.50}', %s)""",
                     (conversation, BOB, deep))
        conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) "
                     "VALUES (%s, 1, 'user', 'Q'), (%s, 2, 'assistant', 'A')", (conversation, conversation))
    selected = {"scope": "selected", "conversation_ids": [conversation], "include_approval_history": True,
                "include_metadata": True}
    for fmt in ("jsonl", "json", "csv", "markdown"):
        rows = rpc_export(Session(db), dict(selected, format=fmt), sub=BOB)
        body = "\n".join(rows)
        if fmt != "markdown":  # Markdown escapes the brackets
            assert deep in body
        if fmt == "json":
            document = json.loads(body)
            metrics = document["conversations"][0]["metadata"]["quality_metrics"]
            assert metrics["x"] == 10 ** 400
            assert '"y":1.50' in body


# --- 8. The CSV formula guard covers what spreadsheets evaluate ----------------------------

FORMULA_TITLES = [" =1+1", "\n=1+1", "\uff1d1+1", "\ufeff=1+1", "\t=1+1", "\r=1+1", "  +1", "@SUM(A1)",
                  "-2+3", "\u200b=1"]


@pytest.mark.parametrize("title", FORMULA_TITLES)
def test_csv_guards_every_formula_variant(db, title):
    conversation = new_uuid()
    with admin_connect(db) as conn:
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier) "
                     "VALUES (%s, %s, %s, %s, 'approved', 'template')",
                     (conversation, f"formula-{conversation}", CAROL, title))
        conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) "
                     "VALUES (%s, 1, 'user', 'Q'), (%s, 2, 'assistant', 'A')", (conversation, conversation))
    rows = rpc_export(Session(db), {"format": "csv", "bom": False, "scope": "selected",
                                    "conversation_ids": [conversation]}, sub=CAROL)
    records = list(csv.DictReader(io.StringIO("\n".join(rows) + "\n")))
    assert records[0]["title"] == "'" + title


# --- 9. An early stop records what was delivered -------------------------------------------

@pytest.mark.parametrize("fmt,expected", [("jsonl", 1), ("csv", 0), ("markdown", None)])
def test_early_stop_counts_what_was_delivered(db, fmt, expected):
    with admin_connect(db) as conn:
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": ALICE}),))
        rows = conn.execute("SELECT export_system.export_conversations(%s) LIMIT 1",
                            (json.dumps({"format": fmt}),)).fetchall()
        count, size, status = conn.execute(
            "SELECT conversation_count, file_size, status FROM export_system.export_logs "
            "WHERE user_id = %s ORDER BY \"timestamp\" DESC, created_at DESC LIMIT 1", (ALICE,)).fetchone()
    assert status == "cancelled"
    assert size == len(rows[0][0].encode()) + 1
    if expected is not None:
        assert count == expected
    else:
        assert count <= 1


# --- 10. Malformed JSON is 22P02 or 22023, never XX000 ----------------------------------------

BAD_JSON = ["{bad", '{"limit": 1e400}', "[" * 300 + "]" * 300, '{"format": "csv",}',
            '{"filters": {"quality_min": 1e999}}']
JSON_FUNCTIONS = ["export_conversations", "preview_export", "scope_counts", "export_file_info", "queue_export",
                  "set_export_preferences", "export_history", "training_report"]


@pytest.mark.parametrize("function", JSON_FUNCTIONS)
@pytest.mark.parametrize("text", BAD_JSON)
def test_malformed_json_is_a_clear_error(api, function, text):
    with pytest.raises(psycopg.Error) as raised:
        raw_postgrest_transaction(api.dbname, [f"SELECT export_system.{function}({pgsql.quote(text)})"],
                                  sub=ALICE)
    assert raised.value.sqlstate in ("22P02", "22023", "54001"), raised.value
    assert server_alive()


# --- Round 2, 1. Row Level Security all the way down ----------------------------------------

DEEP_SOURCES = """
CREATE TABLE IF NOT EXISTS public.open_copy AS SELECT * FROM public.conversations;
CREATE OR REPLACE VIEW public.invoker_over_open WITH (security_invoker = true) AS SELECT * FROM public.open_copy;
CREATE OR REPLACE VIEW public.definer_view AS SELECT * FROM public.conversations;
CREATE OR REPLACE VIEW public.invoker_over_definer WITH (security_invoker = true) AS SELECT * FROM public.definer_view;
CREATE OR REPLACE FUNCTION public.all_conversations() RETURNS SETOF public.conversations
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'SELECT * FROM public.conversations';
CREATE OR REPLACE VIEW public.invoker_over_function WITH (security_invoker = true) AS
    SELECT * FROM public.all_conversations();
CREATE OR REPLACE VIEW public.invoker_inner WITH (security_invoker = true) AS SELECT * FROM public.conversations;
CREATE OR REPLACE VIEW public.invoker_outer WITH (security_invoker = true) AS SELECT * FROM public.invoker_inner;
GRANT SELECT ON public.open_copy, public.invoker_over_open, public.definer_view, public.invoker_over_definer,
    public.invoker_over_function, public.invoker_inner, public.invoker_outer TO authenticated, service_role;
"""

DEEP_REFUSALS = [
    ("public.invoker_over_open", "public.invoker_over_open reads public.open_copy, which does not have Row Level"),
    ("public.invoker_over_definer", "public.invoker_over_definer reads public.definer_view, which is a view without"),
    ("public.invoker_over_function", "public.invoker_over_function calls public.all_conversations(), a SECURITY"),
]


@pytest.fixture(scope="module")
def deep_db(db):
    with admin_connect(db) as conn:
        conn.execute(DEEP_SOURCES)
    return db


def register(dbname, conversations, turns="public.conversation_turns", allow_without_rls=False):
    with admin_connect(dbname) as conn:
        conn.execute("SELECT export_system.set_source(%s, %s, '{}', %s)", (conversations, turns, allow_without_rls))


@pytest.mark.parametrize("relation,message", DEEP_REFUSALS, ids=[r[0] for r in DEEP_REFUSALS])
def test_a_view_that_reaches_unprotected_rows_is_refused(deep_db, relation, message):
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
        register(deep_db, relation)
    assert raised.value.diag.message_primary.startswith(message)
    assert "security_invoker" in raised.value.diag.message_hint
    # The attack the refusal stops: under the waiver, alice's export holds bob's rows.
    register(deep_db, relation, allow_without_rls=True)
    try:
        owners = {row[0] for row in fetch_rows(deep_db, "SELECT user_id::text FROM public.conversations")}
        rows = rpc_export(Session(deep_db), {"scope": "all", "format": "csv", "bom": False,
                                             "include_metadata": False}, sub=ALICE)
        assert len({line.split(",")[0] for line in rows[1:]}) > 0 and len(owners) > 1
    finally:
        register(deep_db, "public.conversations")


def test_views_on_views_that_keep_rls_are_accepted(deep_db):
    register(deep_db, "public.invoker_outer")
    try:
        mine = fetch_rows(deep_db, "SELECT count(*) FROM public.conversations WHERE user_id = %s", (ALICE,))[0][0]
        rows = rpc_export(Session(deep_db), {"scope": "all", "format": "jsonl"}, sub=ALICE)
        assert 0 < len(rows) <= mine
    finally:
        register(deep_db, "public.conversations")


def refused_once_changed(dbname, view, changed_to, named):
    """`view`, registered over the conversations, is then made to read
    `changed_to`: each function that reads the source, called by alice as
    PostgREST would, is refused with 42501 naming `named` — the check runs
    at every export, not only at registration."""
    def define(relation):
        with admin_connect(dbname) as conn:
            conn.execute(f"CREATE OR REPLACE VIEW {view} WITH (security_invoker = true) AS SELECT * FROM {relation}")
            conn.execute(f"GRANT SELECT ON {view} TO authenticated, service_role")
    define("public.conversations")
    register(dbname, view)
    try:
        define(changed_to)
        for function in ("export_conversations", "preview_export", "scope_counts", "training_report"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=re.escape(named)):
                raw_postgrest_transaction(dbname, [f"SELECT export_system.{function}('{{}}')"], sub=ALICE)
    finally:
        register(dbname, "public.conversations")


def test_a_view_changed_after_registration_is_refused_at_export(deep_db):
    refused_once_changed(deep_db, "public.changing", "public.open_copy", "public.open_copy")


# --- Round 2, 6. Owners bypass RLS unless it is forced --------------------------------------

def owned_db(name):
    dbname = create_database(name)
    with admin_connect(dbname) as conn:
        conn.execute("GRANT authenticated, anon TO postgres")  # as on Supabase
    return dbname


def test_tables_owned_by_an_api_role_are_refused_until_forced():
    dbname = owned_db("t_security_owner")
    with admin_connect(dbname) as conn:
        conn.execute("ALTER TABLE public.conversations OWNER TO authenticated")
    api = Session(dbname)
    # Registered before the change: every export checks again.
    for call in (lambda: rpc_export(api, {"scope": "all"}, sub=ALICE),
                 lambda: rpc(api, "scope_counts", {"config": "jsonb"}, {"config": {}}, sub=ALICE)):
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            call()
        assert "FORCE ROW LEVEL SECURITY" in raised.value.diag.message_hint
        assert "public.conversations" in raised.value.diag.message_primary
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="authenticated"):
        register(dbname, "public.conversations")
    with admin_connect(dbname) as conn:
        conn.execute("ALTER TABLE public.conversations FORCE ROW LEVEL SECURITY")
    register(dbname, "public.conversations")
    mine = fetch_rows(dbname, "SELECT count(*) FROM public.conversations WHERE user_id = %s", (ALICE,))[0][0]
    counts = rpc(api, "scope_counts", {"config": "jsonb"}, {"config": {}}, sub=ALICE)
    assert counts["all"] == mine
    rows = rpc_export(api, {"scope": "all", "format": "csv", "bom": False, "include_metadata": False}, sub=ALICE)
    assert len({line.split(",")[0] for line in rows[1:]}) == mine


def test_a_signed_in_caller_who_owns_the_tables_is_refused():
    dbname = owned_db("t_security_owner_caller")
    with admin_connect(dbname) as conn:
        conn.execute("DROP ROLE IF EXISTS app_api")
        conn.execute("DROP ROLE IF EXISTS app_owner")
        conn.execute("CREATE ROLE app_owner")
        # An API login role that also holds the table owner's privileges.
        conn.execute("CREATE ROLE app_api LOGIN IN ROLE app_owner, authenticated")
        conn.execute("ALTER TABLE public.conversation_turns OWNER TO app_owner")
    with psycopg.connect(dbname=dbname, user="app_api") as conn:
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": ALICE}),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="this signed-in user"):
            conn.execute("SELECT export_system.export_conversations('{\"scope\": \"all\"}')").fetchall()
    # The normal direction keeps working: postgres owns the tables and is a member of the API roles.
    assert rpc_export(Session(dbname), {"limit": 1}, sub=ALICE)


# --- Round 2, 4. One tenant's stored values never fail another's export ---------------------

ODD_VALUES_APP = """
CREATE SCHEMA odd;
CREATE TABLE odd.threads (id uuid PRIMARY KEY, conversation_id text, owner uuid, status text, title text,
    quality_score numeric, token_count bigint, total_turns bigint, messages json);
CREATE TABLE odd.turns (conversation_id uuid, turn_number bigint, role text, content text, token_count bigint);
ALTER TABLE odd.threads ENABLE ROW LEVEL SECURITY;
ALTER TABLE odd.turns ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON odd.threads USING (owner = (SELECT auth.uid()));
CREATE POLICY own ON odd.turns USING (EXISTS (SELECT FROM odd.threads t WHERE t.id = turns.conversation_id));
GRANT USAGE ON SCHEMA odd TO authenticated, service_role;
GRANT SELECT ON odd.threads, odd.turns TO authenticated, service_role;
INSERT INTO odd.threads VALUES
  ('00000000-0000-4000-8000-0000000000d1', 'fine', '0000000a-0000-4000-8000-00000000000a', 'approved', 'Fine', 9.5,
   12, 2, '[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "token_count": 3000000000}]'),
  ('00000000-0000-4000-8000-0000000000d2', 'big-count', '0000000b-0000-4000-8000-00000000000b', 'approved', 'Big',
   1, 3000000000, 3000000000, '[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]'),
  ('00000000-0000-4000-8000-0000000000d3', 'huge-score', '0000000b-0000-4000-8000-00000000000b', 'approved', 'Huge',
   1e400, 1, 2, '[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]'),
  ('00000000-0000-4000-8000-0000000000d4', 'nul-message', '0000000b-0000-4000-8000-00000000000b', 'approved', 'Nul',
   1, 1, 2, '[{"role": "user", "content": "a\\u0000b"}, {"role": "assistant", "content": "A"}]'),
  ('00000000-0000-4000-8000-0000000000d5', 'lone-surrogate', '0000000b-0000-4000-8000-00000000000b', 'approved',
   'Half', 1, 1, 2, '[{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "A"}]');
INSERT INTO odd.turns SELECT t.id, n, CASE n WHEN 1 THEN 'user' ELSE 'assistant' END, 'text', 3000000000
FROM odd.threads t, generate_series(1, 2) n;
"""


@pytest.fixture(scope="module")
def odd_db():
    dbname = create_database("t_security_odd")
    with admin_connect(dbname) as conn:
        conn.execute(ODD_VALUES_APP)
    return dbname


def service_role_export(dbname, config):
    notices = []
    with psycopg.connect(dbname=dbname, user="authenticator") as conn:
        conn.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary))
        conn.execute("SET ROLE service_role")
        rows = [r[0] for r in conn.execute("SELECT export_system.export_conversations(%s)",
                                           (json.dumps(config),)).fetchall()]
    return rows, " ".join(notices)


@pytest.mark.parametrize("shape", ["embedded", "normalized"])
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "markdown"])
def test_unrepresentable_values_skip_their_conversation_only(odd_db, shape, fmt):
    register(odd_db, "odd.threads", "odd.turns" if shape == "normalized" else None)
    config = {"format": fmt, "include_metadata": True, "scope": "all"}
    rows, notices = service_role_export(odd_db, config)
    body = "\n".join(rows)
    assert "huge-score" in notices and "beyond the range of a double" in notices
    assert "huge-score" not in body
    if shape == "embedded":
        assert "nul-message" in notices and "lone-surrogate" in notices
        assert "nul-message" not in body and "lone-surrogate" not in body
    assert "fine" in body and "big-count" in body
    if fmt == "json":
        document = json.loads(body)
        counts = {c["conversation_id"]: c for c in document["conversations"]}
        assert counts["big-count"]["metadata"]["token_count"] == 3000000000
        assert counts["fine"]["turns"][1]["token_count"] == 3000000000
    # The operator's background job of the same export completes too.
    with admin_connect(odd_db) as conn:
        export_id = conn.execute("SELECT export_system.queue_export(%s)", (json.dumps(config),)).fetchone()[0]
        conn.execute("SELECT export_system.run_queued_exports()")
    assert wait_for_job(odd_db, export_id) == "completed"


def wait_for_job(dbname, export_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = fetch_rows(dbname, "SELECT status, error_message FROM export_system.export_logs "
                                    "WHERE export_id = %s", (export_id,))[0]
        if status[0] not in ("queued", "processing"):
            return status[0] if status[0] != "failed" else f"failed: {status[1]}"
        time.sleep(0.1)
    return "timeout"


def test_bigint_and_unconstrained_numeric_columns_are_registered(odd_db):
    register(odd_db, "odd.threads", "odd.turns")
    with admin_connect(odd_db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS odd.money_scores (id uuid PRIMARY KEY, quality_score money, "
                     "messages jsonb)")
        conn.execute("ALTER TABLE odd.money_scores ENABLE ROW LEVEL SECURITY")
        with pytest.raises(psycopg.errors.DatatypeMismatch, match="money"):
            conn.execute("SELECT export_system.set_source('odd.money_scores')")


# --- Round 2, 5 and 7. A job's audit row tells the source it read; waived exports retry ------

def queue_as_alice(dbname, config):
    return rpc(Session(dbname), "queue_export", CONFIG_ARGS, {"config": config}, sub=ALICE)


def run_queue(dbname):
    with admin_connect(dbname) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")


def audited_config(dbname, export_id):
    return fetch_rows(dbname, "SELECT config FROM export_system.export_logs WHERE export_id = %s", (export_id,))[0][0]


def test_a_job_records_the_source_it_read():
    dbname = create_database("t_security_waiver")
    config = {"limit": 2}
    # Queued under RLS, the source waived since: the job refuses to read it.
    under_rls = queue_as_alice(dbname, config)
    register(dbname, "public.conversations", allow_without_rls=True)
    run_queue(dbname)
    outcome = wait_for_job(dbname, under_rls)
    assert outcome.startswith("failed") and "allow_without_rls" in outcome
    # Queued under the waiver, RLS back since: it runs, and its row says RLS applied.
    waived = queue_as_alice(dbname, config)
    assert audited_config(dbname, waived)["source_allow_without_rls"] is True
    register(dbname, "public.conversations")
    run_queue(dbname)
    assert wait_for_job(dbname, waived) == "completed"
    assert "source_allow_without_rls" not in audited_config(dbname, waived)
    # Queued and run under the waiver: the row says so.
    register(dbname, "public.conversations", allow_without_rls=True)
    both = queue_as_alice(dbname, config)
    run_queue(dbname)
    assert wait_for_job(dbname, both) == "completed"
    assert audited_config(dbname, both)["source_allow_without_rls"] is True
    # Exports made under the waiver retry and describe their files.
    api = Session(dbname)
    retried = rpc(api, "retry_export", {"export_id": "uuid"}, {"export_id": under_rls}, sub=ALICE)
    assert audited_config(dbname, retried)["source_allow_without_rls"] is True
    info = rpc(api, "export_file_info_for_export", {"export_id": "uuid"}, {"export_id": both}, sub=ALICE)
    assert info["file_name"].endswith(".jsonl")


# --- Round 2, 8. export_query for an operator's login role ----------------------------------

def test_an_operator_role_granted_export_query_needs_no_other_grant(db):
    with admin_connect(db) as conn:
        if conn.execute("SELECT FROM pg_roles WHERE rolname = 'ops_reader'").fetchone():
            conn.execute("DROP OWNED BY ops_reader")
            conn.execute("DROP ROLE ops_reader")
        conn.execute("CREATE ROLE ops_reader LOGIN")
        conn.execute("GRANT USAGE ON SCHEMA export_system TO ops_reader")
        conn.execute("GRANT EXECUTE ON FUNCTION export_system.export_query(text, jsonb) TO ops_reader")
        conn.execute("GRANT CREATE ON SCHEMA public TO ops_reader")
    with psycopg.connect(dbname=db, user="ops_reader", autocommit=True) as conn:
        rows = conn.execute("SELECT export_system.export_query('SELECT 1 AS one', '{\"bom\": false}')").fetchall()
        assert rows == [("one",), ("1",)]
        conn.execute("CREATE TABLE public.ops_scratch (n int)")
        with pytest.raises(psycopg.errors.InvalidCursorDefinition):  # 42P11
            conn.execute("SELECT export_system.export_query('INSERT INTO public.ops_scratch VALUES (1)')").fetchall()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # 25006
            conn.execute("SELECT export_system.export_query("
                         "'INSERT INTO public.ops_scratch VALUES (2) RETURNING n')").fetchall()
        assert conn.execute("SELECT count(*) FROM public.ops_scratch").fetchone() == (0,)
        conn.execute("DROP TABLE public.ops_scratch")


# --- Round 2, 9. A library newer than the database's extension says what to do ----------------

def test_a_database_still_on_0_1_0_is_told_to_update():
    name = "t_security_old"
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with admin_connect(name) as conn:
        conn.execute("CREATE EXTENSION export_system VERSION '0.1.0'")
        for sql in ("SELECT export_system.export_conversations('{}')", "SELECT export_system.preview_export('{}')",
                    "SELECT export_system.queue_export('{}')"):
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
                conn.execute(sql).fetchall()
            assert "version 0.1.0" in raised.value.diag.message_primary
            assert "ALTER EXTENSION export_system UPDATE" in raised.value.diag.message_hint


# --- Round 2, 3. Markdown never links, never loads an image ---------------------------------

LINK_ATTACKS = [
    "https://example.com/[Reset your password](https://evil.example/reset)",
    "www.example.com/![p](https://evil.example/t.png)",
    "[click](https://evil.example) ![x](https://evil.example/x.png) <https://evil.example> <img src=x>",
    "[ref]: https://evil.example",
    "see [ref] and [^1] and ~~no~~ and | a | b |",
    "write to someone@example.com or mailto:someone@example.com",
]
TOOL_NAME = "get_[w](https://evil.example)"
TOOL_CALL_ID = "call_![i](https://evil.example/i.png)"
TOOL_ARGUMENTS = '{"q": "https://e.example/[a](https://evil.example)"}'
# A real tool result: a URL followed by JSON punctuation.
TOOL_RESULT = '{"match":"manutd_leeds","url":"https://www.bbc.co.uk/sport/football/teams/manutd_leeds"}]}'


def visible_text(markup):
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def assert_no_foreign_link(markup):
    assert "<img" not in markup
    for href, text in re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', markup, flags=re.S):
        shown = visible_text(text)
        # GitHub shows an e-mail address as a mailto: link to exactly itself.
        assert html.unescape(href) in (shown, "mailto:" + shown), (href, shown)


def test_markdown_text_never_links_or_loads_images(db):
    conversation = new_uuid()
    turns = [("user", text, None, None) for text in LINK_ATTACKS]
    turns += [("assistant", "", json.dumps([{"id": TOOL_CALL_ID, "name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}]),
               None),
              ("tool", TOOL_RESULT, None, TOOL_CALL_ID),
              ("assistant", "done", None, None)]
    with admin_connect(db) as conn:
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, persona, status, tier) "
                     "VALUES (%s, %s, %s, %s, %s, 'approved', 'template')",
                     (conversation, f"links-{conversation}", ALICE, LINK_ATTACKS[0], LINK_ATTACKS[1]))
        for number, (role, content, calls, call_id) in enumerate(turns, 1):
            conn.execute("INSERT INTO public.conversation_turns "
                         "(conversation_id, turn_number, role, content, tool_calls, tool_call_id) "
                         "VALUES (%s, %s, %s, %s, %s, %s)", (conversation, number, role, content, calls, call_id))
    rows = rpc_export(Session(db), {"format": "markdown", "scope": "selected", "conversation_ids": [conversation]},
                      sub=ALICE)
    markdown = "\n".join(rows) + "\n"
    for markup in (cmarkgfm.github_flavored_markdown_to_html(markdown), MarkdownIt("commonmark").render(markdown)):
        assert_no_foreign_link(markup)
        shown = visible_text(markup)
        for text in LINK_ATTACKS + [TOOL_NAME, TOOL_CALL_ID, TOOL_ARGUMENTS, TOOL_RESULT]:
            assert text in shown, text
        assert f"Conversation: {LINK_ATTACKS[0]}" in shown
        assert f"Persona: {LINK_ATTACKS[1]}" in shown
        assert "\\" not in shown  # no escape shows through


# --- Round 2, 10. Read replicas: reads work, exports say where to run -----------------------

@pytest.fixture(scope="module")
def standby():
    """A hot standby of the test cluster, as pg_basebackup -R -c fast makes one."""
    primary = create_database("t_security_standby")
    export_id = queue_as_alice(primary, {"limit": 3})
    run_queue(primary)
    with admin_connect(primary) as conn:
        conn.execute("SELECT export_system.save_export('weekly', '{\"format\": \"csv\"}')")
    assert wait_for_job(primary, export_id) == "completed"
    bin_dir = os.environ["PG_BIN"]
    data = Path(os.environ["PGDATA_DIR"]).parent / "standby"
    as_postgres = ["sudo", "-u", "postgres"]
    subprocess.run(as_postgres + [f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                   capture_output=True)
    subprocess.run(["rm", "-rf", str(data)], check=True)
    subprocess.run(["install", "-d", "-m", "0700", "-o", "postgres", "-g", "postgres", str(data)], check=True)
    subprocess.run(as_postgres + [f"{bin_dir}/pg_basebackup", "-D", str(data), "-R", "-c", "fast",
                                  "-h", "127.0.0.1", "-p", os.environ["PGPORT"], "-U", "postgres"], check=True)
    port = free_port()
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(f"\nport = {port}\nunix_socket_directories = '{data}'\n"
                   "shared_preload_libraries = 'export_system'\nexport_system.workers = 0\n")
    subprocess.run(as_postgres + [f"{bin_dir}/pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w",
                                  "start"], check=True, capture_output=True)
    yield {"dbname": primary, "port": port, "export_id": export_id}
    subprocess.run(as_postgres + [f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def on_standby(standby, sql, role="authenticated"):
    """`sql` on the standby as PostgREST's signed-in alice, or as the operator (role postgres)."""
    user = "postgres" if role == "postgres" else "authenticator"
    with psycopg.connect(dbname=standby["dbname"], user=user, port=standby["port"]) as conn:
        if role != "postgres":
            conn.execute("SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                         (role, json.dumps({"role": role, "sub": ALICE})))
        return conn.execute(sql).fetchall()


def test_a_standby_serves_reads(standby):
    assert on_standby(standby, "SELECT pg_is_in_recovery()") == [(True,)]
    assert on_standby(standby, "SELECT export_system.get_source() ->> 'shape'") == [("normalized",)]
    assert len(on_standby(standby, "SELECT export_system.preview_export('{}')")) >= 1
    assert on_standby(standby, "SELECT export_system.training_report('{\"max_tokens\": 300}')")[0][0]["examples"] > 0
    counts = on_standby(standby, "SELECT export_system.scope_counts('{}')")[0][0]
    assert counts["approved"] > 0
    assert on_standby(standby, "SELECT export_system.export_file_info('{}')")[0][0]["conversation_count"] > 0
    history = on_standby(standby, "SELECT export_system.export_history('{}')")[0][0]
    assert history["total"] >= 1
    export_id = standby["export_id"]
    status = on_standby(standby, f"SELECT export_system.export_status('{export_id}')")[0][0]
    assert status["status"] == "completed"
    info = on_standby(standby, f"SELECT export_system.export_file_info_for_export('{export_id}')")[0][0]
    assert info["conversation_count"] == 3
    parts = on_standby(standby, f"SELECT export_system.download_export('{export_id}')")
    assert len(parts) == status["part_count"] >= 1
    assert on_standby(standby, "SELECT export_system.export_metrics('1 day')")[0][0] is not None
    [(saved,)] = on_standby(standby, "SELECT export_system.saved_exports()", role="postgres")
    assert [s["name"] for s in saved] == ["weekly"]
    assert on_standby(standby, "SELECT export_system.preview_export('{\"saved\": \"weekly\", \"since\": \"last\"}')",
                      role="postgres")


@pytest.mark.parametrize("sql", ["SELECT export_system.export_conversations('{}')",
                                 "SELECT export_system.queue_export('{}')",
                                 "SELECT export_system.export_query('SELECT 1')",
                                 "SELECT export_system.export_conversations('{\"saved\": \"weekly\", \"since\": \"last\"}')",
                                 "SELECT export_system.queue_export('{\"saved\": \"weekly\", \"since\": \"last\"}')"])
def test_a_standby_refuses_audited_exports_clearly(standby, sql):
    role = "postgres" if "export_query" in sql or "weekly" in sql else "authenticated"
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as raised:  # 25006
        on_standby(standby, sql, role=role)
    assert "primary" in raised.value.diag.message_hint


# --- Work grows with the bytes read, never with conversation bytes x turns -------------------

def test_a_large_conversation_value_is_read_once_not_once_per_turn(db):
    """One tenant's conversation with a 1 MiB quality_metrics (it compresses
    to a few KB) and 1,000 one-character turns: before, every turn row carried
    the metrics, and service_role's CSV cost 1 GB of temp files. Now the
    export fits a temp_file_limit of a few MB: the data itself."""
    conversation = new_uuid()
    with admin_connect(db) as conn:
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier, "
                     "quality_metrics) VALUES (%s, %s, %s, 'Wide', 'approved', 'template', "
                     "jsonb_build_object('notes', repeat('x', 1048576)))",
                     (conversation, f"wide-{conversation}", BOB))
        conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) "
                     "SELECT %s, n, CASE n %% 2 WHEN 1 THEN 'user' ELSE 'assistant' END, 'x' "
                     "FROM generate_series(1, 1000) n", (conversation,))
    for config in ({"format": "csv", "scope": "all"}, {"format": "json", "scope": "all",
                                                       "include_metadata": True}):
        with psycopg.connect(dbname=db, user="postgres") as conn:
            conn.execute("SET temp_file_limit = '8MB'")
            conn.execute("SET work_mem = '64kB'")  # spill whatever is sorted
            rows = conn.execute("SELECT export_system.export_conversations(%s)",
                                (json.dumps(config),)).fetchall()
        assert any(f"wide-{conversation}" in row[0] for row in rows)


# --- Round 3, 1. The extension's schema is its own --------------------------------------------

def squattable_database(name):
    """A database without the extension where mallory, an ordinary role, may
    create schemas (any database owner may; on Supabase, `postgres`)."""
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'mallory'").fetchone():
            conn.execute("CREATE ROLE mallory LOGIN")
        conn.execute(f'GRANT CREATE ON DATABASE "{name}" TO mallory')
    return name


def as_mallory(dbname, *statements):
    with psycopg.connect(dbname=dbname, user="mallory", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_an_install_into_a_schema_another_role_made_is_refused():
    dbname = squattable_database("t_security_squat")
    as_mallory(dbname, "CREATE SCHEMA export_system")
    with admin_connect(dbname) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            conn.execute("CREATE EXTENSION export_system")
        assert raised.value.diag.message_primary == (
            "schema export_system already exists (owned by mallory), "
            "and export_system installs only into a schema it creates")
        assert "run their code as postgres" in raised.value.diag.message_hint
        assert "CREATE EXTENSION export_system again" in raised.value.diag.message_hint
        assert conn.execute("SELECT FROM pg_extension WHERE extname = 'export_system'").fetchone() is None
        # An install from before this check (0.1.0 has none) is refused at its update.
        conn.execute("CREATE EXTENSION export_system VERSION '0.1.0'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            conn.execute("ALTER EXTENSION export_system UPDATE")
        assert raised.value.diag.message_primary.startswith("schema export_system is owned by mallory")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'export_system'").fetchone() \
            == ("0.1.0",)
    # A schema the installer made itself, empty and ungranted, is taken as the extension's own.
    with admin_connect(dbname) as conn:
        conn.execute("DROP EXTENSION export_system")
        conn.execute("DROP SCHEMA export_system CASCADE")
        conn.execute("CREATE SCHEMA export_system")
        conn.execute("CREATE EXTENSION export_system")


TRAP_LOG = """
CREATE TABLE public.trap_log (who text, superuser boolean, at text);
GRANT INSERT, SELECT ON public.trap_log TO PUBLIC;
"""
LOOK_ALIKE = """
CREATE SCHEMA export_system;
GRANT USAGE ON SCHEMA export_system TO PUBLIC;
CREATE FUNCTION export_system.trap(at text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.trap_log SELECT current_user, r.rolsuper, at FROM pg_catalog.pg_roles r
     WHERE r.rolname = current_user;
    RETURN true;
END $$;
CREATE VIEW export_system.source AS
    SELECT export_system.trap('source') AS singleton, 'public.conversations'::regclass AS conversations,
           'public.conversation_turns'::regclass AS turns, '{}'::jsonb AS columns;
CREATE FUNCTION export_system.current_user_id() RETURNS uuid LANGUAGE sql
    AS $$ SELECT NULL::uuid FROM (SELECT export_system.trap('current_user_id')) t $$;
CREATE FUNCTION export_system.in_queue(status text, delivery text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT export_system.trap('in_queue') $$;
CREATE FUNCTION export_system.sees_all_exports() RETURNS boolean LANGUAGE sql
    AS $$ SELECT export_system.trap('sees_all_exports') $$;
CREATE FUNCTION export_system.json_is_readable(text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT export_system.trap('json_is_readable') $$;
GRANT SELECT ON ALL TABLES IN SCHEMA export_system TO PUBLIC;
"""


def squatted_install(name, how):
    """An installed extension whose schema mallory came to control, then
    renamed, putting a look-alike with a trap in its place: `how` is
    "owned" (a schema she made before a pre-check install, or was given) or
    "renamed" (the owner renamed the real one; she only made the look-alike)."""
    dbname = create_database(name)
    with admin_connect(dbname) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'mallory'").fetchone():
            conn.execute("CREATE ROLE mallory LOGIN")
        conn.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO mallory')
        conn.execute(TRAP_LOG)
        if how == "owned":
            conn.execute("ALTER SCHEMA export_system OWNER TO mallory")
        else:
            conn.execute("ALTER SCHEMA export_system RENAME TO export_system_moved")
    if how == "owned":
        as_mallory(dbname, "ALTER SCHEMA export_system RENAME TO export_system_moved")
    as_mallory(dbname, LOOK_ALIKE)
    return dbname


@pytest.mark.parametrize("how", ["owned", "renamed"])
def test_a_look_alike_schema_never_runs_as_the_owner(how):
    dbname = squatted_install(f"t_security_look_alike_{how}", how)
    real = "export_system_moved"
    calls = [
        (ALICE, f"SELECT {real}.export_conversations('{{\"scope\": \"all\"}}')"),
        (ALICE, f"SELECT {real}.preview_export('{{}}')"),
        (ALICE, f"SELECT {real}.training_report('{{}}')"),
        (ALICE, f"SELECT {real}.queue_export('{{}}')"),
        (ALICE, f"SELECT {real}.set_export_preferences('{{\"format\": \"csv\"}}')"),
    ]
    for sub, sql in calls:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            raw_postgrest_transaction(dbname, [sql], sub=sub, search_path=f'"{real}", "public"')
        assert "not the extension's own" in raised.value.diag.message_primary
    with admin_connect(dbname) as conn:
        for sql in (f"SELECT {real}.cleanup_expired()", f"SELECT {real}.run_queued_exports()",
                    f"SELECT {real}.export_query('SELECT 1')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql).fetchall()
    time.sleep(3)  # the resident workers' poll (they serve database "jobs" only; a drain worker would call here)
    assert fetch_rows(dbname, "SELECT who, superuser, at FROM public.trap_log") == []


@pytest.mark.parametrize("how", ["owned", "renamed"])
def test_a_look_alike_schema_never_runs_for_the_caller_either(how):
    dbname = squatted_install(f"t_security_look_alike_caller_{how}", how)
    real = "export_system_moved"
    for sql in (f"SELECT {real}.export_history('{{}}')", f"SELECT {real}.get_export_preferences()",
                f"SELECT {real}.export_metrics()"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            raw_postgrest_transaction(dbname, [sql], sub=ALICE, search_path=f'"{real}", "public"')
        assert "not the extension's own" in raised.value.diag.message_primary
    assert fetch_rows(dbname, "SELECT who, superuser, at FROM public.trap_log") == []


# --- Round 3, 2. The RLS walk sees every function a read can run ------------------------------

WALK_SOURCES = """
-- A SECURITY DEFINER function that reads every tenant's rows, reached four ways.
CREATE OR REPLACE FUNCTION public.every_row(a uuid, b uuid) RETURNS SETOF public.conversations
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'SELECT * FROM public.conversations';
CREATE OPERATOR public.<<< (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.every_row);
CREATE OR REPLACE VIEW public.via_operator WITH (security_invoker = true) AS
    SELECT (r).* FROM (SELECT NULL::uuid OPERATOR(public.<<<) NULL::uuid AS r) s;

CREATE OR REPLACE FUNCTION public.collect_ids(state uuid[], id uuid) RETURNS uuid[]
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT array(SELECT c.id FROM public.conversations c)';
CREATE AGGREGATE public.every_id(uuid) (SFUNC = public.collect_ids, STYPE = uuid[]);
CREATE OR REPLACE VIEW public.via_aggregate WITH (security_invoker = true) AS
    SELECT c.* FROM public.conversations c
    WHERE c.id OPERATOR(pg_catalog.=) ANY ((SELECT public.every_id(x.id) FROM public.conversations x)::uuid[]);

-- Bodies PostgreSQL does not parse: what they read is recorded nowhere.
CREATE OR REPLACE FUNCTION public.plain_rows() RETURNS SETOF public.conversations
    LANGUAGE sql AS 'SELECT * FROM public.every_row(NULL, NULL)';
CREATE OR REPLACE VIEW public.via_sql_body WITH (security_invoker = true) AS SELECT * FROM public.plain_rows();
CREATE OR REPLACE FUNCTION public.plpgsql_rows() RETURNS SETOF public.conversations
    LANGUAGE plpgsql AS 'BEGIN RETURN QUERY SELECT * FROM public.open_copy; END';
CREATE OR REPLACE VIEW public.via_plpgsql WITH (security_invoker = true) AS SELECT * FROM public.plpgsql_rows();

-- A SQL-standard body is parsed, so it is walked: fine over RLS, refused over a definer.
CREATE OR REPLACE FUNCTION public.standard_rows() RETURNS SETOF public.conversations
    LANGUAGE sql STABLE BEGIN ATOMIC SELECT * FROM public.conversations; END;
CREATE OR REPLACE VIEW public.via_standard_body WITH (security_invoker = true) AS SELECT * FROM public.standard_rows();
CREATE OR REPLACE FUNCTION public.standard_over_definer() RETURNS SETOF public.conversations
    LANGUAGE sql STABLE BEGIN ATOMIC SELECT * FROM public.every_row(NULL, NULL); END;
CREATE OR REPLACE VIEW public.via_standard_over_definer WITH (security_invoker = true) AS
    SELECT * FROM public.standard_over_definer();
CREATE OR REPLACE FUNCTION public.standard_over_open() RETURNS SETOF public.conversations
    LANGUAGE sql STABLE BEGIN ATOMIC SELECT * FROM public.open_copy; END;
CREATE OR REPLACE VIEW public.via_standard_over_open WITH (security_invoker = true) AS
    SELECT * FROM public.standard_over_open();

-- A domain whose CHECK runs a definer function that can read (and raise) any tenant's title.
CREATE OR REPLACE FUNCTION public.title_is_unique(title text) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT count(*) < 1000 FROM public.conversations c WHERE c.title = title';
CREATE DOMAIN public.unique_title AS text CHECK (public.title_is_unique(VALUE));
CREATE OR REPLACE VIEW public.via_domain WITH (security_invoker = true) AS
    SELECT c.* FROM public.conversations c WHERE c.title::public.unique_title IS NOT NULL;

-- A cast whose function is definer.
CREATE OR REPLACE FUNCTION public.row_as_text(c public.conversations) RETURNS text
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT string_agg(title, '','') FROM public.conversations';
CREATE CAST (public.conversations AS text) WITH FUNCTION public.row_as_text(public.conversations);
CREATE OR REPLACE VIEW public.via_cast WITH (security_invoker = true) AS
    SELECT c.* FROM public.conversations c WHERE (c::text) IS NOT NULL;

GRANT SELECT ON public.via_operator, public.via_aggregate, public.via_sql_body, public.via_plpgsql,
    public.via_standard_body, public.via_standard_over_definer, public.via_standard_over_open, public.via_domain,
    public.via_cast TO authenticated, service_role;
"""

WALK_REFUSALS = [
    ("public.via_operator",
     "public.via_operator → operator public.<<<(uuid,uuid) calls public.every_row(uuid,uuid), a SECURITY DEFINER"),
    ("public.via_aggregate",
     "public.via_aggregate → function public.every_id(uuid) calls public.collect_ids(uuid[],uuid), a SECURITY DEFINER"),
    ("public.via_sql_body",
     "public.via_sql_body calls public.plain_rows(), a sql function whose body export_system cannot check"),
    ("public.via_plpgsql",
     "public.via_plpgsql calls public.plpgsql_rows(), a plpgsql function whose body export_system cannot check"),
    ("public.via_standard_over_definer",
     "public.via_standard_over_definer → function public.standard_over_definer() calls public.every_row(uuid,uuid), "
     "a SECURITY DEFINER"),
    ("public.via_standard_over_open",
     "public.via_standard_over_open → function public.standard_over_open() reads public.open_copy, which does not "
     "have Row Level Security enabled"),
    ("public.via_cast", "public.via_cast calls public.row_as_text(public.conversations), a SECURITY DEFINER"),
    ("public.via_domain",
     "public.via_domain → type public.unique_title → constraint unique_title_check "
     "calls public.title_is_unique(text), a SECURITY DEFINER"),
]


@pytest.fixture(scope="module")
def walk_db(deep_db):
    with admin_connect(deep_db) as conn:
        conn.execute(WALK_SOURCES)
    return deep_db


@pytest.mark.parametrize("relation,message", WALK_REFUSALS, ids=[r[0] for r in WALK_REFUSALS])
def test_every_function_a_read_can_run_is_walked(walk_db, relation, message):
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
        register(walk_db, relation)
    assert raised.value.diag.message_primary.startswith(message), raised.value.diag.message_primary
    assert "allow_without_rls" in raised.value.diag.message_hint


def test_the_operator_attack_is_refused_at_export_too(walk_db):
    """Registered while harmless, then changed: every export walks again.
    Under the waiver the view does hand alice bob's conversation, which is
    what the refusal stops."""
    register(walk_db, "public.via_operator", allow_without_rls=True)
    try:
        mine = fetch_rows(walk_db, "SELECT count(*) FROM public.conversations WHERE user_id = %s", (ALICE,))[0][0]
        counts = rpc(Session(walk_db), "scope_counts", {"config": "jsonb"}, {"config": {}}, sub=ALICE)
        assert counts["all"] > mine
    finally:
        register(walk_db, "public.conversations")
    refused_once_changed(walk_db, "public.turning", "public.via_operator", "operator public.<<<")


def test_a_sql_standard_body_over_rls_is_accepted(walk_db):
    register(walk_db, "public.via_standard_body")
    try:
        mine = fetch_rows(walk_db, "SELECT count(*) FROM public.conversations WHERE user_id = %s", (ALICE,))[0][0]
        counts = rpc(Session(walk_db), "scope_counts", {"config": "jsonb"}, {"config": {}}, sub=ALICE)
        assert counts["all"] == mine
    finally:
        register(walk_db, "public.conversations")


# --- Round 3, 3. Work on one large value stops when asked ----------------------------------

HUGE_TURN_MB = 24
HUGE_TURN_UNIT = 'The quick brown fox jumps over the lazy dog, "quoted" [x](y) =1; 東京! '


@pytest.fixture(scope="module")
def huge_turn_db():
    """One conversation of alice's with a 24 MiB turn of ordinary text, each
    sentence after a different hex word (so counting it is real work, not
    the piece cache's), stored uncompressed (PostgreSQL's own decompression
    of a value, which the extension cannot interrupt, is not what is
    measured here)."""
    name = create_database("t_security_huge_turn")
    conversation = new_uuid()
    with admin_connect(name) as conn:
        conn.execute("DELETE FROM public.conversations")
        conn.execute("ALTER TABLE public.conversation_turns ALTER COLUMN content SET STORAGE EXTERNAL")
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier) "
                     "VALUES (%s, 'huge', %s, 'Huge', 'approved', 'template')", (conversation, ALICE))
        unit = HUGE_TURN_UNIT
        conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) VALUES "
                     "(%s, 1, 'user', 'Tell me everything.'), (%s, 2, 'assistant', "
                     " (SELECT string_agg(md5(g::text) || ' ' || %s, '') FROM generate_series(1, %s) g))",
                     (conversation, conversation, unit, HUGE_TURN_MB * MIB // (len(unit.encode()) + 33)))
    return name


CANCELLED_WORK = {
    "counting (max_tokens)": "SELECT octet_length(r) FROM export_system.export_conversations("
                             "'{\"scope\": \"all\", \"max_tokens\": 1000000000000}') r",
    "counting (training_report)": "SELECT export_system.training_report('{\"scope\": \"all\"}')",
    "hashing (dedupe)": "SELECT octet_length(r) FROM export_system.export_conversations("
                        "'{\"scope\": \"all\", \"dedupe\": true}') r",
    "escaping (json)": "SELECT octet_length(r) FROM export_system.export_conversations("
                       "'{\"scope\": \"all\", \"format\": \"json\"}') r",
    "escaping (csv)": "SELECT octet_length(r) FROM export_system.export_conversations("
                      "'{\"scope\": \"all\", \"format\": \"csv\"}') r",
    "escaping (markdown)": "SELECT octet_length(r) FROM export_system.export_conversations("
                           "'{\"scope\": \"all\", \"format\": \"markdown\"}') r",
}


def late_after_each_tenth(dbname, sql):
    """statement_timeout set at every tenth of the call's own duration: how
    long past each timeout the call ended, for those it stopped."""
    with admin_connect(dbname) as conn:
        durations = []
        for _ in range(2):  # the first run also warms the cache: the faster one is the call's duration
            started = time.monotonic()
            conn.execute(sql).fetchall()
            durations.append(time.monotonic() - started)
        full = min(durations)
        late = {}
        for tenth in range(1, 10):
            timeout_ms = max(1, int(full * tenth * 100))
            conn.execute(f"SET statement_timeout = {timeout_ms}")
            started = time.monotonic()
            try:
                conn.execute(sql).fetchall()
            except psycopg.errors.QueryCanceled:
                late[timeout_ms] = time.monotonic() - started - timeout_ms / 1000
            finally:
                conn.execute("RESET statement_timeout")
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # Most timeouts fall inside the call (a run a little faster than the
    # measured one may finish before a late timeout).
    assert len(late) >= 5, (full, late)
    return late


@pytest.mark.parametrize("work", CANCELLED_WORK, ids=list(CANCELLED_WORK))
def test_a_timeout_lands_within_a_tenth_of_a_second_inside_one_huge_value(huge_turn_db, work):
    """The call ends within 0.1 s of its timeout wherever it was — reading,
    counting, hashing, escaping. Before, counting 24 MiB ran to its end (about 0.3 s)."""
    late = late_after_each_tenth(huge_turn_db, CANCELLED_WORK[work])
    assert max(late.values()) < 0.1, {ms: round(s, 3) for ms, s in late.items()}


def test_a_cancel_lands_within_a_tenth_of_a_second_while_counting(huge_turn_db):
    with admin_connect(huge_turn_db) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        durations = []
        for _ in range(2):  # the first run also loads the encoding: the faster one is the call's duration
            started = time.monotonic()
            conn.execute(CANCELLED_WORK["counting (training_report)"]).fetchall()
            durations.append(time.monotonic() - started)

        def cancelled_after(delay):
            """How long after pg_cancel_backend the call ended; None if it ended before."""
            outcome = {}

            def count():
                try:
                    conn.execute(CANCELLED_WORK["counting (training_report)"]).fetchall()
                except psycopg.errors.QueryCanceled:
                    outcome["ended"] = time.monotonic()

            worker = threading.Thread(target=count)
            worker.start()
            time.sleep(delay)
            with admin_connect() as other:
                cancelled_at = time.monotonic()
                assert other.execute("SELECT pg_cancel_backend(%s)", (pid,)).fetchone() == (True,)
            worker.join()
            return outcome["ended"] - cancelled_at if "ended" in outcome else None

        # Reading the turn takes a small part of the call, counting it the rest: cancel
        # inside counting, earlier again should a run be faster than the measured one.
        lags = [cancelled_after(fraction * min(durations)) for fraction in (0.6, 0.45, 0.3)]
    landed = [lag for lag in lags if lag is not None]
    assert landed, (durations, lags)
    assert max(landed) < 0.1, (durations, lags)
