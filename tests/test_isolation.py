"""Races between sessions, interleaved step by step (in the spirit of
Postgres's isolation tester): a worker's claim against a user's cancel, and
the cleanup against a download in progress.

The database has no resident worker; run_queued_exports() starts runners
on demand, so each test decides when a job runs.
"""
import json
import threading
import time

import psycopg
import pytest

from support import ALICE, Session, admin_connect, create_database, fetch_rows, rpc

QUEUE_ARGS = {"config": "jsonb"}
ID_ARGS = {"export_id": "uuid"}


@pytest.fixture(scope="module")
def db():
    return create_database("t_isolation")


@pytest.fixture(scope="module")
def api(db):
    return Session(db)


def queue(api, config=None):
    return rpc(api, "queue_export", QUEUE_ARGS, {"config": config or {"scope": "all"}}, sub=ALICE)


def status_of(db, export_id):
    return fetch_rows(db, "SELECT status FROM export_system.export_logs WHERE export_id = %s", (export_id,))[0][0]


def parts_of(db, export_id):
    return fetch_rows(db, "SELECT count(*) FROM export_system.export_files WHERE export_id = %s", (export_id,))[0][0]


def run_queue_until_empty(db, timeout=60):
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = fetch_rows(db, "SELECT count(*) FROM export_system.export_logs "
                                 "WHERE export_system.in_queue(status, delivery)")[0][0]
        if waiting == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the queue did not drain")


def waits_for_a_lock(db, pid):
    return fetch_rows(db, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,)) == [(True,)]


def test_cancel_waits_for_a_claim_in_progress_and_then_wins(db, api):
    export_id = queue(api)
    with admin_connect(db) as worker:
        # Step 1, worker: a claim in progress holds the row (as the claim's
        # SELECT … FOR UPDATE SKIP LOCKED and UPDATE do).
        worker.execute("BEGIN")
        worker.execute("SELECT 1 FROM export_system.export_logs WHERE export_id = %s FOR UPDATE", (export_id,))
        # Step 2, user: cancel blocks on the row.
        outcome = {}
        with psycopg.connect(dbname=db, user="authenticator") as user:
            pid = user.execute("SELECT pg_backend_pid()").fetchone()[0]

            def cancel():
                user.execute("select set_config('role', 'authenticated', true), "
                             "set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": ALICE}),))
                outcome["cancelled"] = user.execute("SELECT export_system.cancel_export(%s)",
                                                    (export_id,)).fetchone()[0]
                user.commit()

            thread = threading.Thread(target=cancel)
            thread.start()
            deadline = time.monotonic() + 10
            while not waits_for_a_lock(db, pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert waits_for_a_lock(db, pid), "cancel_export did not wait for the claim"
            # Step 3, worker: the claim commits `processing`.
            worker.execute("UPDATE export_system.export_logs SET status = 'processing' WHERE export_id = %s",
                           (export_id,))
            worker.execute("COMMIT")
            thread.join()
    # Step 4: the cancel re-checked the row it waited for and won.
    assert outcome["cancelled"] is True
    assert status_of(db, export_id) == "cancelled"
    run_queue_until_empty(db)
    assert status_of(db, export_id) == "cancelled" and parts_of(db, export_id) == 0


def test_a_cancelled_export_is_never_claimed(db, api):
    export_id = queue(api)
    assert rpc(api, "cancel_export", ID_ARGS, {"export_id": export_id}, sub=ALICE) is True
    run_queue_until_empty(db)
    assert status_of(db, export_id) == "cancelled"
    assert fetch_rows(db, "SELECT attempts FROM export_system.export_jobs WHERE export_id = %s",
                      (export_id,)) == [(0,)]


def test_cancels_racing_running_jobs_leave_no_half_state(db, api):
    ids = [queue(api) for _ in range(8)]
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    for export_id in ids[::2]:
        rpc(api, "cancel_export", ID_ARGS, {"export_id": export_id}, sub=ALICE)
    run_queue_until_empty(db)
    for index, export_id in enumerate(ids):
        status = status_of(db, export_id)
        parts = fetch_rows(db, "SELECT part_count FROM export_system.export_logs WHERE export_id = %s",
                           (export_id,))[0][0]
        if index % 2:
            assert status == "completed" and parts_of(db, export_id) == parts >= 1
        else:
            # Cancelled before or while it ran, or finished just before.
            assert status in ("cancelled", "completed"), status
            assert parts_of(db, export_id) == (parts if status == "completed" else 0)


def expire_soon(db, export_id):
    with admin_connect(db) as conn:
        conn.execute("UPDATE export_system.export_logs SET expires_at = now() + interval '1 second' "
                     "WHERE export_id = %s", (export_id,))


def cleanup(db):
    with admin_connect(db) as cron:
        cron.execute("SET lock_timeout = '5s'")  # waiting on a download would be the bug
        return cron.execute("SELECT export_system.cleanup_expired()").fetchone()[0]


def user_session(db):
    user = psycopg.connect(dbname=db, user="authenticator")
    user.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                 (json.dumps({"role": "authenticated", "sub": ALICE}),))
    return user


@pytest.fixture(scope="module")
def large_export(db, api):
    """A finished export of several 1 MiB parts."""
    with admin_connect(db) as conn:
        conn.execute("""
            INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier)
            SELECT gen_random_uuid(), 'big-' || g, %s, 'Big ' || g, 'approved', 'template'
            FROM generate_series(1, 4) g""", (ALICE,))
        conn.execute("""
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT c.id, t, CASE t WHEN 1 THEN 'user' ELSE 'assistant' END, repeat('y', 900000)
            FROM public.conversations c CROSS JOIN generate_series(1, 2) t
            WHERE c.conversation_id LIKE 'big-%%'""")
    return lambda: queue(api, {"scope": "all", "filters": {"search": "Big"}})


def parts(db, export_id):
    return fetch_rows(db, "SELECT content FROM export_system.export_files WHERE export_id = %s ORDER BY part",
                      (export_id,))


def test_the_cleanup_never_waits_for_a_download_and_expires_it_next_time(db, large_export):
    export_id = large_export()
    run_queue_until_empty(db)
    expected = parts(db, export_id)
    assert status_of(db, export_id) == "completed" and len(expected) >= 3
    expire_soon(db, export_id)
    with user_session(db) as user:
        # Step 1, user: a download from the first part (it counts itself on the row).
        user.execute("DECLARE d CURSOR FOR SELECT export_system.download_export(%s)", (export_id,))
        first = user.execute("FETCH 1 FROM d").fetchall()
        time.sleep(1.1)
        # Step 2, pg_cron: the file's time is up, but the cleanup does not
        # wait for the download, and leaves its export be.
        assert cleanup(db)["expired"] == 0
        # Step 3, user: the download reads to the end.
        rest = user.execute("FETCH ALL FROM d").fetchall()
        user.commit()
    assert first + rest == expected
    # Step 4, pg_cron: the next run expires it; a new download is refused with the reason.
    assert cleanup(db)["expired"] == 1 and parts(db, export_id) == []
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="expired"):
        rpc(Session(db), "download_export", {"export_id": "uuid"}, {"export_id": export_id}, returns_set=True,
            sub=ALICE)


def test_a_download_in_progress_keeps_every_part_though_the_cleanup_deletes_them(db, large_export):
    export_id = large_export()
    run_queue_until_empty(db)
    expected = parts(db, export_id)
    expire_soon(db, export_id)
    with user_session(db) as user:
        # Step 1, user: a later page of the download (no lock taken).
        user.execute("DECLARE d CURSOR FOR SELECT export_system.download_export(%s, 2)", (export_id,))
        first = user.execute("FETCH 1 FROM d").fetchall()
        time.sleep(1.1)
        # Step 2, pg_cron: the export expires and its parts are deleted.
        counts = cleanup(db)
        assert counts["expired"] == 1 and counts["parts_deleted"] >= 3 and parts(db, export_id) == []
        # Step 3, user: the download's one snapshot still holds every part it asked for.
        rest = user.execute("FETCH ALL FROM d").fetchall()
        user.commit()
    assert first + rest == expected[1:]
