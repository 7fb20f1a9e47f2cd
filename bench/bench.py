#!/usr/bin/env python3
"""The export benchmark behind `make bench` (scripts/bench.sh starts the cluster).

For each dataset size, on the same data, in one run:
  floor               COPY (<the export's own query>) TO '/dev/null', server side
  copy_to_client      the same COPY ... TO STDOUT through psql into a file (reference)
  plain_sql           hand-written SQL giving our exact JSONL bytes, psql into a file
  plain_sql_json_agg  json_build_object + json_agg, as most people write it
  jsonl/json/csv/markdown
                      export_system.export_conversations('{"format": ...}') through
                      the README's psql command into a file
then concurrent exports by 1, 2 and 4 users under RLS on the largest dataset.

Every psql run is timed by wall clock (connection included); each method
runs several times (5 at 1k, 3 at 10k and 100k), interleaved with the others
so that noise hits them alike, and the median counts. While it runs, a
monitor samples its backend's /proc/<pid>/status (RssAnon: the backend's own
heap; shared buffers are RssShmem and are left out) and the output file's size
(time to the first row: when psql has written the first bytes, i.e. after it
fetched its first FETCH_COUNT=1000 rows). Memory growth is the peak RssAnon
minus that of a freshly connected backend.

Environment: PGHOST/PGPORT/PGUSER of a superuser, as scripts/common.sh exports.
"""

import argparse
import csv
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
USERS = [f"be000000-0000-4000-8000-00000000000{n}" for n in range(1, 9)]
FORMATS = ["jsonl", "json", "csv", "markdown"]
REFERENCES = ["floor", "copy_to_client", "plain_sql", "plain_sql_json_agg"]
METHODS = REFERENCES + FORMATS
CONCURRENCY = [1, 2, 4]
EXTENSION = "export_system"  # --extension: a differently named build, to compare
MB = 1e6
MIB = 1 << 20

# Targets (issue 6).
TARGET_PLAIN_SPEEDUP = 1.5
TARGET_FIRST_ROW_S = 0.2
TARGET_FLOOR_RATIO = 2.0
TARGET_MEMORY_MIB = 64
TARGET_SCALING = 1.25  # time per conversation, largest size over the next one

# Targets against the bare-query floor (issue 19): export config -> the most
# its time may be over COPY of just the data the file needs.
BARE_FLOOR_TARGETS = {
    "jsonl (openai, no metadata)": ('{"format": "jsonl"}', 1.2),
    "csv, no metadata": ('{"format": "csv", "include_metadata": false}', 1.5),
    "markdown, no metadata": ('{"format": "markdown", "include_metadata": false}', 1.5),
    "json, no metadata": ('{"format": "json", "include_metadata": false}', 1.5),
    "csv, default metadata": ('{"format": "csv"}', 1.8),
    "markdown, default metadata": ('{"format": "markdown"}', 1.8),
    "json, default metadata": ('{"format": "json"}', 1.8),
}


# Who the bare-floor measurements run as: label -> login role. bench_user1
# is a member of `authenticated` with its JWT subject (create_bench_roles).
BARE_FLOOR_ROLES = {"superuser": "postgres", "rls_user": "bench_user1"}


def log(message):
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def sql_file(name):
    """A query from bench/*.sql without its comment lines, for psql -c."""
    lines = (BENCH / name).read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()


def size_label(n):
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def admin(dbname="postgres"):
    return psycopg.connect(dbname=dbname, user="postgres", autocommit=True)


def proc_status(pid):
    """kB figures of /proc/<pid>/status, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssShmem", "RssFile"):
            out[key] = int(value.split()[0])
    return out


class Monitor(threading.Thread):
    """Finds the backends of psql runs by application_name, samples their
    memory, and notes when each output file gets its first bytes."""

    def __init__(self, dbname, targets, started):
        super().__init__(daemon=True)
        self.conn = admin(dbname)
        self.targets = {
            app: {"out": out, "pid": None, "peak_anon_kb": 0, "samples": 0, "first_byte": None}
            for app, out in targets
        }
        self.started = started
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            now = time.perf_counter()
            missing = [app for app, t in self.targets.items() if t["pid"] is None]
            if missing:
                rows = self.conn.execute(
                    "SELECT application_name, pid FROM pg_stat_activity WHERE application_name = ANY(%s)",
                    (missing,),
                ).fetchall()
                for app, pid in rows:
                    self.targets[app]["pid"] = pid
            for t in self.targets.values():
                if t["pid"] is not None:
                    status = proc_status(t["pid"])
                    if status:
                        t["samples"] += 1
                        t["peak_anon_kb"] = max(t["peak_anon_kb"], status.get("RssAnon", 0))
                if t["first_byte"] is None and t["out"] and os.path.exists(t["out"]):
                    if os.path.getsize(t["out"]) > 0:
                        t["first_byte"] = now - self.started
            self.done.wait(0.005)

    def stop(self):
        self.done.set()
        self.join()
        self.conn.close()
        return self.targets


def psql(dbname, sql, out, user="postgres", cursor=True, client="psql", settings=()):
    """A psql command writing `sql`'s rows into `out`; each of `settings` runs
    first as its own -c, so psql still reads a SELECT through a cursor."""
    command = [client, "-XAtq", "-v", "ON_ERROR_STOP=1"]
    if cursor:
        command += ["-v", "FETCH_COUNT=1000"]
    command += ["-d", dbname, "-U", user]
    for setting in settings:
        command += ["-c", setting]
    return command + ["-c", sql, "-o", str(out)]


def run_psql(dbname, runs):
    """Start every (name, command, out) in `runs` at once; wall time to the last."""
    apps = [f"bench-{name}-{uuid.uuid4().hex[:8]}" for name, _, _ in runs]
    for _, _, out in runs:
        if out and Path(out).exists() and str(out) != "/dev/null":
            Path(out).unlink()
    monitor = Monitor(dbname, [(app, None if str(out) == "/dev/null" else str(out))
                               for app, (_, _, out) in zip(apps, runs)], None)
    started = monitor.started = time.perf_counter()
    monitor.start()
    errors = [tempfile.TemporaryFile() for _ in runs]
    processes = [
        subprocess.Popen(command, env=dict(os.environ, PGAPPNAME=app),
                         stdout=subprocess.DEVNULL, stderr=error)
        for app, (_, command, _), error in zip(apps, runs, errors)
    ]
    finished = [None] * len(processes)
    while None in finished:
        for i, process in enumerate(processes):
            if finished[i] is None and process.poll() is not None:
                finished[i] = time.perf_counter() - started
        time.sleep(0.001)
    wall = time.perf_counter() - started
    for process, error in zip(processes, errors):
        if process.returncode != 0:
            monitor.stop()
            error.seek(0)
            raise RuntimeError(f"psql failed ({process.returncode}): {error.read().decode()[-2000:]}")
        error.close()
    targets = monitor.stop()
    results = []
    for app, (name, _, out), seconds in zip(apps, runs, finished):
        t = targets[app]
        results.append({
            "name": name,
            "seconds": seconds,
            "bytes": os.path.getsize(out) if str(out) != "/dev/null" else None,
            "first_row_s": t["first_byte"],
            "peak_anon_kb": t["peak_anon_kb"] or None,
            "samples": t["samples"],
        })
    return wall, results


def fresh_backend_anon_kb(dbname):
    """RssAnon of a backend that has just connected (the smallest of three)."""
    values = []
    for _ in range(3):
        with psycopg.connect(dbname=dbname, user="postgres") as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            values.append(proc_status(pid)["RssAnon"])
    return min(values)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def same_json_lines(ours, theirs):
    """Both files hold the same JSON values, line by line."""
    with open(ours, "rb") as a, open(theirs, "rb") as b:
        count = 0
        for line_a, line_b in zip(a, b, strict=True):
            if json.loads(line_a) != json.loads(line_b):
                return False, f"line {count + 1} differs"
            count += 1
    return True, f"{count} lines equal as JSON"


def count_lines(path, prefix=None):
    count = 0
    with open(path, "rb") as f:
        for line in f:
            if prefix is None or line.startswith(prefix):
                count += 1
    return count


# Data -----------------------------------------------------------------------


def create_bench_roles():
    """Login roles bench_user1..8 that act as the dataset's eight owners: members
    of Supabase's `authenticated` (its grants), JWT subject set per role, no
    statement timeout. Not superusers and not table owners, so RLS applies."""
    with admin() as conn:
        for n, user in enumerate(USERS, start=1):
            role = f"bench_user{n}"
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE authenticated')
            claims = json.dumps({"sub": user, "role": "authenticated"})
            conn.execute(f"ALTER ROLE \"{role}\" SET request.jwt.claims = '{claims}'")
            conn.execute(f'ALTER ROLE "{role}" SET statement_timeout = 0')


def create_database(conversations):
    """A database with the extension. All are created first, right after the
    cluster started, so the extension's SQL matches the preloaded library even
    if someone reinstalls the extension while the benchmark runs."""
    return app_database(f"bench_{size_label(conversations)}")


def app_database(dbname):
    """A fresh database with the extension and the sample application's
    tables (sql/sample_app.sql) registered as its source."""
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    with admin(dbname) as conn:
        conn.execute(f"CREATE EXTENSION {EXTENSION}")
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-f", str(REPO / "sql/sample_app.sql")],
                   check=True, stdout=subprocess.DEVNULL)
    return dbname


def create_dataset(dbname, conversations):
    started = time.perf_counter()
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"conversations={conversations}",
         "-d", dbname, "-f", str(BENCH / "generate.sql")],
        check=True, stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    with admin(dbname) as conn:
        # Write the new data out now, not during a measurement.
        conn.execute("CHECKPOINT")
        turns, content_bytes = conn.execute(
            "SELECT count(*), sum(octet_length(content)) FROM public.conversation_turns"
        ).fetchone()
        table_bytes = conn.execute(
            "SELECT pg_total_relation_size('public.conversations')"
            " + pg_total_relation_size('public.conversation_turns')"
        ).fetchone()[0]
    return {
        "conversations": conversations,
        "turns": turns,
        "average_turn_bytes": round(content_bytes / turns, 1),
        "table_bytes": table_bytes,
        "generate_s": round(seconds, 2),
    }


# Measurements -------------------------------------------------------------------


def commands(dbname, work):
    floor = sql_file("floor.sql")
    out = {m: work / f"{dbname}.{m}" for m in METHODS}
    out["floor"] = Path("/dev/null")
    return {
        "floor": (psql(dbname, f"COPY ({floor}) TO '/dev/null'", "/dev/null", cursor=False), out["floor"]),
        "copy_to_client": (psql(dbname, f"COPY ({floor}) TO STDOUT", out["copy_to_client"], cursor=False),
                           out["copy_to_client"]),
        "plain_sql": (psql(dbname, sql_file("plain_sql.sql"), out["plain_sql"]), out["plain_sql"]),
        "plain_sql_json_agg": (psql(dbname, sql_file("plain_sql_json_agg.sql"), out["plain_sql_json_agg"]),
                               out["plain_sql_json_agg"]),
        **{
            # With metadata, as the plain-SQL variants write it (training JSONL
            # defaults to none).
            fmt: (psql(dbname, f"SELECT export_system.export_conversations("
                               f"'{{\"format\": \"{fmt}\", \"include_metadata\": true}}'::jsonb)",
                       out[fmt]), out[fmt])
            for fmt in FORMATS
        },
    }


def measure_size(dbname, conversations, repeats, work):
    baseline_kb = fresh_backend_anon_kb(dbname)
    runs = commands(dbname, work)
    log(f"{dbname}: warming up (one untimed floor run)")
    run_psql(dbname, [("warmup", *runs["floor"])])
    samples = {m: [] for m in METHODS}
    for repeat in range(repeats):
        for method in METHODS:
            command, out = runs[method]
            _, (result,) = run_psql(dbname, [(method, command, out)])
            samples[method].append(result)
            log(f"{dbname} run {repeat + 1}/{repeats}: {method:<19} {result['seconds']:7.3f} s")

    # Checks, on the last run's files.
    checks = {}
    jsonl = runs["jsonl"][1]
    checks["jsonl_lines"] = count_lines(jsonl) == conversations
    checks["plain_sql_bytes_equal"] = sha256(jsonl) == sha256(runs["plain_sql"][1])
    ok, detail = same_json_lines(jsonl, runs["plain_sql_json_agg"][1])
    checks["plain_sql_json_agg_json_equal"] = ok
    checks["plain_sql_json_agg_detail"] = detail
    with open(runs["json"][1], "rb") as f:
        f.seek(max(0, os.path.getsize(runs["json"][1]) - 4096))
        checks["json_conversation_count"] = f'"conversation_count": {conversations}'.encode() in f.read()
    checks["markdown_conversations"] = count_lines(runs["markdown"][1], b"# Conversation: ") == conversations
    with open(runs["csv"][1], "rb") as f:
        checks["csv_header"] = f.readline().startswith("\ufeffconversation_id,title,".encode())
    copy_bytes = samples["copy_to_client"][-1]["bytes"]
    for method in METHODS:
        path = runs[method][1]
        if str(path) != "/dev/null" and path.exists():
            path.unlink()

    figures = {}
    for method, results in samples.items():
        seconds = statistics.median(r["seconds"] for r in results)
        size = results[-1]["bytes"] if method != "floor" else copy_bytes
        first_rows = [r["first_row_s"] for r in results if r["first_row_s"] is not None]
        peaks = [r["peak_anon_kb"] for r in results if r["peak_anon_kb"]]
        figures[method] = {
            "seconds": round(seconds, 4),
            "runs": [round(r["seconds"], 4) for r in results],
            "bytes": size,
            "mb_per_s": round(size / MB / seconds, 1) if size else None,
            "conversations_per_s": round(conversations / seconds),
            "first_row_s": round(statistics.median(first_rows), 4) if first_rows else None,
            "memory_growth_mib": round((max(peaks) - baseline_kb) / 1024, 1) if peaks else None,
            "memory_peak_mib": round(max(peaks) / 1024, 1) if peaks else None,
        }
    plain_best = min(figures["plain_sql"]["seconds"], figures["plain_sql_json_agg"]["seconds"])
    for fmt in FORMATS:
        f = figures[fmt]
        f["speedup_vs_plain_sql"] = round(figures["plain_sql"]["seconds"] / f["seconds"], 2)
        f["speedup_vs_plain_sql_json_agg"] = round(figures["plain_sql_json_agg"]["seconds"] / f["seconds"], 2)
        f["speedup_vs_best_plain"] = round(plain_best / f["seconds"], 2)
        f["time_vs_floor"] = round(f["seconds"] / figures["floor"]["seconds"], 2)
        f["time_vs_copy_to_client"] = round(f["seconds"] / figures["copy_to_client"]["seconds"], 2)
    return {"baseline_backend_anon_mib": round(baseline_kb / 1024, 1), "repeats": repeats,
            "methods": figures, "checks": checks}


def measure_bare_floor(dbname, work, clients, repeats=3):
    """Each export of BARE_FLOOR_TARGETS against COPY of the bare query, both
    through psql into a file, interleaved, median of `repeats`; as superuser
    and as bench_user1 under RLS (the floor then runs as that user too); with
    each psql of `clients` (label -> binary). psql before 17 reads a query
    under FETCH_COUNT through a cursor, 1,000 rows a round trip, so the server
    waits while psql writes; psql 17 and later stream the rows (chunked mode),
    as COPY always does. The floor also runs without parallel workers, as a
    cursor (and so an export) always runs: shown for the analysis, the
    targets are against the floor as Postgres runs it by default. As
    superuser, each export also runs as its formatting-free bound
    (formatting_free_bound.sql), over its own rows stored beforehand, less
    the server's time to read those rows back."""
    stored = store_export_rows(dbname)
    try:
        measured = []
        for client_label, client in clients.items():
            out = {"client": client_label}
            for who, user in BARE_FLOOR_ROLES.items():
                bound_rows = stored if user == "postgres" else {}
                out[who] = bare_floor_as(dbname, work, f"{client_label}, {who}", client, user, repeats, bound_rows)
            measured.append(out)
    finally:
        with admin(dbname) as conn:
            conn.execute("DROP SCHEMA bench_bound CASCADE")
    return {"dataset": dbname, "repeats": repeats, "clients": measured}


def store_export_rows(dbname, repeats=3):
    """Each export of BARE_FLOOR_TARGETS, its rows and their positions stored
    in a table of schema bench_bound, uncompressed (as the export hands them
    over): export label -> (table, seconds the server takes to read the rows
    back out of TOAST, median of `repeats`). The bound pays that read and an
    export does not, so it is taken off the bound."""
    tables = {}
    with admin(dbname) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_bound CASCADE")
        conn.execute("CREATE SCHEMA bench_bound")
        for number, (label, (config, _)) in enumerate(BARE_FLOOR_TARGETS.items(), start=1):
            table = f"bench_bound.rows_{number}"
            conn.execute(f"CREATE UNLOGGED TABLE {table} (position bigint PRIMARY KEY, line text NOT NULL)")
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN line SET STORAGE EXTERNAL")
            conn.execute(f"INSERT INTO {table} SELECT e.position, e.line FROM {EXTENSION}.export_conversations"
                         f"(%s::jsonb) WITH ORDINALITY AS e(line, position)", (config,))
            conn.execute(f"VACUUM ANALYZE {table}")
            tables[label] = (table, read_back_seconds(conn, table, repeats))
    log(f"{dbname}: stored the rows of {len(tables)} exports for their formatting-free bounds")
    return tables


def read_back_seconds(conn, table, repeats):
    """The server's time to read every stored row of `table` out of TOAST
    (concatenating forces the read; it adds one copy, so this errs high)."""
    conn.execute("SET jit = off")
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        conn.execute(f"SELECT sum(octet_length(line || '')) FROM {table}")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bare_floor_as(dbname, work, who, client, user, repeats, bound_rows):
    """measure_bare_floor for one psql `client` and one `user`; `bound_rows`
    (export label -> its stored rows' table and read-back seconds, from
    store_export_rows) adds each export's formatting-free bound."""
    floor_sql = f"COPY ({sql_file('bare_floor.sql')}) TO STDOUT"
    serial_sql = f"SET max_parallel_workers_per_gather = 0; {floor_sql}"

    def command(sql, path, cursor, settings=()):
        return psql(dbname, sql, path, user=user, cursor=cursor, client=client, settings=settings), path

    def bound_command(table, path):
        # JIT off, as the export's own query runs.
        bound_sql = sql_file("formatting_free_bound.sql").format(rows=table)
        return command(bound_sql, path, True, settings=("SET jit = off",))

    runs = {"bare floor": command(floor_sql, work / "bare.floor", False),
            "bare floor, no parallel workers": command(serial_sql, work / "bare.serial", False)}
    for label, (config, _) in BARE_FLOOR_TARGETS.items():
        sql = f"SELECT {EXTENSION}.export_conversations('{config}'::jsonb)"
        runs[label] = command(sql, work / f"bare.{len(runs)}", True)
        if label in bound_rows:
            table, _ = bound_rows[label]
            runs[bound_label(label)] = bound_command(table, work / f"bare.{len(runs)}")
    samples = {label: [] for label in runs}
    first_rows = {label: [] for label in runs}
    for repeat in range(repeats):
        for label, (command_line, path) in runs.items():
            _, (result,) = run_psql(dbname, [(label, command_line, path)])
            samples[label].append(result["seconds"])
            if result["first_row_s"] is not None:
                first_rows[label].append(result["first_row_s"])
            log(f"bare floor, {who}, run {repeat + 1}/{repeats}: {label:<28} {result['seconds']:7.3f} s")
    for _, path in runs.values():
        path.unlink(missing_ok=True)
    floor = statistics.median(samples["bare floor"])
    serial = statistics.median(samples["bare floor, no parallel workers"])
    rows = []
    for label, (config, target) in BARE_FLOOR_TARGETS.items():
        seconds = statistics.median(samples[label])
        ratio = round(seconds / floor, 2)
        first = statistics.median(first_rows[label]) if first_rows[label] else None
        row = {"export": label, "config": config, "seconds": round(seconds, 3),
               "ratio": ratio, "ratio_vs_serial_floor": round(seconds / serial, 2),
               "first_row_s": round(first, 3) if first is not None else None,
               "target": target, "pass": ratio <= target}
        if label in bound_rows:
            _, read_back = bound_rows[label]
            measured_bound = statistics.median(samples[bound_label(label)])
            bound = measured_bound - read_back
            row["bound"] = {"measured_s": round(measured_bound, 3), "read_back_s": round(read_back, 3),
                            "seconds": round(bound, 3), "ratio": round(bound / floor, 2),
                            "export_work_s": round(seconds - bound, 3),
                            "work_the_target_allows_s": round(target * floor - bound, 3)}
        rows.append(row)
    return {"floor_s": round(floor, 3), "serial_floor_s": round(serial, 3), "runs": rows}


def measure_first_rows(dbname, repeats=3):
    """Each export of BARE_FLOOR_TARGETS, as superuser and as bench_user1 under
    RLS: the time from connecting to holding the export's first conversation,
    read through a cursor (DECLARE, FETCH 2: CSV's and JSON's first row is
    their header, so two rows hold a conversation in every format), median of
    `repeats` interleaved. psql under FETCH_COUNT=1000 writes nothing before
    1,000 rows have arrived, so its first bytes (the bare-floor table's
    column) time the first 1,000 rows. Closing the cursor then ends the
    export early, as a client that stops reading does."""
    samples = {(who, label): [] for who in BARE_FLOOR_ROLES for label in BARE_FLOOR_TARGETS}
    for _ in range(repeats):
        for who, user in BARE_FLOOR_ROLES.items():
            for label, (config, _) in BARE_FLOOR_TARGETS.items():
                started = time.perf_counter()
                with psycopg.connect(dbname=dbname, user=user) as conn:
                    conn.execute(f"DECLARE first_row NO SCROLL CURSOR FOR "
                                 f"SELECT {EXTENSION}.export_conversations('{config}'::jsonb)")
                    if len(conn.execute("FETCH 2 FROM first_row").fetchall()) < 2:
                        raise RuntimeError(f"{label} as {user}: the export returned no conversation")
                    samples[(who, label)].append(time.perf_counter() - started)
                    conn.execute("CLOSE first_row")
    runs = []
    for (who, label), seconds in samples.items():
        first = statistics.median(seconds)
        runs.append({"as": who, "export": label, "first_row_s": round(first, 3),
                     "pass": first <= TARGET_FIRST_ROW_S})
    log(f"{dbname}: time to the first row of {len(runs)} exports measured")
    return {"dataset": dbname, "repeats": repeats, "target_s": TARGET_FIRST_ROW_S, "runs": runs}


def print_first_rows(first_rows):
    print(f"\nTime to the first row holding a conversation, through a cursor ({first_rows['dataset']}, median of "
          f"{first_rows['repeats']}; target <= {first_rows['target_s']} s):")
    for run in first_rows["runs"]:
        print(f"  {run['as']:<10} {run['export']:<28} {run['first_row_s']:.3f} s  {'PASS' if run['pass'] else 'MISS'}")


def bound_label(label):
    return f"{label}: formatting-free bound"


def print_bare_floor(bare):
    print(f"\nAgainst the bare-query floor ({bare['dataset']}, median of {bare['repeats']} interleaved runs):")
    for measured in bare["clients"]:
        for who in BARE_FLOOR_ROLES:
            figures = measured[who]
            print(f"  {measured['client']}, as {who}: bare floor {figures['floor_s']} s "
                  f"(without parallel workers {figures['serial_floor_s']} s)")
            for row in figures["runs"]:
                verdict = "PASS" if row["pass"] else "MISS"
                first = show(row["first_row_s"], ".3f")
                print(f"    {row['export']:<28} {row['seconds']:8.3f} s  {row['ratio']:5.2f}x  "
                      f"(target <= {row['target']}x)  {verdict}   {row['ratio_vs_serial_floor']:5.2f}x the serial "
                      f"floor, first 1,000 rows {first} s")
                if "bound" in row:
                    bound = row["bound"]
                    print(f"      formatting-free bound {bound['measured_s']:.3f} s less {bound['read_back_s']:.3f} s reading "
                          f"its rows back = {bound['seconds']:.3f} s ({bound['ratio']:.2f}x): the export's own work "
                          f"{bound['export_work_s']:.2f} s, the target allows {bound['work_the_target_allows_s']:.2f} s")


def psql_version(client):
    """'psql 15.18' from `psql --version` ('psql (PostgreSQL) 15.18 (Debian …)')."""
    words = subprocess.run([client, "--version"], capture_output=True, text=True, check=True).stdout.split()
    return f"psql {words[2]}"


def psql_clients(newest):
    """The cluster's own psql, and the newest one when it is another version."""
    clients = {psql_version("psql"): "psql"}
    if newest:
        clients.setdefault(psql_version(newest), newest)
    return clients


def expected_ids(dbname, user):
    with admin(dbname) as conn:
        return [row[0] for row in conn.execute(
            "SELECT conversation_id FROM public.conversations WHERE user_id = %s"
            " ORDER BY created_at, id", (user,))]


def measure_concurrency(dbname, work):
    config = '{"format": "jsonl", "include_metadata": true}'
    sql = f"SELECT export_system.export_conversations('{config}'::jsonb)"
    with admin(dbname) as conn:
        bypass = conn.execute(
            "SELECT bool_or(rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname LIKE 'bench_user%'"
        ).fetchone()[0]
    expected = {n: expected_ids(dbname, USERS[n - 1]) for n in range(1, max(CONCURRENCY) + 1)}
    out = []
    for clients in CONCURRENCY:
        runs = []
        for n in range(1, clients + 1):
            path = work / f"{dbname}.user{n}.jsonl"
            runs.append((f"user{n}", psql(dbname, sql, path, user=f"bench_user{n}"), path))
        wall, results = run_psql(dbname, runs)
        own = True
        conversations = 0
        total_bytes = 0
        for n, ((_, _, path), result) in enumerate(zip(runs, results), start=1):
            with open(path, "rb") as f:
                ids = [json.loads(line)["metadata"]["conversation_id"] for line in f]
            own &= ids == expected[n]
            conversations += len(ids)
            total_bytes += result["bytes"]
            path.unlink()
        out.append({
            "clients": clients,
            "wall_s": round(wall, 3),
            "per_client_s": [round(r["seconds"], 3) for r in results],
            "conversations": conversations,
            "bytes": total_bytes,
            "aggregate_mb_per_s": round(total_bytes / MB / wall, 1),
            "aggregate_conversations_per_s": round(conversations / wall),
            "each_user_got_exactly_own_conversations": own,
            "peak_memory_mib": max(r["peak_anon_kb"] or 0 for r in results) / 1024,
        })
        log(f"concurrency {clients}: {wall:.2f} s, {out[-1]['aggregate_mb_per_s']} MB/s aggregate, own data: {own}")
    return {"dataset": dbname, "config": config, "rls_bypass_by_any_bench_role": bypass, "runs": out}


# Report ---------------------------------------------------------------------------


def machine_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    with admin() as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        settings = dict(conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
            "('shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather', 'shared_preload_libraries')"
        ).fetchall())
        libdir = conn.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'").fetchone()[0]
    library = Path(libdir) / f"{EXTENSION}.so"
    release = REPO / "target/release/libexport_system.so"
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip() != ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "postgres": version,
        "settings": settings,
        "library_sha256": sha256(library),
        "library_is_this_trees_release_build": release.exists() and sha256(release) == sha256(library),
        "git_commit": commit + ("+changes" if dirty else ""),
    }


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def evaluate_targets(sizes, results):
    largest = size_label(sizes[-1])
    figures = results[largest]["methods"]
    targets = []
    speedup = figures["jsonl"]["speedup_vs_best_plain"]
    targets.append({
        "target": f"JSONL throughput >= {TARGET_PLAIN_SPEEDUP}x plain SQL ({largest}, faster plain variant)",
        "value": f"{speedup}x", "pass": speedup >= TARGET_PLAIN_SPEEDUP})
    for fmt in FORMATS:
        ratio = figures[fmt]["time_vs_floor"]
        targets.append({"target": f"{fmt}: export time <= {TARGET_FLOOR_RATIO}x COPY floor ({largest})",
                        "value": f"{ratio}x", "pass": ratio <= TARGET_FLOOR_RATIO})
    for fmt in FORMATS:
        first = figures[fmt]["first_row_s"]
        targets.append({"target": f"{fmt}: time to the first row <= {TARGET_FIRST_ROW_S} s ({largest})",
                        "value": f"{first} s", "pass": first is not None and first <= TARGET_FIRST_ROW_S})
    turns = results[largest]["dataset"]["turns"]
    for fmt in FORMATS:
        growth = figures[fmt]["memory_growth_mib"]
        targets.append({
            "target": f"{fmt}: backend memory growth <= {TARGET_MEMORY_MIB} MiB ({turns:,} turns)",
            "value": f"{growth} MiB", "pass": growth is not None and growth <= TARGET_MEMORY_MIB})
    if len(sizes) >= 2:
        previous = size_label(sizes[-2])
        for fmt in FORMATS:
            per_now = results[largest]["methods"][fmt]["seconds"] / sizes[-1]
            per_before = results[previous]["methods"][fmt]["seconds"] / sizes[-2]
            ratio = round(per_now / per_before, 2)
            targets.append({
                "target": f"{fmt}: linear scaling, time per conversation {largest} / {previous} <= {TARGET_SCALING}",
                "value": f"{ratio}", "pass": ratio <= TARGET_SCALING})
    return targets


LABELS = {
    "floor": "COPY floor (server, /dev/null)",
    "copy_to_client": "COPY to client (psql file)",
    "plain_sql": "plain SQL, exact bytes",
    "plain_sql_json_agg": "plain SQL, json_agg",
    "jsonl": "export jsonl",
    "json": "export json",
    "csv": "export csv",
    "markdown": "export markdown",
}


def show(value, spec="", none="—"):
    return none if value is None else format(value, spec)


def table_rows(sizes, results):
    rows = []
    for n in sizes:
        label = size_label(n)
        for method in METHODS:
            f = results[label]["methods"][method]
            rows.append({
                "size": label,
                "method": method,
                "seconds": f["seconds"],
                "mb_per_s": f["mb_per_s"],
                "conversations_per_s": f["conversations_per_s"],
                "first_row_s": f["first_row_s"],
                "memory_growth_mib": f["memory_growth_mib"],
                "speedup_vs_plain_sql": f.get("speedup_vs_plain_sql"),
                "speedup_vs_plain_sql_json_agg": f.get("speedup_vs_plain_sql_json_agg"),
                "time_vs_floor": f.get("time_vs_floor"),
                "bytes": f["bytes"],
            })
    return rows


def markdown_report(report):
    sizes = report["sizes"]
    lines = ["| size | method | time s | MB/s | conv/s | first row s | mem growth MiB | × plain SQL (exact / json_agg) | × floor time |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for row in table_rows(sizes, report["results"]):
        plain = (f"{row['speedup_vs_plain_sql']} / {row['speedup_vs_plain_sql_json_agg']}"
                 if row["speedup_vs_plain_sql"] is not None else "")
        lines.append(
            f"| {row['size']} | {LABELS[row['method']]} | {row['seconds']:.2f} | {show(row['mb_per_s'])} | "
            f"{row['conversations_per_s']:,} | {show(row['first_row_s'], '.3f')} | {show(row['memory_growth_mib'])} | "
            f"{plain} | {show(row['time_vs_floor'])} |")
    concurrency = report.get("concurrency")
    if concurrency:
        lines += ["", f"Concurrent JSONL exports under RLS ({concurrency['dataset']}, one user each, "
                      "each user's file checked to hold exactly that user's conversations, in order):", "",
                  "| users | wall s | conversations | aggregate MB/s | aggregate conv/s | own data only |",
                  "|--:|--:|--:|--:|--:|---|"]
        for run in concurrency["runs"]:
            lines.append(f"| {run['clients']} | {run['wall_s']:.2f} | {run['conversations']:,} | "
                         f"{run['aggregate_mb_per_s']} | {run['aggregate_conversations_per_s']:,} | "
                         f"{'yes' if run['each_user_got_exactly_own_conversations'] else 'NO'} |")
    bare = report.get("bare_floor")
    if bare:
        lines += ["", f"Against the bare-query floor ({bare['dataset']}, median of {bare['repeats']} interleaved runs; "
                      "COPY of the bare query through the same psql into a file):", "",
                  "| psql | as | export | time s | × floor | target | | × floor without parallel workers | first 1,000 rows s "
                  "| formatting-free bound, × floor | export's own work s | work the target allows s |",
                  "|---|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|"]
        for measured in bare["clients"]:
            client = measured["client"]
            for who in BARE_FLOOR_ROLES:
                figures = measured[who]
                floor, serial = figures["floor_s"], figures["serial_floor_s"]
                lines.append(f"| {client} | {who} | bare floor | {floor:.2f} | 1.00 | | | {floor / serial:.2f} | | | | |")
                lines.append(f"| {client} | {who} | bare floor, no parallel workers | {serial:.2f} | "
                             f"{serial / floor:.2f} | | | 1.00 | | | | |")
                for row in figures["runs"]:
                    bound = row.get("bound")
                    bound_cells = (f"{bound['ratio']:.2f} | {bound['export_work_s']:.2f} | "
                                   f"{bound['work_the_target_allows_s']:.2f}" if bound else " | | ")
                    lines.append(f"| {client} | {who} | {row['export']} | {row['seconds']:.2f} | {row['ratio']:.2f} | "
                                 f"≤ {row['target']} | {'PASS' if row['pass'] else 'MISS'} | "
                                 f"{row['ratio_vs_serial_floor']:.2f} | {show(row['first_row_s'], '.3f')} | "
                                 f"{bound_cells} |")
    first_rows = report.get("first_rows")
    if first_rows:
        lines += ["", f"Time to the first row ({first_rows['dataset']}, median of {first_rows['repeats']} interleaved "
                      "runs; from connecting to holding the first row with a conversation, read through a cursor, "
                      "`FETCH 2`: CSV's and JSON's first row is their header):", "",
                  "| as | export | first row s | target | |", "|---|---|--:|--:|---|"]
        for run in first_rows["runs"]:
            lines.append(f"| {run['as']} | {run['export']} | {run['first_row_s']:.3f} | ≤ {first_rows['target_s']} | "
                         f"{'PASS' if run['pass'] else 'MISS'} |")
    lines += ["", "| target | measured | |", "|---|--:|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['value']} | {'PASS' if t['pass'] else 'MISS'} |")
    return "\n".join(lines) + "\n"


def print_report(report):
    sizes = report["sizes"]
    header = (f"{'size':>5} {'method':<31} {'time s':>8} {'MB/s':>7} {'conv/s':>9} {'1st row s':>9} "
              f"{'mem MiB':>8} {'x plain':>11} {'x floor':>7}")
    print()
    print(header)
    print("-" * len(header))
    for row in table_rows(sizes, report["results"]):
        plain = (f"{row['speedup_vs_plain_sql']}/{row['speedup_vs_plain_sql_json_agg']}"
                 if row["speedup_vs_plain_sql"] is not None else "")
        print(f"{row['size']:>5} {LABELS[row['method']]:<31} {row['seconds']:8.3f} {show(row['mb_per_s']):>7} "
              f"{row['conversations_per_s']:>9,} {show(row['first_row_s'], '.3f'):>9} "
              f"{show(row['memory_growth_mib']):>8} {plain:>11} {show(row['time_vs_floor']):>7}")
    print("(x plain: our speed over the exact / json_agg plain-SQL variant; x floor: our time over COPY's)")
    for label, result in report["results"].items():
        bad = [k for k, v in result["checks"].items() if v is False]
        print(f"checks {label}: {'all passed' if not bad else 'FAILED: ' + ', '.join(bad)}"
              f" ({result['checks']['plain_sql_json_agg_detail']})")
    concurrency = report.get("concurrency")
    if concurrency:
        print(f"\nconcurrent JSONL exports under RLS on {concurrency['dataset']}:")
        for run in concurrency["runs"]:
            print(f"  {run['clients']} user(s): {run['wall_s']:.2f} s wall, {run['conversations']:,} conversations, "
                  f"{run['aggregate_mb_per_s']} MB/s and {run['aggregate_conversations_per_s']:,} conv/s aggregate, "
                  f"each got exactly its own data: {run['each_user_got_exactly_own_conversations']}")
    print("\ntargets:")
    for t in report["targets"]:
        print(f"  {'PASS' if t['pass'] else 'MISS'}  {t['target']}: {t['value']}")


def plot(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = report["sizes"]
    labels = [size_label(n) for n in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for method in METHODS:
        conv = [report["results"][l]["methods"][method]["conversations_per_s"] for l in labels]
        mbs = [report["results"][l]["methods"][method]["mb_per_s"] for l in labels]
        style = "-o" if method in FORMATS else "--s"
        left.plot(sizes, conv, style, label=LABELS[method])
        right.plot(sizes, mbs, style, label=LABELS[method])
    for axis, title in ((left, "conversations / s"), (right, "MB / s (each method's own output)")):
        axis.set_xscale("log")
        axis.set_xticks(sizes, labels)
        axis.set_xlabel("dataset (conversations x 10 turns)")
        axis.set_title(title)
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
    handles, names = left.get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=4, fontsize=9)
    m = report["machine"]
    fig.suptitle(f"export_system throughput — {m['cpus']} CPUs ({m['cpu_model']}), PostgreSQL 15")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)


LARGE_VALUE_MIB = 5
LARGE_CONVERSATIONS = 100
LARGE_BOUND_MIB = 64 + 3 * LARGE_VALUE_MIB
LARGE_RUNS = {
    "plain SELECT of the turns": "SELECT content FROM public.conversation_turns",
    "export_conversations jsonl": "SELECT export_system.export_conversations('{\"scope\": \"all\"}')",
    "export_conversations json": "SELECT export_system.export_conversations('{\"scope\": \"all\", \"format\": \"json\"}')",
    "export_conversations csv": "SELECT export_system.export_conversations('{\"scope\": \"all\", \"format\": \"csv\"}')",
    "preview_export": "SELECT export_system.preview_export('{\"scope\": \"all\"}')",
    "export_query": "SELECT export_system.export_query('SELECT content FROM public.conversation_turns')",
}


def peak_private_memory(dbname, sql):
    """One backend runs `sql` and hands every row to the client: its peak
    private (anonymous) memory, sampled every millisecond, the bytes it
    returned and the seconds it took."""
    with admin(dbname) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        peak, done = [0], threading.Event()

        def sample():
            while not done.is_set():
                status = proc_status(pid) or {}
                peak[0] = max(peak[0], status.get("RssAnon", 0))
                time.sleep(0.001)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(sql)
            total = sum(len(str(row[0])) for row in cur)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return {"peak_anon_mib": round(peak[0] / 1024, 1), "bytes": total, "seconds": round(seconds, 2)}


def measure_large_values():
    """Peak private memory of one backend per run over LARGE_CONVERSATIONS
    conversations whose answer is LARGE_VALUE_MIB MiB: the bound is
    64 MiB + 3 x the largest conversation, however many there are."""
    dbname = app_database("bench_large_values")
    with admin(dbname) as conn:
        conn.execute("""
            INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier)
            SELECT gen_random_uuid(), 'large-' || g, %s, 'Large ' || g, 'approved', 'template'
            FROM generate_series(1, %s) g""", (USERS[0], LARGE_CONVERSATIONS))
        conn.execute("""
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT c.id, t, CASE t WHEN 1 THEN 'user' ELSE 'assistant' END,
                   CASE t WHEN 1 THEN 'Tell me everything.' ELSE repeat('x', %s) END
            FROM public.conversations c CROSS JOIN generate_series(1, 2) t""", (LARGE_VALUE_MIB * MIB,))
    results = {}
    for label, sql in LARGE_RUNS.items():
        results[label] = peak_private_memory(dbname, sql)
        log(f"large values, {label}: peak {results[label]['peak_anon_mib']:.1f} MiB private memory for "
            f"{results[label]['bytes'] / MIB:.0f} MiB in {results[label]['seconds']:.1f} s")
    with admin() as conn:
        conn.execute(f"DROP DATABASE {dbname} WITH (FORCE)")
    return {"conversations": LARGE_CONVERSATIONS, "largest_conversation_mib": LARGE_VALUE_MIB,
            "bound_mib": LARGE_BOUND_MIB, "runs": results,
            "within_bound": all(r["peak_anon_mib"] <= LARGE_BOUND_MIB
                                for label, r in results.items() if not label.startswith("plain"))}


def print_large_values(large):
    print(f"\nMemory over {large['conversations']} conversations of {large['largest_conversation_mib']} MiB "
          f"(bound: 64 MiB + 3 x largest = {large['bound_mib']} MiB)")
    for label, r in large["runs"].items():
        print(f"  {label:30} peak {r['peak_anon_mib']:7.1f} MiB   {r['bytes'] / MIB:7.0f} MiB out   {r['seconds']:6.2f} s")
    print(f"  within bound: {large['within_bound']}")


HUGE_TURN_MIB = 240
HUGE_TURN_BOUND_MIB = 64 + 3 * HUGE_TURN_MIB
HUGE_TURN_TEXT = 'The quick brown fox jumps over the lazy dog, "quoted" [x](y) =1; 東京! '
HUGE_TURN_RUNS = {
    "jsonl": {},
    "jsonl, max_tokens": {"max_tokens": 10 ** 12},
    "jsonl, dedupe": {"dedupe": True},
    "jsonl, max_tokens + dedupe + token counts": {"max_tokens": 10 ** 12, "dedupe": True,
                                                  "include_token_count": True, "include_metadata": True},
    "json": {"format": "json"},
    "csv": {"format": "csv"},
    "markdown": {"format": "markdown"},
}


def measure_one_huge_turn():
    """Peak private memory of one backend per call for one conversation
    whose answer is a 240 MiB turn of ordinary text, with and without the
    token options, for exports, the training report and previews: the
    bound is 64 MiB + 3 x the largest conversation (issue 27)."""
    dbname = app_database("bench_huge_turn")
    with admin(dbname) as conn:
        conversation = conn.execute(
            "INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier) "
            "VALUES (gen_random_uuid(), 'huge', %s, 'Huge', 'approved', 'template') RETURNING id",
            (USERS[0],)).fetchone()[0]
        conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) VALUES "
                     "(%s, 1, 'user', 'Tell me everything.'), (%s, 2, 'assistant', repeat(%s, %s))",
                     (conversation, conversation, HUGE_TURN_TEXT,
                      HUGE_TURN_MIB * MIB // len(HUGE_TURN_TEXT.encode())))
    calls = {f"export_conversations {label}": "SELECT export_system.export_conversations(%s)" % sql_literal(
        json.dumps({"scope": "all", **options})) for label, options in HUGE_TURN_RUNS.items()}
    for label, options in {"": {}, ", max_tokens": {"max_tokens": 10 ** 12}}.items():
        config = sql_literal(json.dumps({"scope": "all", **options}))
        calls[f"training_report{label}"] = f"SELECT export_system.training_report({config})"
        calls[f"preview_export{label}"] = f"SELECT export_system.preview_export({config})"
    results = {}
    for label, sql in calls.items():
        results[label] = peak_private_memory(dbname, sql)
        log(f"one {HUGE_TURN_MIB} MiB turn, {label}: peak {results[label]['peak_anon_mib']:.1f} MiB")
    with admin() as conn:
        conn.execute(f"DROP DATABASE {dbname} WITH (FORCE)")
    return {"turn_mib": HUGE_TURN_MIB, "bound_mib": HUGE_TURN_BOUND_MIB, "runs": results,
            "within_bound": all(r["peak_anon_mib"] <= HUGE_TURN_BOUND_MIB for r in results.values())}


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def print_one_huge_turn(huge):
    print(f"\nMemory for one conversation with a {huge['turn_mib']} MiB turn "
          f"(bound: 64 MiB + 3 x largest = {huge['bound_mib']} MiB)")
    for label, r in huge["runs"].items():
        ratio = (r["peak_anon_mib"] - 64) / huge["turn_mib"]
        print(f"  {label:48} peak {r['peak_anon_mib']:7.1f} MiB = 64 + {ratio:4.2f} x turn   {r['seconds']:6.2f} s")
    print(f"  within bound: {huge['within_bound']}")


# Pre-flight for fine-tuning (issue 20) ---------------------------------------------


def against_plain_jsonl(dbname, runs, repeats):
    """Each run and the plain JSONL export ("export jsonl" in `runs`),
    interleaved, medians: seconds and the ratio to the plain export."""
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, command in runs.items():
            _, [result] = run_psql(dbname, [(name, command, Path(command[-1]))])
            times[name].append(result["seconds"])
    plain = statistics.median(times["export jsonl"])
    return {name: {"seconds": round(statistics.median(t), 2),
                   "x_plain_jsonl": round(statistics.median(t) / plain, 2)} for name, t in times.items()}


def measure_token_checks(dbname, work, repeats=3):
    """The training report and a max_tokens export against the plain JSONL
    export on the same dataset, interleaved, medians: what counting tokens
    costs when asked (an export without these options counts nothing)."""
    limit = 1000  # bench conversations count about 900 tokens (p50), 1,000 (p95)
    runs = {
        "export jsonl": psql(dbname, "SELECT export_system.export_conversations('{}'::jsonb)",
                             work / f"{dbname}.tokens-plain.jsonl"),
        f"export jsonl, max_tokens {limit}": psql(
            dbname, f"SELECT export_system.export_conversations('{{\"max_tokens\": {limit}}}'::jsonb)",
            work / f"{dbname}.tokens-max.jsonl"),
        f"training_report, max_tokens {limit}": psql(
            dbname, f"SELECT export_system.training_report('{{\"max_tokens\": {limit}}}'::jsonb)",
            work / f"{dbname}.tokens-report.json"),
    }
    measured = against_plain_jsonl(dbname, runs, repeats)
    report_path = work / f"{dbname}.tokens-report.json"
    measured["report"] = json.loads(report_path.read_text()) if report_path.exists() else None
    return measured


REDACTION_TARGET = 1.3


def measure_redaction(dbname, work, repeats=3):
    """Every kind of personal data redacted, as placeholders and as
    pseudonyms, against the plain JSONL export (issue 29: at most 1.3x)."""
    runs = {"export jsonl": psql(dbname, "SELECT export_system.export_conversations('{}'::jsonb)",
                                 work / f"{dbname}.redact-plain.jsonl")}
    for style in ("placeholder", "pseudonym"):
        config = json.dumps({"redact": True, "redaction": style})
        runs[f"export jsonl, redact all ({style})"] = psql(
            dbname, f"SELECT export_system.export_conversations('{config}'::jsonb)",
            work / f"{dbname}.redact-{style}.jsonl")
    measured = against_plain_jsonl(dbname, runs, repeats)
    for name, figures in measured.items():
        if name != "export jsonl":
            figures["target"] = REDACTION_TARGET
            figures["meets_target"] = figures["x_plain_jsonl"] <= REDACTION_TARGET
    return measured


def print_redaction(measured):
    print(f"\nRedaction at export, against the plain JSONL export (target <= {REDACTION_TARGET}x):")
    print(f"{'run':<44} {'time s':>8} {'x plain':>8}")
    for name, figures in measured.items():
        verdict = "" if "meets_target" not in figures else ("PASS" if figures["meets_target"] else "MISS")
        print(f"{name:<44} {figures['seconds']:>8.2f} {figures['x_plain_jsonl']:>8.2f} {verdict}")


def print_token_checks(measured):
    print("\nPre-flight for fine-tuning (o200k_base), against the plain JSONL export:")
    print(f"{'run':<36} {'time s':>8} {'x plain':>8}")
    for name, figures in measured.items():
        if name != "report":
            print(f"{name:<36} {figures['seconds']:>8.2f} {figures['x_plain_jsonl']:>8.2f}")
    report = measured.get("report")
    if report:
        tokens = report["tokens_per_example"]
        print(f"report: {report['examples']:,} examples, tokens p50 {tokens['p50']}, p95 {tokens['p95']}, "
              f"total {tokens['total']:,}; over the limit {report['over_limit']['count']:,}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--results", default=str(BENCH / "results"))
    parser.add_argument("--work", default=str(REPO / ".pgdata/bench-files"),
                        help="where the export files go (scripts/bench.sh picks /dev/shm when it has room)")
    parser.add_argument("--newest-psql", help="the newest major's psql, also measured against the bare floor")
    parser.add_argument("--extension", default=EXTENSION, help=argparse.SUPPRESS)
    parser.add_argument("--only", default="", help="measure only these sections of the largest size "
                        "(token_checks, redaction), print them and save nothing: for work on one figure")
    args = parser.parse_args()
    globals()["EXTENSION"] = args.extension
    sizes = sorted(int(s) for s in args.sizes.replace(",", " ").split())
    results_dir = Path(args.results)
    work = Path(args.work)
    results_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    report = {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "load_average_start": load_average(), "sizes": sizes, "results": {}}
    report["machine"] = machine_info()
    create_bench_roles()
    databases = {n: create_database(n) for n in sizes}
    datasets = {}
    for n, dbname in databases.items():
        log(f"generating {n:,} conversations x 10 turns")
        datasets[n] = dataset = create_dataset(dbname, n)
        log(f"{dbname}: {dataset['turns']:,} turns, {dataset['table_bytes'] / MIB:.0f} MiB in tables, "
            f"generated in {dataset['generate_s']} s")
    if args.only:
        largest = f"bench_{size_label(sizes[-1])}"
        sections = {"token_checks": (measure_token_checks, print_token_checks),
                    "redaction": (measure_redaction, print_redaction)}
        for section in args.only.replace(",", " ").split():
            measure, show = sections[section]
            show(measure(largest, work))
        return
    for n, dbname in databases.items():
        dataset = datasets[n]
        repeats = 5 if n <= 1000 else 3
        result = measure_size(dbname, n, repeats, work)
        result["dataset"] = dataset
        report["results"][size_label(n)] = result
    report["bare_floor"] = measure_bare_floor(f"bench_{size_label(sizes[-1])}", work, psql_clients(args.newest_psql))
    report["first_rows"] = measure_first_rows(f"bench_{size_label(sizes[-1])}")
    report["concurrency"] = measure_concurrency(f"bench_{size_label(sizes[-1])}", work)
    report["large_values"] = measure_large_values()
    report["one_huge_turn"] = measure_one_huge_turn()
    report["token_checks"] = measure_token_checks(f"bench_{size_label(sizes[-1])}", work)
    report["redaction"] = measure_redaction(f"bench_{size_label(sizes[-1])}", work)
    report["targets"] = evaluate_targets(sizes, report["results"])
    report["load_average_end"] = load_average()
    report["bench_seconds"] = round(time.perf_counter() - started, 1)

    (results_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    with open(results_dir / "results.csv", "w", newline="") as f:
        rows = table_rows(sizes, report["results"])
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (results_dir / "results.md").write_text(markdown_report(report))
    plot(report, results_dir / "throughput.png")

    print_report(report)
    print_large_values(report["large_values"])
    print_one_huge_turn(report["one_huge_turn"])
    print_bare_floor(report["bare_floor"])
    print_first_rows(report["first_rows"])
    print_token_checks(report["token_checks"])
    print_redaction(report["redaction"])
    m = report["machine"]
    print(f"\nmachine: {m['cpus']} CPUs, {m['cpu_model']}, {m['memory_gib']} GiB; {m['postgres'].split(',')[0]}; "
          f"load average {report['load_average_start']} -> {report['load_average_end']}")
    if not m["library_is_this_trees_release_build"]:
        print("NOTE: the installed export_system.so is not target/release's build of this tree")
    print(f"results: {results_dir}/results.json, results.csv, results.md, throughput.png "
          f"({report['bench_seconds']} s of measuring)")
    failed_checks = [label for label, r in report["results"].items() if any(v is False for v in r["checks"].values())]
    if not report["large_values"]["within_bound"]:
        print("MEMORY BOUND EXCEEDED over large values", file=sys.stderr)
    if not report["one_huge_turn"]["within_bound"]:
        print("MEMORY BOUND EXCEEDED on one huge turn", file=sys.stderr)
    if failed_checks or not all(run["each_user_got_exactly_own_conversations"]
                                for run in report["concurrency"]["runs"]):
        print("CORRECTNESS CHECKS FAILED", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
