#!/usr/bin/env bash
# Every test: Rust unit tests and #[pg_test]s through cargo pgrx, then the
# SQL-level suite (tests/*.py) against a throwaway cluster with Supabase's roles.
source "$(dirname "$0")/common.sh"

install_dependencies
install_python_tools

log "Rust unit tests and #[pg_test]s"
PGRX_TEST_DATA=$REPO_ROOT/.pgdata/pgrx-test
mkdir -p "$PGRX_TEST_DATA"
chown postgres:postgres "$PGRX_TEST_DATA"
chmod a+rx "$REPO_ROOT/.pgdata"
(cd "$REPO_ROOT" && cargo pgrx test pg$PG_VERSION --runas postgres --pgdata "$PGRX_TEST_DATA")

install_extension
DATA_DIR=$REPO_ROOT/.pgdata/test
start_cluster "$DATA_DIR"
trap 'stop_cluster "$DATA_DIR"' EXIT
create_supabase_roles

log "SQL-level tests"
cd "$REPO_ROOT"
"$VENV/bin/pytest" -p no:cacheprovider -q tests "$@"
