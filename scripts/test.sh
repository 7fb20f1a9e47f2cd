#!/usr/bin/env bash
# Every test: formatting and lints, Rust unit tests and #[pg_test]s through cargo pgrx, then the
# SQL-level suite (tests/*.py) against a throwaway cluster with Supabase's roles.
source "$(dirname "$0")/common.sh"

install_dependencies
install_python_tools

log "cargo fmt --check and clippy"
(cd "$REPO_ROOT" && cargo fmt --check && cargo clippy --features pg$PG_VERSION --all-targets -- -D warnings)

log "Rust unit tests and #[pg_test]s"
PGRX_TEST_DATA=$REPO_ROOT/.pgdata/pgrx-test
mkdir -p "$PGRX_TEST_DATA"
chown postgres:postgres "$PGRX_TEST_DATA"
chmod a+rx "$REPO_ROOT/.pgdata"
(cd "$REPO_ROOT" && cargo pgrx test pg$PG_VERSION --runas postgres --pgdata "$PGRX_TEST_DATA")

install_extension
DATA_DIR=$REPO_ROOT/.pgdata/test
# As in production: the library and pg_cron preloaded. The resident workers
# serve the database tests/test_jobs.py creates; pg_cron runs its jobs in
# background workers rather than over a loopback connection.
start_cluster "$DATA_DIR" \
    "shared_preload_libraries = 'export_system, pg_cron'" \
    "export_system.database = 'jobs'" \
    "export_system.workers = 2" \
    "export_system.poll_interval = '2s'" \
    "cron.database_name = 'postgres'" \
    "cron.use_background_workers = on" \
    "max_worker_processes = 32"
trap 'stop_cluster "$DATA_DIR"' EXIT
create_supabase_roles

log "SQL-level tests"
cd "$REPO_ROOT"
"$VENV/bin/pytest" -p no:cacheprovider -q tests "$@"
