# Shared set-up for demo, tests and benchmarks: installs what is missing,
# builds and installs the extension, and runs throwaway clusters.
# Source it; functions only.

set -euo pipefail

PG_VERSION=15
PG_CONFIG=/usr/lib/postgresql/$PG_VERSION/bin/pg_config
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
PGRX_VERSION=0.18.1
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$REPO_ROOT/.venv

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_system_packages() {
    local wanted=(postgresql-$PG_VERSION postgresql-server-dev-$PG_VERSION libclang-dev sudo
                  postgresql-$PG_VERSION-cron python3-venv)
    local missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        log "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # Debian starts a default cluster on install; we never use it.
    if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
        pg_ctlcluster "$PG_VERSION" main stop 2>/dev/null || true
    fi
}

install_cargo_pgrx() {
    if [[ "$(cargo pgrx --version 2>/dev/null)" != "cargo-pgrx $PGRX_VERSION" ]]; then
        log "installing cargo-pgrx $PGRX_VERSION (takes several minutes)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet
    fi
    if ! grep -qs "pg$PG_VERSION" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
        log "registering PostgreSQL $PG_VERSION with pgrx"
        cargo pgrx init --pg$PG_VERSION="$PG_CONFIG" >/dev/null
    fi
}

install_python_tools() {
    if [[ ! -x $VENV/bin/pytest ]] || ! "$VENV/bin/python" -c 'import psycopg, markdown_it, pandas, datasets, cmarkgfm' 2>/dev/null; then
        log "installing Python test tools into .venv"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO_ROOT/tests/requirements.txt"
    fi
}

install_dependencies() {
    install_system_packages
    install_cargo_pgrx
}

# Build in release mode and install into the system PostgreSQL.
install_extension() {
    log "building and installing the extension"
    (cd "$REPO_ROOT" && cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null)
    # Earlier versions' install scripts, so an installation can start from one
    # and be updated (cargo pgrx installs only the current one and the updates).
    cp "$REPO_ROOT"/sql/export_system--0.1.0.sql "$("$PG_CONFIG" --sharedir)/extension/"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_cluster DATA_DIR [extra postgresql.conf lines...]
# Creates (if needed) and starts a cluster owned by postgres on a free
# loopback port; exports PGHOST, PGPORT, PGUSER for psql and the tests.
start_cluster() {
    local data_dir=$1
    shift
    mkdir -p "$(dirname "$data_dir")"
    chmod a+rx "$(dirname "$data_dir")"
    if [[ -f $data_dir/postmaster.pid ]]; then
        sudo -u postgres "$PG_BIN/pg_ctl" -D "$data_dir" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$data_dir"
    mkdir -p "$data_dir"
    chown postgres:postgres "$data_dir"
    sudo -u postgres "$PG_BIN/initdb" -D "$data_dir" -U postgres -E UTF8 --locale=C.UTF-8 -A trust >/dev/null
    local port
    port=$(free_port)
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$data_dir'"
        echo "timezone = 'UTC'"
        for line in "$@"; do echo "$line"; done
    } >>"$data_dir/postgresql.conf"
    sudo -u postgres "$PG_BIN/pg_ctl" -D "$data_dir" -l "$data_dir/server.log" -w start >/dev/null
    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATA_DIR=$data_dir PG_BIN
    log "PostgreSQL $PG_VERSION running on 127.0.0.1:$port (data: $data_dir)"
}

stop_cluster() {
    local data_dir=$1
    [[ -f $data_dir/postmaster.pid ]] && sudo -u postgres "$PG_BIN/pg_ctl" -D "$data_dir" -m fast stop >/dev/null || true
}

# The roles a Supabase project has, so RLS and grants are tested as they run there.
create_supabase_roles() {
    psql -X -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN CREATE ROLE authenticator LOGIN NOINHERIT; END IF;
END
$$;
GRANT anon, authenticated, service_role TO authenticator;
ALTER ROLE authenticated SET statement_timeout = '8s';
ALTER ROLE anon SET statement_timeout = '3s';
SQL
}

# A Supabase-like `auth` schema: auth.users and auth.uid().
create_supabase_auth_schema() {
    local database=$1
    psql -X -q -v ON_ERROR_STOP=1 -d "$database" <<'SQL'
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE IF NOT EXISTS auth.users (id uuid PRIMARY KEY, email text);
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
INSERT INTO auth.users (id, email) VALUES
  ('0000000a-0000-4000-8000-00000000000a', 'alice@example.com'),
  ('0000000b-0000-4000-8000-00000000000b', 'bob@example.com'),
  ('0000000c-0000-4000-8000-00000000000c', 'carol@example.com')
ON CONFLICT DO NOTHING;
SQL
}
