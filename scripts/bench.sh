#!/usr/bin/env bash
# The export benchmark (make bench): builds and installs the extension, starts
# a throwaway cluster, generates 1k, 10k and 100k conversations x 10 turns and
# measures export_conversations in every format against Postgres's own COPY
# floor and the plain-SQL alternative, then concurrent exports under RLS.
# Prints the figures and saves them (JSON, CSV, Markdown, PNG) in bench/results/.
#
#   BENCH_SKIP_INSTALL=1        reuse the installed extension and tools (no build)
#   BENCH_SIZES="1000 10000"    other dataset sizes (default 1000 10000 100000)
#   BENCH_ONLY="token_checks"   only these sections on the largest size, printed, not saved
source "$(dirname "$0")/common.sh"

started=$SECONDS
if [[ ${BENCH_SKIP_INSTALL:-0} != 1 ]]; then
    install_dependencies
    install_extension
fi
# The newest major's psql is measured against the bare floor beside the
# cluster's own: psql 17 and later stream a FETCH_COUNT query instead of
# reading it 1,000 rows per cursor round trip (bench/bench.py says more).
newest_major=${SUPPORTED_PG_MAJORS[-1]}
[[ $newest_major == 15 ]] || install_pg_binaries "$newest_major"
newest_psql=$(pg_home "$newest_major")/bin/psql

if ! "$VENV/bin/python" -c 'import psycopg, matplotlib' 2>/dev/null; then
    log "installing the benchmark's Python packages into .venv"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO_ROOT/bench/requirements.txt"
fi

DATA_DIR=$REPO_ROOT/.pgdata/bench
# The export files (up to ~4 GB at once for 100k) go to tmpfs when it has room,
# so writing them back to disk does not compete with the next measurement.
if [[ -d /dev/shm ]] && (($(df --output=avail -k /dev/shm | tail -1) > 8 * 1024 * 1024)); then
    WORK_DIR=/dev/shm/export_system-bench
else
    WORK_DIR=$REPO_ROOT/.pgdata/bench-files
fi
# The library is preloaded, as in production, so the whole run uses the build
# installed at its start even if the extension is reinstalled meanwhile; no
# background workers. async_threshold = 0 and rate_limit = 0 let API users (JWT identity) export
# more than 500 conversations in one call, for the concurrency runs.
# shared_buffers holds the 100k dataset (about 600 MB), as on a server sized
# for its data; everything else is Postgres's default.
start_cluster "$DATA_DIR" \
    "shared_preload_libraries = 'export_system'" \
    "export_system.workers = 0" \
    "export_system.async_threshold = 0" \
    "export_system.rate_limit = 0" \
    "shared_buffers = '1GB'"
trap 'stop_cluster "$DATA_DIR"; rm -rf "$WORK_DIR"' EXIT
create_supabase_roles

sizes=${BENCH_SIZES:-1000 10000 100000}
"$VENV/bin/python" "$REPO_ROOT/bench/bench.py" --sizes "$sizes" \
    --results "$REPO_ROOT/bench/results" --work "$WORK_DIR" --newest-psql "$newest_psql" \
    --only "${BENCH_ONLY:-}"
log "make bench took $((SECONDS - started)) s"
