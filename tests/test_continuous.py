"""Continuous exports: saved exports per owner, increments that hold every
change exactly once ({"saved": name, "since": "last"}), history-wide dedupe,
splits that stay put across runs, and a schedule with pg_cron.

The sample application moves updated_at with triggers, as the README's
*Continuous exports* section asks of an application."""
import json
import random
import threading
import time

import psycopg
import pytest

from support import ALICE, BOB, REPO, Session, admin_connect, create_database, fetch_rows, new_uuid, rpc, rpc_export

SAVE_ARGS = {"name": "text", "config": "jsonb"}
NAME_ARGS = {"name": "text"}
QUEUE_ARGS = {"config": "jsonb"}
ID_ARGS = {"export_id": "uuid"}

# What the README asks of an application: updated_at moves when a
# conversation or any of its turns change.
UPDATED_AT_TRIGGERS = (REPO / "sql" / "sample_app_updated_at.sql").read_text()


@pytest.fixture(scope="module")
def db():
    name = create_database("t_continuous")
    with admin_connect(name) as conn:
        conn.execute(UPDATED_AT_TRIGGERS)
    return name


@pytest.fixture(scope="module")
def api(db):
    return Session(db)


def save(api, name, config, sub=ALICE):
    return rpc(api, "save_export", SAVE_ARGS, {"name": name, "config": config}, sub=sub)


def operator_export(conn, config):
    """An export by the operator (role postgres, no JWT), as psql or pg_cron runs one."""
    return [row[0] for row in
            conn.execute("SELECT export_system.export_conversations(%s::jsonb)", (json.dumps(config),)).fetchall()]


def by_conversation(lines):
    """JSONL lines with metadata, keyed by conversation id."""
    return {json.loads(line)["metadata"]["conversation_id"]: line for line in lines}


def add_conversation(conn, label, text, status="approved", user=ALICE):
    conversation = new_uuid()
    conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier) "
                 "VALUES (%s, %s, %s, %s, %s, 'template')", (conversation, label, user, label, status))
    conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) "
                 "VALUES (%s, 1, 'user', %s), (%s, 2, 'assistant', %s)",
                 (conversation, f"Question: {text}", conversation, f"Answer: {text}"))
    return conversation


def edit_answer(conn, conversation, text):
    conn.execute("UPDATE public.conversation_turns SET content = %s "
                 "WHERE conversation_id = %s AND turn_number = 2", (f"Answer: {text}", conversation))


# --- Saved exports: named configs, validated, per owner -----------------------------------

def test_a_saved_export_is_a_config_that_keys_beside_it_override(db, api):
    saved = save(api, "csv-all", {"format": "csv", "scope": "all", "bom": False})
    assert saved["name"] == "csv-all" and saved["config"] == {"format": "csv", "scope": "all", "bom": False}
    assert rpc_export(api, {"saved": "csv-all"}, sub=ALICE) == \
        rpc_export(api, {"format": "csv", "scope": "all", "bom": False}, sub=ALICE)
    assert rpc_export(api, {"saved": "csv-all", "format": "markdown"}, sub=ALICE) == \
        rpc_export(api, {"format": "markdown", "scope": "all", "bom": False}, sub=ALICE)
    replaced = save(api, "csv-all", {"format": "csv", "scope": "approved"})
    assert replaced["config"] == {"format": "csv", "scope": "approved"}
    names = [s["name"] for s in rpc(api, "saved_exports", {}, {}, sub=ALICE)]
    assert names.count("csv-all") == 1
    queued = rpc(api, "queue_export", QUEUE_ARGS, {"config": {"saved": "csv-all"}}, sub=ALICE)
    status = rpc(api, "export_status", ID_ARGS, {"export_id": queued}, sub=ALICE)
    assert status["saved_export"] == "csv-all" and status["increment"] is None
    assert rpc(api, "drop_saved_export", NAME_ARGS, {"name": "csv-all"}, sub=ALICE) is True
    assert rpc(api, "drop_saved_export", NAME_ARGS, {"name": "csv-all"}, sub=ALICE) is False


@pytest.mark.parametrize("name, config, sqlstate, named", [
    ("with space", {}, "22023", "not a valid saved export name"),
    ("x" * 64, {}, "22023", "not a valid saved export name"),
    ("ok", {"fromat": "csv"}, "22023", '"fromat"'),
    ("ok", {"format": "xml"}, "22023", '"format"'),
    ("ok", {"saved": "other"}, "22023", '"saved"'),
    ("ok", {"since": "last"}, "22023", '"since"'),
    ("ok", {"dedupe": "always"}, "22023", '"dedupe"'),
    ("ok", {"limit": 5, "dedupe": "history"}, None, None),
])
def test_saving_validates_the_name_and_the_config_like_an_export(api, name, config, sqlstate, named):
    if sqlstate is None:
        assert save(api, name, config)["config"] == config
        return
    with pytest.raises(psycopg.Error) as raised:
        save(api, name, config)
    assert raised.value.sqlstate == sqlstate
    assert named in raised.value.diag.message_primary
    assert raised.value.diag.message_hint


@pytest.mark.parametrize("config, sqlstate, named", [
    ({"saved": "nope"}, "42704", 'saved export "nope" not found'),
    ({"saved": "bad name"}, "22023", "not a valid saved export name"),
    ({"since": "last"}, "22023", '"since" needs a saved export'),
    ({"dedupe": "history"}, "22023", '"dedupe" needs a saved export'),
    ({"saved": "inc", "since": "yesterday"}, "22023", '"since" must be "last"'),
    ({"saved": "inc", "since": "last", "filters": {"tier": ["template"]}}, "22023", '"filters" cannot change'),
    ({"saved": "inc", "since": "last", "scope": "all"}, "22023", '"scope" cannot change'),
    ({"saved": "inc", "since": "last", "split": {"validation": 0.5, "part": "train"}}, "22023",
     '"split" cannot change'),
    ({"saved": "inc", "since": "last", "redact": True}, "22023", '"redact" cannot change'),
    ({"saved": "limited", "since": "last"}, "22023", '"limit" cannot be used with "since"'),
])
def test_bad_continuous_configs_are_refused_with_their_sqlstate(api, config, sqlstate, named):
    save(api, "inc", {"format": "jsonl"})
    save(api, "limited", {"limit": 3})
    with pytest.raises(psycopg.Error) as raised:
        rpc_export(api, config, sub=ALICE)
    assert raised.value.sqlstate == sqlstate, raised.value
    assert named in raised.value.diag.message_primary
    assert raised.value.diag.message_hint


def test_owners_never_see_use_or_advance_each_others_saved_exports(db, api):
    save(api, "mine", {"format": "jsonl", "include_metadata": True}, sub=ALICE)
    assert "mine" not in [s["name"] for s in rpc(api, "saved_exports", {}, {}, sub=BOB)]
    for call in (lambda: rpc_export(api, {"saved": "mine"}, sub=BOB),
                 lambda: rpc_export(api, {"saved": "mine", "since": "last"}, sub=BOB),
                 lambda: rpc(api, "queue_export", QUEUE_ARGS, {"config": {"saved": "mine"}}, sub=BOB),
                 lambda: rpc(api, "preview_export", QUEUE_ARGS, {"config": {"saved": "mine"}}, sub=BOB,
                             returns_set=True)):
        with pytest.raises(psycopg.errors.UndefinedObject):
            call()
    assert rpc(api, "drop_saved_export", NAME_ARGS, {"name": "mine"}, sub=BOB) is False
    # Bob's own "mine" is his: his increments move his checkpoint, never alice's.
    save(api, "mine", {"format": "jsonl", "include_metadata": True}, sub=BOB)
    bob_first = rpc_export(api, {"saved": "mine", "since": "last"}, sub=BOB)
    alice_first = rpc_export(api, {"saved": "mine", "since": "last"}, sub=ALICE)
    assert bob_first and alice_first and not set(by_conversation(bob_first)) & set(by_conversation(alice_first))
    listed = {s["name"]: s for s in rpc(api, "saved_exports", {}, {}, sub=ALICE)}
    assert listed["mine"]["increments"]["all"]["completed"] == 1
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        rpc(api, "saved_exports", {}, {}, role="anon")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        rpc(api, "save_export", SAVE_ARGS, {"name": "x", "config": {}}, role="anon")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        Session(db).call("SELECT * FROM export_system.saved_export_checkpoints", sub=ALICE)


# --- Increments ------------------------------------------------------------------------

def test_increments_hold_what_changed_and_a_rolled_back_run_moves_nothing(db, api):
    save(api, "weekly", {"format": "jsonl", "include_metadata": True}, sub=ALICE)
    increment = {"saved": "weekly", "since": "last"}
    with admin_connect(db) as conn:
        changed = add_conversation(conn, "inc-edited", "the first answer")
    first = by_conversation(rpc_export(api, increment, sub=ALICE))
    assert first == by_conversation(rpc_export(api, {"format": "jsonl", "include_metadata": True}, sub=ALICE))
    assert rpc_export(api, increment, sub=ALICE) == [], "nothing changed"
    with admin_connect(db) as conn:
        add_conversation(conn, "inc-new", "brand new")
        edit_answer(conn, changed, "an edited answer")
        entering = add_conversation(conn, "inc-draft", "approved later", status="draft")
    # A run whose transaction rolls back moves nothing: the next one holds the same.
    rolled_back = rpc_export(api, increment, sub=ALICE, rollback=True)
    second = rpc_export(api, increment, sub=ALICE)
    assert rolled_back == second
    labels = {json.loads(line)["metadata"]["conversation_id"] for line in second}
    assert labels == {"inc-new", "inc-edited"}
    assert "an edited answer" in by_conversation(second)["inc-edited"]
    with admin_connect(db) as conn:
        conn.execute("UPDATE public.conversations SET status = 'approved' WHERE id = %s", (entering,))
    third = rpc_export(api, increment, sub=ALICE)
    assert [json.loads(line)["metadata"]["conversation_id"] for line in third] == ["inc-draft"]
    history = rpc(api, "export_history", {"filter": "jsonb"}, {"filter": {"limit": 100}}, sub=ALICE)["exports"]
    runs = [(e["saved_export"], e["increment"], e["conversation_count"]) for e in history
            if e["saved_export"] == "weekly"]
    assert runs[:4] == [("weekly", 4, 1), ("weekly", 3, 2), ("weekly", 2, 0), ("weekly", 1, len(first))]


def test_a_change_committed_after_a_run_began_is_in_the_next_increment_once(db):
    """A writer's transaction begins before a run and commits after it: its
    updated_at (its own start) is older than the run, which could not see it."""
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.save_export('late', '{\"include_metadata\": true}')")
        conversation = add_conversation(conn, "late-one", "before")
        operator_export(conn, {"saved": "late", "since": "last"})
    writer = psycopg.connect(dbname=db, user="postgres")
    try:
        edit_answer(writer, conversation, "written by a late commit")  # begins, holds
        with admin_connect(db) as conn:
            during = operator_export(conn, {"saved": "late", "since": "last"})
        assert "late-one" not in by_conversation(during)
        writer.commit()
        with admin_connect(db) as conn:
            after = by_conversation(operator_export(conn, {"saved": "late", "since": "last"}))
            assert "written by a late commit" in after["late-one"]
            assert operator_export(conn, {"saved": "late", "since": "last"}) == []
    finally:
        writer.close()


def test_a_source_without_updated_at_cannot_be_followed(db, api):
    with admin_connect(db) as conn:
        conn.execute("CREATE TABLE public.no_updated_at (id uuid PRIMARY KEY, messages jsonb NOT NULL, owner uuid)")
        conn.execute("ALTER TABLE public.no_updated_at ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY owner ON public.no_updated_at USING (owner = (SELECT auth.uid()))")
        conn.execute("GRANT SELECT ON public.no_updated_at TO authenticated")
        conn.execute("SELECT export_system.set_source('public.no_updated_at')")
    try:
        save(api, "embedded", {"scope": "all"})
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='"updated_at" column'):
            rpc_export(api, {"saved": "embedded", "since": "last"}, sub=ALICE)
    finally:
        with admin_connect(db) as conn:
            conn.execute("SELECT export_system.set_source('public.conversations', 'public.conversation_turns')")


def test_an_updated_at_that_is_not_an_exact_instant_cannot_be_followed(db, api):
    """A timestamp without time zone is read in each session's TimeZone; a
    rounded one can fall before the start of the transaction that wrote it."""
    with admin_connect(db) as conn:
        for name, column in [("local_time", "timestamp"), ("rounded", "timestamptz(0)")]:
            conn.execute(f"CREATE TABLE public.{name} (id uuid PRIMARY KEY, messages jsonb NOT NULL, owner uuid, "
                         f"updated_at {column})")
            conn.execute(f"ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY")
            conn.execute(f"CREATE POLICY owner ON public.{name} USING (owner = (SELECT auth.uid()))")
            conn.execute(f"GRANT SELECT ON public.{name} TO authenticated")
    try:
        save(api, "instants", {"scope": "all"})
        for name, described in [("local_time", "timestamp without time zone"),
                                ("rounded", "timestamp with time zone")]:
            with admin_connect(db) as conn:
                conn.execute(f"SELECT export_system.set_source('public.{name}')")
            with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
                rpc_export(api, {"saved": "instants", "since": "last"}, sub=ALICE)
            assert "timestamptz to the microsecond" in raised.value.diag.message_primary
            assert described in raised.value.diag.message_primary
    finally:
        with admin_connect(db) as conn:
            conn.execute("SELECT export_system.set_source('public.conversations', 'public.conversation_turns')")


def test_a_replaced_config_starts_the_increments_over(db):
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.save_export('replaced', '{\"include_metadata\": true}')")
        first = operator_export(conn, {"saved": "replaced", "since": "last"})
        assert first and operator_export(conn, {"saved": "replaced", "since": "last"}) == []
        conn.execute("SELECT export_system.save_export('replaced', '{\"include_metadata\": true}')")
        assert operator_export(conn, {"saved": "replaced", "since": "last"}) == [], "the same config: unchanged"
        conn.execute("SELECT export_system.save_export('replaced', "
                     "'{\"include_metadata\": true, \"scope\": \"all\"}')")
        again = operator_export(conn, {"saved": "replaced", "since": "last"})
        assert set(by_conversation(first)) < set(by_conversation(again)), "a new selection, read from the start"


def test_a_job_whose_checkpoint_another_run_moved_fails_and_moves_nothing(db):
    """A queued increment reads its checkpoint when it opens, while a streamed
    increment of the same saved export is under way; the streamed one
    completes first: the job fails (40001's message) instead of exporting
    the same changes twice, and the checkpoint counts one increment."""
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.save_export('raced', '{}')")
        operator_export(conn, {"saved": "raced", "since": "last"})
        for n in range(2):
            add_conversation(conn, f"raced-{n}", f"new for both runs {n}")
    streamed = psycopg.connect(dbname=db, user="postgres")
    try:
        cursor = streamed.cursor(name="increment")
        cursor.execute("SELECT export_system.export_conversations('{\"saved\": \"raced\", \"since\": \"last\"}')")
        assert cursor.fetchone(), "under way: it holds its checkpoint"
        with admin_connect(db) as conn:
            export_id = conn.execute("SELECT export_system.queue_export("
                                     "'{\"saved\": \"raced\", \"since\": \"last\"}')").fetchone()[0]
            conn.execute("SELECT export_system.run_queued_exports()")
        wait_for(lambda: fetch_rows(
            db, "SELECT 1 FROM export_system.export_jobs j JOIN pg_locks l ON l.pid = j.worker_pid "
                "WHERE j.export_id = %s AND NOT l.granted", (export_id,)), "the job to wait on the checkpoint")
        assert len(cursor.fetchall()) == 1
        cursor.close()
        streamed.commit()
    finally:
        streamed.close()
    wait_for(lambda: fetch_rows(db, "SELECT status FROM export_system.export_logs WHERE export_id = %s",
                                (export_id,))[0][0] == "failed", "the job to fail")
    [(message, increment)] = fetch_rows(db, "SELECT error_message, increment FROM export_system.export_logs "
                                            "WHERE export_id = %s", (export_id,))
    assert 'another increment of saved export "raced" (all) completed while this one ran' in message
    assert increment is None
    with admin_connect(db) as conn:
        listed = {s["name"]: s for s in conn.execute("SELECT export_system.saved_exports()").fetchone()[0]}
    assert listed["raced"]["increments"]["all"]["completed"] == 2


def test_an_increment_outside_read_committed_is_refused(db):
    with psycopg.connect(dbname=db, user="postgres") as conn:
        conn.execute("SELECT export_system.save_export('rr', '{}')")
        conn.commit()
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="READ COMMITTED"):
            operator_export(conn, {"saved": "rr", "since": "last"})


# --- Exactly once under concurrency ----------------------------------------------------------

def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def run_queue_killed_once(db):
    """Queue an increment as a job, terminate its runner while it waits on a
    lock, then run the queue again: the rerun is the job's only completed run."""
    with admin_connect(db) as conn:
        export_id = conn.execute("SELECT export_system.queue_export("
                                 "'{\"saved\": \"live\", \"since\": \"last\"}')").fetchone()[0]
    blocker = psycopg.connect(dbname=db, user="postgres")
    try:
        blocker.execute("LOCK TABLE public.conversation_turns IN ACCESS EXCLUSIVE MODE")
        with admin_connect(db) as conn:
            conn.execute("SELECT export_system.run_queued_exports()")
        runner = wait_for(lambda: fetch_rows(
            db, "SELECT j.worker_pid FROM export_system.export_jobs j JOIN pg_locks l ON l.pid = j.worker_pid "
                "WHERE j.export_id = %s AND NOT l.granted", (export_id,)), "the job's runner to wait on the lock")
        with admin_connect(db) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (runner[0][0],))
    finally:
        blocker.rollback()
        blocker.close()
    # A runner stops between batches (the first one included), leaving its job to be run again.
    wait_for(lambda: not fetch_rows(db, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (runner[0][0],)),
             "the runner to exit")
    assert fetch_rows(db, "SELECT status FROM export_system.export_logs WHERE export_id = %s",
                      (export_id,)) == [("processing",)]
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    wait_for(lambda: fetch_rows(db, "SELECT status FROM export_system.export_logs WHERE export_id = %s",
                                (export_id,))[0][0] not in ("queued", "processing"), "the rerun")
    status, attempts = fetch_rows(db, "SELECT l.status, j.attempts FROM export_system.export_logs l "
                                      "JOIN export_system.export_jobs j USING (export_id) WHERE export_id = %s",
                                  (export_id,))[0]
    assert (status, attempts) == ("completed", 2)
    with admin_connect(db) as conn:
        parts = [row[0] for row in conn.execute("SELECT export_system.download_export(%s)", (export_id,))]
    return "\n".join(parts).split("\n") if parts else []


def test_concurrent_writers_and_increments_export_every_change_exactly_once(db):
    """Two writers insert, edit and approve conversations, some transactions
    held open across runs and some rolled back; increments run every tenth
    of a second, some rolled back, and one as a job whose runner is killed.
    The increments together hold each conversation's final content, and no
    conversation twice with the same content."""
    config = {"format": "jsonl", "include_metadata": True, "filters": {"persona": ["live"]}}
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.save_export('live', %s::jsonb)", (json.dumps(config),))
    stop = threading.Event()
    errors = []

    def writer(seed):
        rng = random.Random(seed)
        mine = []
        version = 0
        with psycopg.connect(dbname=db, user="postgres") as conn:
            while not stop.is_set():
                version += 1
                text = f"writer {seed} version {version}"
                try:
                    action = rng.random()
                    if action < 0.35 or not mine:
                        status = "draft" if rng.random() < 0.2 else "approved"
                        conversation = add_conversation(conn, f"live-{seed}-{version}", text, status=status)
                        conn.execute("UPDATE public.conversations SET persona = 'live' WHERE id = %s",
                                     (conversation,))
                        mine.append(conversation)
                    elif action < 0.85:
                        edit_answer(conn, rng.choice(mine), text)
                    else:
                        # Approved (again), under a title of its own: every version's line differs
                        # (the file shows updated_at to the millisecond only).
                        conn.execute("UPDATE public.conversations SET status = 'approved', title = %s WHERE id = %s",
                                     (f"approved as {text}", rng.choice(mine)))
                    time.sleep(rng.choice([0, 0, 0.02, 0.15, 0.4]))  # some span several increments
                    if rng.random() < 0.1:
                        conn.rollback()
                    else:
                        conn.commit()
                except psycopg.Error as error:  # a deadlock between the writers: retried as users would
                    conn.rollback()
                    if not isinstance(error, psycopg.errors.DeadlockDetected):
                        errors.append(error)

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in (1, 2)]
    for thread in writers:
        thread.start()
    increments = []
    job_increment = None
    rolled_back = 0
    rng = random.Random(7)
    try:
        with psycopg.connect(dbname=db, user="postgres") as conn:
            started = time.monotonic()
            job_done = False
            while time.monotonic() - started < 12:
                lines = operator_export(conn, {"saved": "live", "since": "last"})
                if rng.random() < 0.2:
                    conn.rollback()
                    rolled_back += 1
                else:
                    conn.commit()
                    increments.append(lines)
                if not job_done and time.monotonic() - started > 5:
                    job_increment = len(increments)
                    increments.append(run_queue_killed_once(db))
                    job_done = True
                time.sleep(rng.choice([0.05, 0.1, 0.2]))
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert not errors, errors
    with admin_connect(db) as conn:
        increments.append(operator_export(conn, {"saved": "live", "since": "last"}))
        final = by_conversation(operator_export(conn, config))
    latest = {}
    seen = {}
    for number, lines in enumerate(increments):
        for line in lines:
            conversation = json.loads(line)["metadata"]["conversation_id"]
            assert (conversation, line) not in seen, (
                f"{conversation} exported unchanged by increments {seen[(conversation, line)]} and {number} "
                f"(of {len(increments)}; the job's is {job_increment}): {line}")
            seen[(conversation, line)] = number
            latest[conversation] = line
    assert final, "the writers made conversations"
    assert rolled_back > 0 and len(increments) > 20
    missing = {c: line for c, line in final.items() if latest.get(c) != line}
    assert not missing, f"{len(missing)} of {len(final)} conversations' final content is in no increment"
    print(f"\n{len(increments)} increments ({rolled_back} rolled back), {len(seen)} lines, "
          f"{len(final)} conversations at the end")


# --- History-wide dedupe and stable splits ---------------------------------------------------

def test_history_dedupe_skips_what_an_earlier_run_emitted_and_names_it(db):
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.save_export('deduped', "
                     "'{\"dedupe\": \"history\", \"include_metadata\": true, \"filters\": {\"persona\": [\"dd\"]}}')")
        first_id = add_conversation(conn, "dd-1", "the same example")
        conn.execute("UPDATE public.conversations SET persona = 'dd' WHERE id = %s", (first_id,))
        first = operator_export(conn, {"saved": "deduped", "since": "last"})
        first_export = conn.execute("SELECT export_id FROM export_system.export_logs "
                                    "WHERE saved_export = 'deduped' ORDER BY \"timestamp\" DESC LIMIT 1").fetchone()[0]
        assert list(by_conversation(first)) == ["dd-1"]
        repeat = add_conversation(conn, "dd-2", "the same example")
        other = add_conversation(conn, "dd-3", "a different example")
        conn.execute("UPDATE public.conversations SET persona = 'dd' WHERE id IN (%s, %s)", (repeat, other))
        notices = []
        conn.add_notice_handler(lambda notice: notices.append(notice.message_primary))
        second = operator_export(conn, {"saved": "deduped", "since": "last"})
        assert list(by_conversation(second)) == ["dd-3"]
        assert any(f"duplicate of export {first_export}" in n for n in notices), notices
        # Without "since" the whole selection is read, and history still applies.
        assert operator_export(conn, {"saved": "deduped"}) == []
        saved_id = conn.execute("SELECT id FROM export_system.saved_exports WHERE name = 'deduped'").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM export_system.saved_export_examples WHERE saved_export = %s",
                            (saved_id,)).fetchone()[0] == 2
        assert conn.execute("SELECT export_system.drop_saved_export('deduped')").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM export_system.saved_export_examples WHERE saved_export = %s",
                            (saved_id,)).fetchone()[0] == 0


def test_an_example_never_moves_between_train_and_validation_across_runs(db):
    split = {"validation": 0.5, "seed": "stable"}
    with admin_connect(db) as conn:
        for part in ("train", "validation"):
            conn.execute("SELECT export_system.save_export(%s, %s::jsonb)", (
                f"split-{part}", json.dumps({"filters": {"persona": ["split"]}, "split": {**split, "part": part}})))
        parts = {"train": set(), "validation": set()}
        for run in range(6):
            for n in range(8):
                # Later runs repeat earlier contents under new conversations.
                conversation = add_conversation(conn, f"split-{run}-{n}", f"example {(run * 8 + n) % 20}")
                conn.execute("UPDATE public.conversations SET persona = 'split' WHERE id = %s", (conversation,))
            for part in parts:
                for line in operator_export(conn, {"saved": f"split-{part}", "since": "last"}):
                    parts[part].add(json.dumps(json.loads(line)["messages"]))
        assert parts["train"] and parts["validation"]
        assert not parts["train"] & parts["validation"]
        listed = {s["name"]: s for s in conn.execute("SELECT export_system.saved_exports()").fetchone()[0]}
        assert listed["split-train"]["increments"]["train"]["completed"] == 6
        assert listed["split-validation"]["increments"]["validation"]["completed"] == 6


# --- On a schedule --------------------------------------------------------------------------

def test_pg_cron_queues_the_weekly_increment_and_the_job_runs_as_its_owner(db):
    with admin_connect("postgres") as conn:
        if not conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'").fetchone()[0]:
            pytest.skip("pg_cron is not installed here (Debian packages it for PostgreSQL 15 only)")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.save_export('weekly-train', '{\"include_metadata\": true}')")
        before = conn.execute("SELECT count(*) FROM export_system.export_logs "
                              "WHERE saved_export = 'weekly-train'").fetchone()[0]
    try:
        with admin_connect("postgres") as conn:
            # The README's recipe, every minute instead of '0 3 * * 1'.
            conn.execute("SELECT cron.schedule_in_database('weekly-train', '* * * * *', "
                         "$$SELECT export_system.queue_export('{\"saved\": \"weekly-train\", \"since\": \"last\"}')$$, "
                         "%s)", (db,))
        deadline = time.monotonic() + 130
        while fetch_rows(db, "SELECT count(*) FROM export_system.export_logs "
                             "WHERE saved_export = 'weekly-train'")[0][0] <= before:
            assert time.monotonic() < deadline, "pg_cron never queued the increment"
            time.sleep(0.5)
    finally:
        with admin_connect("postgres") as conn:
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    wait_for(lambda: not fetch_rows(db, "SELECT 1 FROM export_system.export_logs WHERE saved_export = 'weekly-train' "
                                        "AND status IN ('queued', 'processing')"), "the queued increments")
    with admin_connect(db) as conn:
        rows = conn.execute("SELECT status, increment, db_role, user_id FROM export_system.export_logs "
                            "WHERE saved_export = 'weekly-train' ORDER BY created_at").fetchall()
    assert rows[0][:2] == ("completed", 1), rows
    assert all(row[2] == "postgres" and row[3] is None for row in rows), "run as the saved export's owner"


def test_a_tenants_scheduled_increment_runs_as_the_tenant(db, api):
    """docs/continuous.md's pg_cron command for a tenant's saved export, run as
    pg_cron runs it (the scheduling role, postgres, one session): the job
    takes alice's role and subject, reads under her RLS, moves her checkpoint."""
    save(api, "tenant-weekly", {"include_metadata": True}, sub=ALICE)
    save(api, "tenant-weekly", {"include_metadata": True}, sub=BOB)
    command = f"""
  SET ROLE authenticated;
  SELECT set_config('request.jwt.claims', '{{"sub": "{ALICE}", "role": "authenticated"}}', false);
  SELECT export_system.queue_export('{{"saved": "tenant-weekly", "since": "last"}}');
"""
    with admin_connect(db) as conn:
        conn.execute(command)
    with admin_connect(db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    wait_for(lambda: not fetch_rows(db, "SELECT 1 FROM export_system.export_logs WHERE saved_export = "
                                        "'tenant-weekly' AND status IN ('queued', 'processing')"), "the job")
    [(export_id, status, user_id, db_role, increment)] = fetch_rows(
        db, "SELECT export_id, status, user_id::text, db_role, increment FROM export_system.export_logs "
            "WHERE saved_export = 'tenant-weekly'")
    assert (status, user_id, db_role, increment) == ("completed", ALICE, "authenticated", 1)
    lines = "\n".join(rpc(api, "download_export", {"export_id": "uuid"}, {"export_id": str(export_id)},
                          returns_set=True, sub=ALICE)).split("\n")
    owners = {row[0] for row in fetch_rows(db, "SELECT user_id::text FROM public.conversations WHERE "
                                               "conversation_id = ANY(%s)",
                                           ([json.loads(line)["metadata"]["conversation_id"] for line in lines],))}
    assert owners == {ALICE}
    listed = {s["name"]: s for s in rpc(api, "saved_exports", {}, {}, sub=BOB)}
    assert listed["tenant-weekly"]["increments"] == {}, "bob's checkpoint never moved"
