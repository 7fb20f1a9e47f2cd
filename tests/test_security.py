"""The attack suite: every attack of the security review, replayed as the
attacker would make it — through PostgREST's exact SQL where an API user
would, as a direct-SQL session where that is the threat — and shown refused
or harmless, with the server still up and nothing of another tenant seen.
"""
import csv
import io
import json
import os
import re
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from support import (ALICE, BOB, CAROL, POSTGREST_RPC, ROLE_STATEMENT_TIMEOUT, Session, admin_connect,
                      create_database, fetch_rows, new_uuid, rpc, rpc_export)

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
    # takes SQL text (the only text arguments are a role name and two status words).
    rows = fetch_rows(db, """
        SELECT r.rolname, p.oid::regprocedure::text
        FROM pg_proc p CROSS JOIN pg_roles r
        WHERE p.pronamespace = 'export_system'::regnamespace
          AND r.rolname = ANY (%s) AND has_function_privilege(r.oid, p.oid, 'EXECUTE')""", (API_ROLES,))
    callable_ = {signature for _, signature in rows}
    assert "export_system.export_query(text,jsonb)" not in callable_
    assert sorted(s for s in callable_ if "text" in s) == [
        "export_system.in_queue(text,text)", "export_system.is_own_export(uuid,text)"]


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
])
def test_memory_stays_bounded_by_the_largest_value(large_db, sql):
    peak, rows = peak_backend_memory(large_db, sql)
    assert len(rows) >= 3
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
                     "to_char(timestamp, text)", "to_char(timestamptz, text)", "format(text)"]


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
    for signature in TRAPPED_FUNCTIONS:
        statements.append(f"CREATE FUNCTION evil.{signature} RETURNS text LANGUAGE plpgsql AS "
                          f"$$BEGIN RAISE EXCEPTION 'hijacked: {signature}'; END$$")
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
                  "set_export_preferences", "export_history"]


@pytest.mark.parametrize("function", JSON_FUNCTIONS)
@pytest.mark.parametrize("text", BAD_JSON)
def test_malformed_json_is_a_clear_error(api, function, text):
    with pytest.raises(psycopg.Error) as raised:
        raw_postgrest_transaction(api.dbname, [f"SELECT export_system.{function}({pgsql.quote(text)})"],
                                  sub=ALICE)
    assert raised.value.sqlstate in ("22P02", "22023", "54001"), raised.value
    assert server_alive()
