"""Background exports: queue, worker, progress, download paging, cancel/retry,
failure, expiry and retention, crash safety, pg_cron.

scripts/test.sh preloads export_system and pg_cron (where it exists), with the resident workers
serving the database named `jobs`; `jobs_elsewhere` has no resident worker and
is served by run_queued_exports().
"""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from support import (ALICE, BOB, REPO, Session, admin_connect, create_database, fetch_rows, quote_literal,
                      rows_to_file, rpc)

DAVE = "0000000d-0000-4000-8000-00000000000d"
BULK_CONVERSATIONS = 100_000
BULK_TURNS = 4
JOB_TIMEOUT_S = 180

QUEUE_ARGS = {"config": "jsonb"}
ID_ARGS = {"export_id": "uuid"}
DOWNLOAD_ARGS = {"export_id": "uuid", "from_part": "integer", "part_count": "integer"}
PARTS_PER_CALL = 16


def add_bulk_user(dbname):
    """Dave owns BULK_CONVERSATIONS approved conversations of BULK_TURNS turns."""
    with admin_connect(dbname) as conn:
        conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, 'dave@example.com')", (DAVE,))
        conn.execute("""
            INSERT INTO public.conversations
              (id, conversation_id, user_id, title, status, tier, quality_score, total_turns, created_at, updated_at)
            SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(g), 12, '0'))::uuid,
                   'bulk-' || lpad(g::text, 6, '0'), %s, 'Bulk conversation ' || g, 'approved',
                   (ARRAY['template', 'scenario', 'edge_case'])[1 + g %% 3], 5 + (g %% 50) / 10.0, %s,
                   timestamptz '2026-01-01' + g * interval '1 second',
                   timestamptz '2026-02-01' + g * interval '1 second'
            FROM generate_series(1, %s) g""", (DAVE, BULK_TURNS, BULK_CONVERSATIONS))
        conn.execute("""
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT c.id, t, CASE WHEN t %% 2 = 1 THEN 'user' ELSE 'assistant' END,
                   'Turn ' || t || ' of ' || c.conversation_id || ': "quoted", comma, ' || repeat('lorem ipsum ', 6)
            FROM public.conversations c CROSS JOIN generate_series(1, %s) t
            WHERE c.user_id = %s""", (BULK_TURNS, DAVE))
        conn.execute("ANALYZE")


@pytest.fixture(scope="module")
def jobs_db():
    name = create_database("jobs")
    add_bulk_user(name)
    wait_for(lambda: worker_pids(name), "resident workers connected to the jobs database")
    return name


@pytest.fixture(scope="module")
def api(jobs_db):
    return Session(jobs_db)


def wait_for(condition, what, timeout=JOB_TIMEOUT_S, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except psycopg.OperationalError:
            value = None  # the server is restarting
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def worker_pids(dbname):
    return [r[0] for r in fetch_rows(dbname, "SELECT pid FROM pg_stat_activity "
                                             "WHERE backend_type = 'export_system worker' AND datname = %s",
                                     (dbname,))]


def queue(api, config, sub):
    return rpc(api, "queue_export", QUEUE_ARGS, {"config": config}, sub=sub)


def status(api, export_id, sub):
    return rpc(api, "export_status", ID_ARGS, {"export_id": export_id}, sub=sub)


def wait_until_finished(api, export_id, sub):
    return wait_for(lambda: (s := status(api, export_id, sub)) and s["status"] not in ("queued", "processing") and s,
                    f"export {export_id} to finish")


def download_like_supabase(api, export_id, sub):
    """The README's client loop: PARTS_PER_CALL parts per .rpc() call until a short page."""
    file, calls, slowest = b"", 0, 0.0
    part = 1
    while True:
        started = time.monotonic()
        rows = rpc(api, "download_export", DOWNLOAD_ARGS,
                   {"export_id": export_id, "from_part": part, "part_count": PARTS_PER_CALL},
                   returns_set=True, sub=sub)
        slowest = max(slowest, time.monotonic() - started)
        calls += 1
        assert len(rows) <= 1000
        file += b"".join(r.encode() + b"\n" for r in rows)
        if len(rows) < PARTS_PER_CALL:
            return file, calls, slowest
        part += PARTS_PER_CALL


def sync_export_as(dbname, sub, config, path):
    """export_conversations() as the same user through psql, the README's file command."""
    claims = json.dumps({"sub": sub, "role": "authenticated"})
    sql = ("SET export_system.async_threshold = 0; SET ROLE authenticated; "
           f"SELECT set_config('request.jwt.claims', {quote_literal(claims)}, false) \\g /dev/null\n"
           f"SELECT export_system.export_conversations({quote_literal(json.dumps(config))}::jsonb)")
    env = dict(os.environ, PGDATABASE=dbname)
    subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-v", "FETCH_COUNT=1000", "-o", str(path)],
                   input=sql, text=True, check=True, env=env)
    return Path(path).read_bytes()


def without_export_date(data):
    return re.sub(rb'"export_date": ?"[^"]*"', b'"export_date": ""', data)


def sqlstate_of(call):
    with pytest.raises(psycopg.Error) as caught:
        call()
    return caught.value.sqlstate, str(caught.value), caught.value.diag.message_hint


# --- a job runs, its download equals the synchronous export ----------------------------

@pytest.mark.parametrize("config", [
    {"format": "jsonl", "scope": "all"},
    {"format": "csv", "scope": "all", "include_approval_history": True},
    {"format": "markdown"},
    {"format": "json", "scope": "all"},
    {"format": "jsonl", "target": "sharegpt"},
])
def test_download_equals_the_synchronous_export(jobs_db, api, config, tmp_path):
    export_id = queue(api, config, ALICE)
    final = wait_until_finished(api, export_id, ALICE)
    assert final["status"] == "completed", final
    downloaded, _, _ = download_like_supabase(api, export_id, ALICE)
    assert final["file_size"] == len(downloaded) and final["progress"]["percent"] == 100
    expected = sync_export_as(jobs_db, ALICE, config, tmp_path / "sync")
    if config["format"] == "json":
        # The envelope's export_date is when each export ran.
        downloaded, expected = without_export_date(downloaded), without_export_date(expected)
    assert downloaded == expected


def test_queuing_wakes_a_worker_at_once(jobs_db, api):
    with admin_connect(jobs_db) as conn:
        conn.execute("ALTER SYSTEM SET export_system.poll_interval = '10min'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        time.sleep(0.5)
        started = time.monotonic()
        export_id = queue(api, {"format": "jsonl", "limit": 5}, ALICE)
        wait_until_finished(api, export_id, ALICE)
        assert time.monotonic() - started < 3, "finished long before the 10-minute poll"
    finally:
        with admin_connect(jobs_db) as conn:
            conn.execute("ALTER SYSTEM RESET export_system.poll_interval")
            conn.execute("SELECT pg_reload_conf()")


def test_many_jobs_each_run_exactly_once(jobs_db, api):
    ids = [queue(api, {"format": "csv", "limit": n}, ALICE) for n in range(1, 13)]
    for export_id in ids:
        assert wait_until_finished(api, export_id, ALICE)["status"] == "completed"
    rows = fetch_rows(jobs_db, "SELECT j.attempts, l.conversation_count, l.config->>'limit' "
                               "FROM export_system.export_jobs j JOIN export_system.export_logs l USING (export_id) "
                               "WHERE export_id = ANY(%s::uuid[])", (ids,))
    assert len(rows) == len(ids)
    assert all(attempts == 1 and count == int(limit) for attempts, count, limit in rows)


# --- large exports: progress, Supabase paging, crash safety ----------------------------

BULK_CONFIG = {"format": "jsonl", "scope": "all"}


def test_progress_is_visible_from_another_connection_and_paging_fits_supabase(jobs_db, api, tmp_path):
    started = time.monotonic()
    export_id = queue(api, BULK_CONFIG, DAVE)
    seen = []
    first_progress = None

    def finished():
        nonlocal first_progress
        current = status(api, export_id, DAVE)
        if current["progress"]["done"]:
            first_progress = first_progress or time.monotonic() - started
        seen.append((current["progress"]["done"], current["progress"]["total"]))
        return current["status"] not in ("queued", "processing") and current

    final = wait_for(finished, "the bulk export")
    elapsed = time.monotonic() - started
    assert final["status"] == "completed", final
    assert final["conversation_count"] == BULK_CONVERSATIONS
    midway = [(done, total) for done, total in seen if total and 0 < done < total]
    assert midway, f"progress seen: {seen[:5]} ... {seen[-5:]}"
    downloaded, calls, slowest = download_like_supabase(api, export_id, DAVE)
    assert slowest < 8, "every call fits the 8 s statement timeout (enforced, too)"
    expected = sync_export_as(jobs_db, DAVE, BULK_CONFIG, tmp_path / "sync.jsonl")
    assert downloaded == expected
    print(f"\n{BULK_CONVERSATIONS} conversations: job {elapsed:.1f} s "
          f"({BULK_CONVERSATIONS / elapsed:,.0f} conversations/s), first progress after {first_progress:.2f} s, "
          f"{len(midway)} mid-way progress readings; download {len(downloaded):,} bytes in {calls} calls, "
          f"slowest {slowest:.2f} s")


def test_synchronous_export_above_the_threshold_points_to_the_queue(api):
    state, message, hint = sqlstate_of(
        lambda: api.call("SELECT export_system.export_conversations('{\"scope\": \"all\"}')", sub=DAVE))
    assert state == "54000"
    assert "100000 conversations" in message and "queue_export" in hint


def test_restart_immediate_mid_job_reruns_to_identical_output(jobs_db, api, tmp_path):
    export_id = queue(api, BULK_CONFIG, DAVE)
    wait_for(lambda: (status(api, export_id, DAVE)["progress"]["done"] or 0) > 0, "the job to be under way")
    subprocess.run(["sudo", "-u", "postgres", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", os.environ["PGDATA_DIR"],
                    "-l", os.path.join(os.environ["PGDATA_DIR"], "server.log"), "-w", "restart", "-m", "immediate"],
                   check=True, stdout=subprocess.DEVNULL)
    final = wait_until_finished(api, export_id, DAVE)
    assert final["status"] == "completed", final
    attempts = fetch_rows(jobs_db, "SELECT attempts FROM export_system.export_jobs WHERE export_id = %s",
                          (export_id,))[0][0]
    assert attempts == 2, "the interrupted run was rerun once"
    downloaded, _, _ = download_like_supabase(api, export_id, DAVE)
    assert downloaded == sync_export_as(jobs_db, DAVE, BULK_CONFIG, tmp_path / "sync.jsonl")
    assert len(worker_pids(jobs_db)) == 2, "the postmaster restarted both workers"


# --- who sees what -------------------------------------------------------------------

def test_another_user_cannot_see_the_job_or_its_file(jobs_db, api):
    export_id = queue(api, {"format": "jsonl"}, ALICE)
    assert wait_until_finished(api, export_id, ALICE)["status"] == "completed"
    assert status(api, export_id, BOB) is None
    for call in ("download_export", "cancel_export", "retry_export"):
        args = DOWNLOAD_ARGS if call == "download_export" else ID_ARGS
        state, message, _ = sqlstate_of(lambda: rpc(api, call, args, {"export_id": export_id},
                                                    returns_set=call == "download_export", sub=BOB))
        assert state == "P0002" and "not found" in message, call
    assert api.call("SELECT count(*) FROM export_system.export_files WHERE export_id = %s", (export_id,),
                    sub=BOB) == [(0,)]
    assert api.call("SELECT count(*) FROM export_system.export_logs WHERE export_id = %s", (export_id,),
                    sub=BOB) == [(0,)]
    assert api.call("SELECT count(*) > 0 FROM export_system.export_files WHERE export_id = %s", (export_id,),
                    sub=ALICE) == [(True,)]
    state, _, _ = sqlstate_of(lambda: api.call("SELECT * FROM export_system.export_jobs", sub=ALICE))
    assert state == "42501", "job identities are internal"


def test_anon_cannot_queue(api):
    state, _, _ = sqlstate_of(lambda: queue_as_role(api, "anon"))
    assert state == "42501"


def queue_as_role(api, role):
    return rpc(api, "queue_export", QUEUE_ARGS, {"config": {}}, role=role)


def test_a_job_sees_what_its_owner_sees(jobs_db, api):
    export_id = queue(api, {"format": "jsonl", "scope": "all"}, BOB)
    final = wait_until_finished(api, export_id, BOB)
    owned = fetch_rows(jobs_db, "SELECT count(*) FROM public.conversations WHERE user_id = %s", (BOB,))[0][0]
    assert final["conversation_count"] + final["skipped_count"] == owned


# --- errors, cancel, retry ---------------------------------------------------------------

def test_invalid_config_fails_at_queue_time_like_the_synchronous_call(api):
    state, message, hint = sqlstate_of(lambda: queue(api, {"fromat": "csv"}, ALICE))
    assert state == "22023" and '"fromat"' in message and hint


def test_a_failing_job_is_recorded_as_failed_with_its_message(jobs_db, api):
    export_id = queue(api, {"format": "jsonl", "scope": "all", "strict": True}, ALICE)
    final = wait_until_finished(api, export_id, ALICE)
    assert final["status"] == "failed"
    assert "is not a valid openai example" in final["error_message"]
    assert fetch_rows(jobs_db, "SELECT count(*) FROM export_system.export_files WHERE export_id = %s",
                      (export_id,)) == [(0,)]
    state, message, _ = sqlstate_of(lambda: rpc(api, "download_export", DOWNLOAD_ARGS, {"export_id": export_id},
                                                returns_set=True, sub=ALICE))
    assert state == "55000" and "failed" in message


def test_cancel_a_running_job_then_retry_it(jobs_db, api):
    export_id = queue(api, BULK_CONFIG, DAVE)
    wait_for(lambda: status(api, export_id, DAVE)["status"] == "processing", "the job to start")
    assert rpc(api, "cancel_export", ID_ARGS, {"export_id": export_id}, sub=DAVE) is True
    wait_for(lambda: fetch_rows(jobs_db, "SELECT count(*) = 0 FROM export_system.export_files WHERE export_id = %s",
                                (export_id,))[0][0] and not any(
        r for r in fetch_rows(jobs_db, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted")),
        "the worker to stop and drop the partial file")
    final = status(api, export_id, DAVE)
    assert final["status"] == "cancelled" and "cancelled by authenticated" in final["error_message"]
    assert rpc(api, "cancel_export", ID_ARGS, {"export_id": export_id}, sub=DAVE) is False
    retried = rpc(api, "retry_export", ID_ARGS, {"export_id": export_id}, sub=DAVE)
    assert retried != export_id
    assert wait_until_finished(api, retried, DAVE)["conversation_count"] == BULK_CONVERSATIONS
    state, _, _ = sqlstate_of(lambda: rpc(api, "retry_export", ID_ARGS, {"export_id": retried}, sub=DAVE))
    assert state == "55000", "a completed export is downloaded, not retried"


def test_cancelling_before_commit_means_it_never_runs(jobs_db):
    with psycopg.connect(dbname=jobs_db, user="postgres") as conn:
        export_id = conn.execute("SELECT export_system.queue_export('{}')").fetchone()[0]
        assert conn.execute("SELECT export_system.cancel_export(%s)", (export_id,)).fetchone()[0] is True
    time.sleep(1)
    assert fetch_rows(jobs_db, "SELECT status, started_at FROM export_system.export_logs WHERE export_id = %s",
                      (export_id,)) == [("cancelled", None)]


# --- expiry and retention -----------------------------------------------------------------

def completed_job(api, sub=ALICE):
    export_id = queue(api, {"format": "jsonl", "limit": 3}, sub)
    assert wait_until_finished(api, export_id, sub)["status"] == "completed"
    return export_id


def test_cleanup_expires_files_and_deletes_old_audit_rows(jobs_db, api):
    expired, fresh = completed_job(api), completed_job(api)
    with admin_connect(jobs_db) as conn:
        conn.execute("UPDATE export_system.export_logs SET expires_at = now() - interval '1 minute' "
                     "WHERE export_id = %s", (expired,))
        old = conn.execute("""INSERT INTO export_system.export_logs (user_id, db_role, format, config, status, "timestamp")
                              VALUES (%s, 'authenticated', 'jsonl', '{}', 'completed', now() - interval '31 days')
                              RETURNING export_id""", (ALICE,)).fetchone()[0]
        counts = conn.execute("SELECT export_system.cleanup_expired()").fetchone()[0]
    assert counts["expired"] >= 1 and counts["parts_deleted"] >= 1 and counts["logs_deleted"] >= 1
    assert status(api, expired, ALICE)["status"] == "expired"
    assert status(api, fresh, ALICE)["status"] == "completed"
    assert status(api, str(old), ALICE) is None
    assert fetch_rows(jobs_db, "SELECT count(*) FROM export_system.export_files WHERE export_id = %s",
                      (expired,)) == [(0,)]
    state, message, hint = sqlstate_of(lambda: rpc(api, "download_export", DOWNLOAD_ARGS, {"export_id": expired},
                                                   returns_set=True, sub=ALICE))
    assert state == "55000" and "expired" in message and "retry_export" in hint


def test_download_count_is_tracked(api):
    export_id = completed_job(api)
    for _ in range(2):
        rpc(api, "download_export", DOWNLOAD_ARGS, {"export_id": export_id}, returns_set=True, sub=ALICE)
    assert status(api, export_id, ALICE)["download_count"] == 2


def test_worker_cleanup_follows_a_reloaded_interval(jobs_db, api):
    export_id = completed_job(api)
    with admin_connect(jobs_db) as conn:
        conn.execute("UPDATE export_system.export_logs SET expires_at = now() - interval '1 second' "
                     "WHERE export_id = %s", (export_id,))
        conn.execute("ALTER SYSTEM SET export_system.cleanup_interval = '1s'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        wait_for(lambda: status(api, export_id, ALICE)["status"] == "expired", "the worker's cleanup", timeout=15)
    finally:
        with admin_connect(jobs_db) as conn:
            conn.execute("ALTER SYSTEM RESET export_system.cleanup_interval")
            conn.execute("SELECT pg_reload_conf()")
    log = Path(os.environ["PGDATA_DIR"], "server.log").read_text()
    assert re.search(r"LOG:  export_system cleanup: [1-9]\d* export\(s\) expired", log)


# --- a job's own limits: export_system.job_timeout and job_temp_file_limit ------------------

@pytest.fixture
def limits_db():
    """A database without resident workers, whose source reads slowly (a
    policy that sleeps a little per row)."""
    name = create_database("jobs_limits")
    with admin_connect(name) as conn:
        conn.execute("CREATE POLICY slow ON public.conversations AS RESTRICTIVE "
                     "USING (pg_catalog.pg_sleep(0.02) IS NOT NULL)")
    yield name
    with admin_connect(name) as conn:
        for setting in ("export_system.job_timeout", "export_system.job_temp_file_limit", "work_mem"):
            conn.execute(f"ALTER SYSTEM RESET {setting}")
        conn.execute("SELECT pg_reload_conf()")


def run_with_settings(dbname, settings, config):
    with admin_connect(dbname) as conn:
        for name, value in settings.items():
            conn.execute(f"ALTER SYSTEM SET export_system.{name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the reload reaches new workers at their start
    api = Session(dbname)
    export_id = queue(api, config, ALICE)
    with admin_connect(dbname) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    return wait_until_finished(api, export_id, ALICE)


def test_a_job_past_its_timeout_fails_and_says_why(limits_db):
    # Alice's ~80 conversations take about 1.6 s to read at 20 ms a row.
    ended = run_with_settings(limits_db, {"job_timeout": "1s"}, {"scope": "all"})
    assert ended["status"] == "failed"
    assert "export_system.job_timeout (1 s)" in ended["error_message"]
    assert "statement timeout" in ended["error_message"]
    # Without the limit the same job completes.
    assert run_with_settings(limits_db, {"job_timeout": "0"}, {"scope": "all"})["status"] == "completed"


def test_a_job_that_spills_past_its_temp_file_limit_fails(limits_db):
    # With a tiny work_mem the export's sort (hundreds of kB) spills to disk.
    with admin_connect(limits_db) as conn:
        conn.execute("ALTER SYSTEM SET work_mem = '64kB'")
    config = {"scope": "all", "sort": {"by": "title"}}
    ended = run_with_settings(limits_db, {"job_timeout": "0", "job_temp_file_limit": "64kB"}, config)
    assert ended["status"] == "failed"
    assert "temp_file_limit" in ended["error_message"]
    assert run_with_settings(limits_db, {"job_temp_file_limit": "-1"}, config)["status"] == "completed"


# --- hosts without preloaded workers: run_queued_exports() and pg_cron -----------------------

@pytest.fixture(scope="module")
def elsewhere_db():
    return create_database("jobs_elsewhere")


def test_run_queued_exports_serves_a_database_without_workers(elsewhere_db):
    other = Session(elsewhere_db)
    export_id = queue(other, {"format": "csv"}, ALICE)
    time.sleep(1)
    assert status(other, export_id, ALICE)["status"] == "queued", "no resident worker here"
    with admin_connect(elsewhere_db) as conn:
        assert conn.execute("SELECT export_system.run_queued_exports()").fetchone()[0] == 1
    assert wait_until_finished(other, export_id, ALICE)["status"] == "completed"


def skip_without_pg_cron():
    """pg_cron is preloaded where it exists: Debian packages it for PostgreSQL 15 only."""
    with admin_connect("postgres") as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
        if not conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'").fetchone()[0]:
            pytest.skip(f"pg_cron is not installed for PostgreSQL {server} (Debian packages it for 15 only)")


def test_pg_cron_runs_the_cleanup_and_the_queue(elsewhere_db):
    skip_without_pg_cron()
    other = Session(elsewhere_db)
    export_id = queue(other, {"format": "markdown"}, ALICE)
    with admin_connect("postgres") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
        cleanup = conn.execute("SELECT cron.schedule_in_database('export-cleanup', '* * * * *', "
                               "'select export_system.cleanup_expired()', %s)", (elsewhere_db,)).fetchone()[0]
        runner = conn.execute("SELECT cron.schedule_in_database('export-queue', '* * * * *', "
                              "'select export_system.run_queued_exports()', %s)", (elsewhere_db,)).fetchone()[0]
    try:
        def both_succeeded():
            rows = fetch_rows("postgres", "SELECT jobid, status, return_message FROM cron.job_run_details "
                                          "WHERE jobid IN (%s, %s)", (cleanup, runner))
            return {jobid for jobid, state, _ in rows if state == "succeeded"} == {cleanup, runner} and rows
        rows = wait_for(both_succeeded, "pg_cron's first run (minute granularity)", timeout=130, every=1)
        assert wait_until_finished(other, export_id, ALICE)["status"] == "completed"
        print(f"\npg_cron runs: {rows}")
    finally:
        with admin_connect("postgres") as conn:
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")


def test_a_terminated_worker_is_started_again(jobs_db):
    before = set(worker_pids(jobs_db))
    with admin_connect(jobs_db) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE backend_type = 'export_system worker' AND datname = %s", (jobs_db,))
    after = wait_for(lambda: len(pids := worker_pids(jobs_db)) == 2 and not set(pids) & before and pids,
                     "the postmaster to restart the workers", timeout=30)
    assert len(after) == 2
    log = Path(os.environ["PGDATA_DIR"], "server.log").read_text()
    assert 'export_system: worker for database "jobs" shutting down' in log


@pytest.fixture(scope="module")
def unpreloaded_port():
    """A second cluster that does not preload the library: set-up B."""
    data = REPO / ".pgdata" / "no-preload"
    common = f'source "{REPO}/scripts/common.sh"'
    started = subprocess.run(["bash", "-c", f'{common} && start_cluster "{data}" >&2 && echo "$PGPORT"'],
                             capture_output=True, text=True, check=True)
    yield started.stdout.strip()
    subprocess.run(["bash", "-c", f'{common} && stop_cluster "{data}"'], check=True)


def test_without_preloading_the_library_loads_and_run_queued_exports_serves_the_queue(unpreloaded_port):
    def connect():
        return psycopg.connect(host="127.0.0.1", port=unpreloaded_port, dbname="postgres", user="postgres",
                               autocommit=True)

    with connect() as conn:
        conn.execute("CREATE EXTENSION export_system")
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(unpreloaded_port),
                    "-U", "postgres", "-d", "postgres", "-f", str(REPO / "sql/sample_app.sql")],
                   check=True, stdout=subprocess.DEVNULL)
    with connect() as conn:
        conn.execute("""INSERT INTO public.conversations (conversation_id, user_id, status, tier)
                        SELECT 'c' || g, '0000000a-0000-4000-8000-00000000000a', 'approved', 'template'
                        FROM generate_series(1, 3) g""")
        conn.execute("""INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
                        SELECT c.id, t, (ARRAY['user', 'assistant'])[t], 'turn ' || t || ' of ' || c.conversation_id
                        FROM public.conversations c, generate_series(1, 2) t""")
        export_id = conn.execute("SELECT export_system.queue_export('{\"format\": \"csv\"}')").fetchone()[0]
        # Calling it loaded the library, and with it the GUCs.
        assert conn.execute("SHOW export_system.file_ttl").fetchone()[0] == "1d"
        assert conn.execute("SELECT export_system.run_queued_exports()").fetchone()[0] == 1
    with connect() as conn:  # a new backend loads the library without preloading: no FATAL
        wait_for(lambda: conn.execute("SELECT status = 'completed' FROM export_system.export_logs "
                                      "WHERE export_id = %s", (export_id,)).fetchone()[0], "the queue runner")
        downloaded = rows_to_file(r[0] for r in conn.execute("SELECT export_system.download_export(%s)",
                                                            (export_id,)))
        synchronous = rows_to_file(r[0] for r in conn.execute(
            "SELECT export_system.export_conversations('{\"format\": \"csv\"}')"))
    assert downloaded == synchronous and downloaded.count(b"\n") == 7
