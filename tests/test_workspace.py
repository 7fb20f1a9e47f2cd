"""The export workspace: history, status, preview, scope counts, file names,
metrics, rate limit, preferences and any-query export — each as two users,
as anon and as service_role."""
import csv
import io
import json
import re
import time

import psycopg
import pytest

from support import (ALICE, BOB, Session, admin_connect, create_database, fetch_rows, rows_to_file, rpc,
                      rpc_export)

CONFIG_ARGS = {"config": "jsonb"}
ID_ARGS = {"export_id": "uuid"}
QUERY_ARGS = {"query": "text", "config": "jsonb"}


@pytest.fixture(scope="module")
def db():
    return create_database("t_workspace")


@pytest.fixture(scope="module")
def api(db):
    return Session(db)


@pytest.fixture
def empty_log(db):
    with admin_connect(db) as conn:
        conn.execute("DELETE FROM export_system.export_logs")
        conn.execute("DELETE FROM export_system.export_preferences")
    return db


def error_of(call):
    with pytest.raises(psycopg.Error) as caught:
        call()
    return caught.value.sqlstate, str(caught.value), caught.value.diag.message_hint


def owned(db, user, where="true"):
    return fetch_rows(db, f"SELECT count(*) FROM public.conversations c WHERE user_id = %s AND {where}",
                      (user,))[0][0]


# --- anon may call none of it --------------------------------------------------------------

ANON_CALLS = [
    ("export_history", {"filter": "jsonb"}, {"filter": {}}, False),
    ("export_status", ID_ARGS, {"export_id": "00000000-0000-4000-8000-000000000000"}, False),
    ("preview_export", CONFIG_ARGS, {"config": {}}, True),
    ("scope_counts", CONFIG_ARGS, {"config": {}}, False),
    ("export_file_info", CONFIG_ARGS, {"config": {}}, False),
    ("export_metrics", {}, {}, False),
    ("get_export_preferences", {}, {}, False),
    ("set_export_preferences", {"preferences": "jsonb"}, {"preferences": {}}, False),
    ("export_query", QUERY_ARGS, {"query": "select 1", "config": {}}, True),
]


@pytest.mark.parametrize("function,args,values,returns_set", ANON_CALLS, ids=[c[0] for c in ANON_CALLS])
def test_anon_may_call_nothing(api, function, args, values, returns_set):
    state, _, _ = error_of(lambda: rpc(api, function, args, values, returns_set=returns_set, role="anon"))
    assert state == "42501"


# --- preview ---------------------------------------------------------------------------------

def preview(api, config, sub=ALICE, role="authenticated"):
    return rpc(api, "preview_export", CONFIG_ARGS, {"config": config}, returns_set=True, sub=sub, role=role)


def without_export_date(rows):
    return [re.sub(r'"export_date": ?"[^"]*"', '"export_date": ""', row) for row in rows]


# md5('sample-conversation-3')::uuid: Alice's sample-0003.
SAMPLE_3 = "{}-{}-{}-{}-{}".format(*(lambda h: (h[:8], h[8:12], h[12:16], h[16:20], h[20:]))(
    __import__("hashlib").md5(b"sample-conversation-3").hexdigest()))

PREVIEW_CONFIGS = [
    {"format": "jsonl"},
    {"format": "jsonl", "target": "anthropic", "scope": "all"},
    {"format": "json"},
    {"format": "json", "pretty": False},
    {"format": "csv", "line_ending": "crlf"},
    {"format": "markdown", "include_approval_history": True},
    {"format": "json", "limit": 3},
    {"format": "json", "limit": 2},
    {"format": "markdown", "scope": "selected", "conversation_ids": [SAMPLE_3]},
]


@pytest.mark.parametrize("config", PREVIEW_CONFIGS, ids=[json.dumps(c) for c in PREVIEW_CONFIGS])
def test_preview_is_the_head_of_the_full_export(api, config):
    head = without_export_date(preview(api, config))
    full = without_export_date(rpc_export(api, config, sub=ALICE))
    assert head and head == full[:len(head)]
    text = rows_to_file(head).decode()
    shown = set(re.findall(r"sample-\d{4}", text))
    everything = re.findall(r"sample-\d{4}", rows_to_file(full).decode())
    assert len(shown) == min(3, len(set(everything)))
    if len(set(everything)) <= 3:
        assert head == full, "a small export is its own preview"
    elif config["format"] == "json" and config.get("pretty", True):
        assert head[-1].endswith("},"), "the third conversation ends as it does in the full file"


def test_previews_are_not_audited(empty_log, api):
    preview(api, {"format": "csv"})
    assert fetch_rows(empty_log, "SELECT count(*) FROM export_system.export_logs") == [(0,)]


def test_preview_shows_only_the_callers_conversations(api, db):
    bobs = set(fetch_rows(db, "SELECT conversation_id FROM public.conversations WHERE user_id = %s", (BOB,)))
    shown = {(cid,) for cid in re.findall(r"sample-\d{4}", "".join(preview(api, {"scope": "all"}, sub=ALICE)))}
    assert shown and not shown & bobs


# --- scope counts --------------------------------------------------------------------------------

@pytest.mark.parametrize("user", [ALICE, BOB])
def test_scope_counts_match_what_each_user_owns(api, db, user):
    counts = rpc(api, "scope_counts", CONFIG_ARGS, {"config": {"filters": {"tier": ["template"]}}}, sub=user)
    assert counts["all"] == owned(db, user, "tier = 'template'")
    assert counts["approved"] == owned(db, user, "tier = 'template' AND status = 'approved'")
    assert counts["filtered"] == counts["all"] and counts["selected"] is None
    assert counts["async_threshold"] == 500


def test_scope_counts_for_selected_ids_count_only_visible_ones(api, db):
    alices = [r[0] for r in fetch_rows(db, "SELECT id::text FROM public.conversations WHERE user_id = %s "
                                           "ORDER BY id LIMIT 2", (ALICE,))]
    bobs = [r[0] for r in fetch_rows(db, "SELECT id::text FROM public.conversations WHERE user_id = %s "
                                         "LIMIT 1", (BOB,))]
    config = {"scope": "selected", "conversation_ids": alices + bobs}
    assert rpc(api, "scope_counts", CONFIG_ARGS, {"config": config}, sub=ALICE)["selected"] == 2
    assert rpc(api, "scope_counts", CONFIG_ARGS, {"config": config}, sub=BOB)["selected"] == 1
    assert rpc(api, "scope_counts", CONFIG_ARGS, {"config": config}, role="service_role")["selected"] == 3


def test_scope_counts_without_identity_are_zero_and_service_role_sees_all(api, db):
    assert rpc(api, "scope_counts", CONFIG_ARGS, {"config": {}}, sub=None)["all"] == 0
    total = fetch_rows(db, "SELECT count(*) FROM public.conversations")[0][0]
    assert rpc(api, "scope_counts", CONFIG_ARGS, {"config": {}}, role="service_role")["all"] == total


# --- file name and MIME type ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,extension,mime", [
    ("jsonl", "jsonl", "application/x-ndjson"), ("json", "json", "application/json"),
    ("csv", "csv", "text/csv"), ("markdown", "md", "text/markdown")])
def test_file_info_for_a_config(api, db, fmt, extension, mime):
    config = {"format": fmt, "filters": {"tier": ["template"]}}
    info = rpc(api, "export_file_info", CONFIG_ARGS, {"config": config}, sub=ALICE)
    count = owned(db, ALICE, "tier = 'template' AND status = 'approved'")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert info["file_name"] == f"training-data-template-{today}-{count}.{extension}"
    assert info["mime_type"] == mime


def test_file_info_for_an_export_is_the_owners_only(empty_log, api):
    rpc_export(api, {"format": "csv", "filters": {"tier": ["scenario", "template"]}}, sub=ALICE)
    export_id, day, count = fetch_rows(
        empty_log, "SELECT export_id::text, to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
                   "conversation_count FROM export_system.export_logs")[0]
    info = rpc(api, "export_file_info_for_export", ID_ARGS, {"export_id": export_id}, sub=ALICE)
    assert info["file_name"] == f"training-data-all-{day}-{count}.csv" and info["mime_type"] == "text/csv"
    state, _, _ = error_of(lambda: rpc(api, "export_file_info_for_export", ID_ARGS, {"export_id": export_id},
                                       sub=BOB))
    assert state == "P0002"


# --- history --------------------------------------------------------------------------------------

def history(api, filter, sub=ALICE, role="authenticated"):
    return rpc(api, "export_history", {"filter": "jsonb"}, {"filter": filter}, sub=sub, role=role)


def seed_log(db, rows):
    """rows: (user, format, status, kind, hours_ago, conversation_count, file_size, duration_ms)."""
    with admin_connect(db) as conn:
        for user, fmt, status, kind, hours_ago, count, size, duration in rows:
            conn.execute(
                """INSERT INTO export_system.export_logs (user_id, db_role, format, config, status, kind,
                       "timestamp", conversation_count, file_size, duration_ms)
                   VALUES (%s, 'authenticated', %s, '{}', %s, %s, now() - %s * interval '1 hour', %s, %s, %s)""",
                (user, fmt, status, kind, hours_ago, count, size, duration))


def test_history_pages_newest_first_with_filters(empty_log, api):
    seed_log(empty_log, [(ALICE, fmt, "completed", "conversations", hours, 10, 100, 5)
                         for hours, fmt in enumerate(["jsonl", "csv", "json", "jsonl", "markdown", "jsonl", "csv"])]
             + [(BOB, "jsonl", "completed", "conversations", 0.5, 1, 1, 1)])
    first = history(api, {"limit": 3})
    assert (first["total"], first["pages"], first["page"]) == (7, 3, 1)
    stamps = [e["timestamp"] for e in first["exports"]]
    assert stamps == sorted(stamps, reverse=True) and len(stamps) == 3
    third = history(api, {"limit": 3, "page": 3})
    assert len(third["exports"]) == 1
    every = [e["export_id"] for p in (1, 2, 3) for e in history(api, {"limit": 3, "page": p})["exports"]]
    assert len(set(every)) == 7, "pages neither overlap nor skip"
    jsonl = history(api, {"format": "jsonl"})
    assert jsonl["total"] == 3 and {e["format"] for e in jsonl["exports"]} == {"jsonl"}
    assert history(api, {"format": ["csv", "json"]})["total"] == 3
    assert history(api, {"status": "failed"})["total"] == 0
    recent = history(api, {"from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2.5 * 3600))})
    assert recent["total"] == 3
    assert history(api, {}, sub=BOB)["total"] == 1
    everyone = history(api, {"limit": 100}, sub=None, role="service_role")
    assert everyone["total"] == 8 and {e["user_id"] for e in everyone["exports"]} == {ALICE, BOB}


@pytest.mark.parametrize("filter,named", [
    ({"pgae": 1}, '"pgae"'), ({"page": 0}, '"page"'), ({"limit": 101}, '"limit"'), ({"limit": "10"}, '"limit"'),
    ({"format": "xml"}, '"format"'), ({"status": ["done"]}, '"status"'), ({"from": "the day before"}, '"from"'),
])
def test_history_rejects_bad_filters_naming_the_key(api, filter, named):
    state, message, hint = error_of(lambda: history(api, filter))
    assert state == "22023" and named in message and hint


@pytest.fixture(scope="module")
def large_log():
    """A million audit rows of 2,000 users."""
    name = create_database("t_history_large", supabase_auth=False)
    with admin_connect(name) as conn:
        conn.execute("""
            INSERT INTO export_system.export_logs (user_id, db_role, format, config, status, "timestamp",
                                                   conversation_count, file_size, duration_ms)
            SELECT ('0000' || lpad(to_hex(g % 2000), 4, '0') || '-0000-4000-8000-000000000000')::uuid,
                   'authenticated', (ARRAY['jsonl', 'json', 'csv', 'markdown'])[1 + g % 4], '{}',
                   'completed', now() - g * interval '1 second', g % 700, g % 100000, g % 5000
            FROM generate_series(1, 1000000) g""")
        conn.execute("ANALYZE export_system.export_logs")
    return name


def test_a_history_page_from_a_million_rows_uses_an_index(large_log):
    user = "00000001-0000-4000-8000-000000000000"  # one of 2,000 users: 500 rows
    plans = []
    with psycopg.connect(dbname=large_log, user="postgres", autocommit=True) as conn:
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary))
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = 0")
        conn.execute("SET auto_explain.log_nested_statements = on")
        conn.execute("SET auto_explain.log_level = notice")
        conn.execute("SET ROLE authenticated")
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps({"sub": user}),))
        started = time.monotonic()
        page = conn.execute("SELECT export_system.export_history('{\"page\": 3, \"limit\": 20}')").fetchone()[0]
        elapsed = time.monotonic() - started
    assert page["total"] == 500 and len(page["exports"]) == 20
    page_plans = [p for p in plans if "LIMIT" in p.upper() or "Limit" in p]
    assert any("idx_export_logs_user_timestamp" in p for p in plans), "\n".join(plans)
    assert not any("Seq Scan on export_logs" in p for p in page_plans), "\n".join(page_plans)
    print(f"\nhistory page 3 of one user's 500 among 1,000,000 rows: {elapsed * 1000:.1f} ms (plan uses the index)")


# --- metrics --------------------------------------------------------------------------------------

def test_metrics_match_a_hand_computed_fixture(empty_log, api):
    # Alice: 3 completed jsonl (small), 1 completed csv (large), 1 failed json, 1 cancelled; Bob: 1 failed.
    seed_log(empty_log, [
        (ALICE, "jsonl", "completed", "conversations", 1, 10, 1000, 100),
        (ALICE, "jsonl", "completed", "conversations", 2, 20, 2000, 200),
        (ALICE, "jsonl", "completed", "conversations", 3, 30, 3000, 300),
        (ALICE, "csv", "completed", "conversations", 4, 600, 50000, 1000),
        (ALICE, "json", "failed", "conversations", 5, 0, None, 50),
        (ALICE, "markdown", "cancelled", "conversations", 6, 5, 10, 10),
        (BOB, "jsonl", "failed", "conversations", 1, 0, None, 5),
        (ALICE, "jsonl", "completed", "conversations", 30, 1, 1, 1),  # outside the 24 h window
    ])
    metrics = rpc(api, "export_metrics", {}, {}, sub=ALICE)
    assert metrics["total"] == 6 and (metrics["succeeded"], metrics["failed"]) == (4, 1)
    assert metrics["success_rate"] == 0.8 and metrics["failure_rate"] == 0.2
    assert metrics["by_status"] == {"completed": 4, "failed": 1, "cancelled": 1}
    assert metrics["by_format"] == {"jsonl": 3, "csv": 1, "json": 1, "markdown": 1}
    assert metrics["duration_ms_by_format"]["jsonl"] == {"count": 3, "mean": 200.0, "p95": 290.0}
    assert metrics["duration_ms_by_size"] == {"small (<100)": {"count": 3, "mean": 200.0, "p95": 290.0},
                                              "large (500+)": {"count": 1, "mean": 1000.0, "p95": 1000.0}}
    assert metrics["bytes_by_format"] == {"jsonl": 6000, "csv": 50000, "json": 0, "markdown": 10}
    assert sum(metrics["exports_per_day"].values()) == 6
    assert metrics["per_user"] is None, "per-user counts are for service_role"
    assert metrics["failure_alert"] is True
    everyone = rpc(api, "export_metrics", {}, {}, role="service_role")
    assert everyone["per_user"] == {ALICE: 6, BOB: 1} and everyone["failed"] == 2
    bob = rpc(api, "export_metrics", {"since": "interval"}, {"since": "2 hours"}, sub=BOB)
    assert (bob["total"], bob["failure_rate"]) == (1, 1.0)


def test_metrics_warn_in_the_server_log_above_ten_percent(empty_log):
    seed_log(empty_log, [(ALICE, "jsonl", "completed", "conversations", 1, 1, 1, 1)] * 8
             + [(ALICE, "jsonl", "failed", "conversations", 1, 0, None, 1)])
    warnings = []
    with psycopg.connect(dbname=empty_log, user="postgres", autocommit=True) as conn:
        conn.add_notice_handler(lambda notice: warnings.append((notice.severity_nonlocalized,
                                                                notice.message_primary)))
        metrics = conn.execute("SELECT export_system.export_metrics()").fetchone()[0]
    assert metrics["failure_alert"] is True
    assert ("WARNING", "export failure rate 11.1% over the last 24:00:00 exceeds 10%") in warnings
    with admin_connect(empty_log) as conn:
        conn.execute("UPDATE export_system.export_logs SET status = 'completed'")
        assert conn.execute("SELECT export_system.export_metrics() -> 'failure_alert'").fetchone()[0] is False


# --- rate limit -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def limited(db):
    name = create_database("t_rate_limited", rate_limit=3)
    return Session(name)


def test_rate_limit_trips_at_n_plus_one_with_a_hint(limited):
    for _ in range(3):
        rpc_export(limited, {"limit": 1}, sub=BOB)
    preview(limited, {}, sub=BOB)  # previews never count
    state, message, hint = error_of(lambda: rpc_export(limited, {"limit": 1}, sub=BOB))
    assert state == "53400" and "3 exports in the last hour" in message
    assert re.search(r"next export is allowed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", hint), hint
    state, _, _ = error_of(lambda: rpc(limited, "queue_export", CONFIG_ARGS, {"config": {}}, sub=BOB))
    assert state == "53400", "queued exports count against the same limit"
    assert len(rpc_export(limited, {"limit": 1}, sub=ALICE)) == 1, "the limit is per user"


def test_rate_limit_does_not_apply_to_service_role(limited):
    for _ in range(5):  # Bob's identity, over his limit, but as service_role
        rpc_export(limited, {"limit": 1}, sub=BOB, role="service_role")


# --- preferences --------------------------------------------------------------------------------------

def test_preferences_fill_missing_keys_and_are_recorded(empty_log, api):
    stored = rpc(api, "set_export_preferences", {"preferences": "jsonb"},
                 {"preferences": {"format": "csv", "includeMetadata": False}}, sub=ALICE)
    assert stored == {"format": "csv", "include_metadata": False}
    assert rpc(api, "get_export_preferences", {}, {}, sub=ALICE) == stored
    assert rpc(api, "get_export_preferences", {}, {}, sub=BOB) == {}
    rows = rpc_export(api, {"scope": "all"}, sub=ALICE)
    assert rows[0].lstrip("\ufeff").split(",")[0] == "conversation_id", "csv from the preference"
    rpc_export(api, {"format": "jsonl", "include_metadata": True, "limit": 1}, sub=ALICE)
    rpc_export(api, {"limit": 1}, sub=BOB)
    configs = fetch_rows(empty_log, "SELECT user_id::text, config FROM export_system.export_logs "
                                    "ORDER BY \"timestamp\", created_at")
    assert configs[0][1]["format"] == "csv" and configs[0][1]["include_metadata"] is False
    assert configs[1][1]["format"] == "jsonl" and configs[1][1]["include_metadata"] is True, "the config wins"
    assert configs[2][1]["format"] == "jsonl", "Bob has the built-in defaults"
    rpc(api, "set_export_preferences", {"preferences": "jsonb"}, {"preferences": {}}, sub=ALICE)


@pytest.mark.parametrize("preferences,named", [({"scope": "all"}, '"scope"'), ({"format": "xml"}, '"format"')])
def test_bad_preferences_are_refused(api, preferences, named):
    state, message, _ = error_of(lambda: rpc(api, "set_export_preferences", {"preferences": "jsonb"},
                                             {"preferences": preferences}, sub=ALICE))
    assert state == "22023" and named in message


def test_preferences_need_a_signed_in_user_and_cannot_be_written_directly(api):
    state, _, _ = error_of(lambda: rpc(api, "set_export_preferences", {"preferences": "jsonb"},
                                       {"preferences": {}}, sub=None))
    assert state == "42501"
    state, _, _ = error_of(lambda: api.call(
        "INSERT INTO export_system.export_preferences (preferences) VALUES ('{\"format\": 1}')", sub=ALICE))
    assert state == "42501"


# --- export_query -----------------------------------------------------------------------------------

def export_query(db, query, config, role=None):
    """export_query as operators run it: psql or pg_cron, as the owner or a
    role the owner granted it to (never an API role: see test_security.py)."""
    with admin_connect(db) as conn:
        if role:
            conn.execute(f"SET ROLE {role}")
        return [r[0] for r in conn.execute("SELECT export_system.export_query(%s, %s)",
                                           (query, json.dumps(config))).fetchall()]


TITLES = "SELECT conversation_id, title, quality_score, total_turns, category, quality_metrics " \
         "FROM public.conversations ORDER BY conversation_id"


def test_export_query_formats_read_back_with_independent_parsers(api, db):
    expected = fetch_rows(db, TITLES)
    as_csv = list(csv.reader(io.StringIO(rows_to_file(export_query(db, TITLES, {"bom": False})).decode(),
                                         newline="")))
    assert as_csv[0] == ["conversation_id", "title", "quality_score", "total_turns", "category", "quality_metrics"]
    assert [row[:2] for row in as_csv[1:]] == [[row[0], row[1] or ""] for row in expected]
    as_jsonl = [json.loads(line) for line in export_query(db, TITLES, {"format": "jsonl"})]
    assert [(r["conversation_id"], r["title"], r["total_turns"], r["quality_metrics"]) for r in as_jsonl] == \
           [(row[0], row[1], row[3], row[5]) for row in expected]
    assert all(isinstance(r["total_turns"], int) for r in as_jsonl)
    as_json = json.loads(rows_to_file(export_query(db, TITLES, {"format": "json"})))
    assert as_json == as_jsonl
    table = export_query(db, TITLES, {"format": "markdown"})
    assert table[0] == "| conversation_id | title | quality_score | total_turns | category | quality_metrics |"
    assert len(table) == len(expected) + 2 and all(row.startswith("| ") and row.endswith(" |") for row in table)


def test_export_query_is_audited_with_its_kind(empty_log):
    rows = export_query(empty_log, "SELECT 1 AS one UNION ALL SELECT 2", {"format": "csv", "bom": False})
    assert rows == ["one", "1", "2"]
    kind, count, size, config = fetch_rows(empty_log, "SELECT kind, conversation_count, file_size, config "
                                                      "FROM export_system.export_logs")[0]
    assert (kind, count, size) == ("query", 2, len("one\n1\n2\n"))
    assert config["query"] == "SELECT 1 AS one UNION ALL SELECT 2"


def test_compliance_can_export_their_own_audit_log_as_csv(empty_log, api):
    rpc_export(api, {"limit": 1}, sub=ALICE)
    rpc_export(api, {"limit": 1}, sub=BOB)
    rows = export_query(empty_log, "SELECT export_id, user_id, \"timestamp\", format, status, conversation_count, "
                                   "file_size FROM export_system.export_logs ORDER BY \"timestamp\"", {"format": "csv"})
    parsed = list(csv.DictReader(io.StringIO(rows_to_file(rows).decode("utf-8-sig"), newline="")))
    assert {row["user_id"] for row in parsed} == {ALICE, BOB}
    assert all(row["format"] == "jsonl" for row in parsed)


@pytest.mark.parametrize("query", [
    "DELETE FROM public.conversations RETURNING id",
    "WITH gone AS (DELETE FROM public.conversations RETURNING id) SELECT * FROM gone",
    "SELECT export_system.set_export_preferences('{\"format\": \"csv\"}')",
    "UPDATE public.conversations SET title = 'x' RETURNING id",
    "SELECT 1; DELETE FROM public.conversations",
])
def test_export_query_refuses_writes_and_nothing_is_written(api, db, query):
    before = owned(db, ALICE)
    with admin_connect(db) as conn:
        conn.execute("DELETE FROM export_system.export_preferences")
    state, _, _ = error_of(lambda: export_query(db, query, {}))
    # read-only transaction, not allowed in a read-only query, not a single
    # query; preferences belong to a signed-in user, and an operator is none
    assert state in ("25006", "0A000", "42P11", "42501"), state
    assert owned(db, ALICE) == before
    assert fetch_rows(db, "SELECT count(*) FROM export_system.export_preferences") == [(0,)]
    assert fetch_rows(db, "SELECT count(*) FROM public.conversations WHERE title = 'x'") == [(0,)]


def test_export_query_runs_under_rls_as_its_caller(db):
    with admin_connect(db) as conn:
        conn.execute("DROP ROLE IF EXISTS compliance_auditor")
        conn.execute("CREATE ROLE compliance_auditor")
        conn.execute("GRANT USAGE ON SCHEMA export_system TO compliance_auditor")
        conn.execute("GRANT SELECT ON public.conversations TO compliance_auditor")
        conn.execute("GRANT EXECUTE ON FUNCTION export_system.export_query(text, jsonb), "
                     "export_system.current_user_id() TO compliance_auditor")
    query = "SELECT DISTINCT user_id FROM public.conversations"
    # A role without a JWT identity owns no conversations: RLS shows none.
    assert export_query(db, query, {"bom": False}, role="compliance_auditor") == ["user_id"]
    # The owner bypasses RLS: everyone's.
    owners = fetch_rows(db, query)
    assert sorted(export_query(db, query, {"bom": False})[1:]) == sorted(str(row[0]) for row in owners)


# --- status ---------------------------------------------------------------------------------------

def test_status_is_for_the_owner_only(empty_log, api):
    rpc_export(api, {"format": "csv", "limit": 2}, sub=ALICE)
    export_id = fetch_rows(empty_log, "SELECT export_id::text FROM export_system.export_logs")[0][0]
    status = rpc(api, "export_status", ID_ARGS, {"export_id": export_id}, sub=ALICE)
    assert (status["status"], status["delivery"], status["conversation_count"]) == ("completed", "stream", 2)
    assert rpc(api, "export_status", ID_ARGS, {"export_id": export_id}, sub=BOB) is None
    assert rpc(api, "export_status", ID_ARGS, {"export_id": export_id}, role="service_role") is None, \
        "status is the owner's; operators use export_history"


def test_service_role_previews_everyone(api, db):
    shown = set(re.findall(r"sample-\d{4}", "".join(preview(api, {"scope": "all"}, role="service_role"))))
    owners = {row[0] for row in fetch_rows(db, "SELECT user_id::text FROM public.conversations "
                                               "WHERE conversation_id = ANY(%s)", (list(shown),))}
    assert len(shown) == 3 and len(owners) > 1
