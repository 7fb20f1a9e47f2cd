#!/usr/bin/env bash
# Every test, on every supported PostgreSQL major (or those PG names:
# `make test PG=17`, `make test PG="16 17"`). Once: formatting. Per major:
# clippy for its feature, the Rust unit tests and #[pg_test]s through cargo
# pgrx, its release package (`make package`: archive and .deb), installed from the archive
# into its installation, and the SQL-level suite (tests/*.py) against a
# throwaway cluster preloading the library (and pg_cron where it exists),
# with Supabase's roles; tests/test_package.py installs the archive into a
# fresh installation. Prints the passed and skipped counts per major.
source "$(dirname "$0")/common.sh"

if ((${#PG_MAJORS[@]})); then majors=("${PG_MAJORS[@]}"); else majors=("${SUPPORTED_PG_MAJORS[@]}"); fi
started=$SECONDS
install_dependencies "${majors[@]}"
install_python_tools
install_pgxn_meta

log "cargo fmt --check"
(cd "$REPO_ROOT" && cargo fmt --check)

RESULTS=$REPO_ROOT/target/test-results
rm -rf "$RESULTS"
mkdir -p "$RESULTS" "$REPO_ROOT/.pgdata"
chmod a+rx "$REPO_ROOT/.pgdata"

# test_major MAJOR [pytest args...]: the whole suite on one major, in a subshell.
test_major() {
    local major=$1
    shift
    export PG=$major
    use_pg_major "$major"
    local server
    server=$("$PG_CONFIG" --version)
    cd "$REPO_ROOT"

    log "$server: cargo clippy --features pg$major"
    cargo clippy --no-default-features --features "pg$major" --all-targets -- -D warnings

    log "$server: Rust unit tests and #[pg_test]s"
    local pgrx_data=$REPO_ROOT/.pgdata/pgrx-test-$major
    mkdir -p "$pgrx_data"
    chown postgres:postgres "$pgrx_data"
    cargo pgrx test "pg$major" --runas postgres --pgdata "$pgrx_data" 2>&1 | tee "$RESULTS/rust-$major.log"

    local archive
    archive=$(build_package "$major")
    log "$server: installing $(basename "$archive") into $PG_HOME"
    install_archive "$archive" "$PG_CONFIG"

    local data_dir=$REPO_ROOT/.pgdata/test-$major preload=export_system cron=()
    # As in production: the library (and pg_cron, where it exists) preloaded.
    # The resident workers serve the database tests/test_jobs.py creates;
    # pg_cron runs its jobs in background workers rather than over a loopback
    # connection.
    if has_pg_cron "$major"; then
        preload="export_system, pg_cron"
        cron=("cron.database_name = 'postgres'" "cron.use_background_workers = on")
    fi
    start_cluster "$data_dir" \
        "shared_preload_libraries = '$preload'" \
        "export_system.database = 'jobs'" \
        "export_system.workers = 2" \
        "export_system.poll_interval = '2s'" \
        "${cron[@]}" \
        "max_worker_processes = 32"
    trap "stop_cluster '$data_dir'" EXIT
    create_supabase_roles

    log "$server: SQL-level tests"
    EXPORT_SYSTEM_ARCHIVE=$archive EXPORT_SYSTEM_DEB=$(deb_path "$major") "$VENV/bin/pytest" -p no:cacheprovider -q -rs \
        --junitxml="$RESULTS/pytest-$major.xml" tests "$@"
}

# summarize MAJOR STATUS SECONDS: one line per major from its logs.
summarize() {
    local major=$1 status=$2 seconds=$3
    "$VENV/bin/python" - "$RESULTS" "$major" "$status" "$seconds" <<'PY'
import re, sys
import xml.etree.ElementTree as ET
from pathlib import Path
results, major, status, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rust = {"passed": 0, "failed": 0, "ignored": 0}
log = results / f"rust-{major}.log"
if log.exists():
    for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", log.read_text()):
        for key, value in zip(("passed", "failed", "ignored"), m.groups()):
            rust[key] += int(value)
sql = {"passed": 0, "failed": 0, "skipped": 0}
reasons = {}
xml = results / f"pytest-{major}.xml"
if xml.exists():
    for case in ET.parse(xml).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None:
            sql["skipped"] += 1
            reason = skipped.get("message", "").removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
        elif case.find("failure") is not None or case.find("error") is not None:
            sql["failed"] += 1
        else:
            sql["passed"] += 1
verdict = "ok" if status == 0 else f"FAILED (exit {status})"
print(f"  PostgreSQL {major}: {verdict} in {seconds // 60}m{seconds % 60:02d}s; "
      f"Rust/#[pg_test] {rust['passed']} passed, {rust['failed']} failed, {rust['ignored']} skipped; "
      f"SQL suite {sql['passed']} passed, {sql['failed']} failed, {sql['skipped']} skipped")
for reason, count in reasons.items():
    print(f"      skipped ({count}): {reason}")
PY
}

declare -A status seconds
for major in "${majors[@]}"; do
    major_started=$SECONDS
    set +e
    (set -e; test_major "$major" "$@")
    status[$major]=$?
    set -e
    seconds[$major]=$((SECONDS - major_started))
done

log "summary (make test took $(((SECONDS - started) / 60))m$(printf %02d $(((SECONDS - started) % 60)))s)"
failed=0
for major in "${majors[@]}"; do
    summarize "$major" "${status[$major]}" "${seconds[$major]}"
    ((status[$major] == 0)) || failed=1
done
exit "$failed"
