"""Installing where users run PostgreSQL (issue 28), as far as this machine
can show it: Supabase's image (its Nix wrapper around `postgres`, the
conf.d file that loads the extension, what the library links against), a
.deb per major in the PostgreSQL packages' layout (installed into Debian's
postgresql-15, used, updated and removed), PostgreSQL 18's extension
directories outside the server's installation, and PGXN's META.json.

scripts/test.sh builds the archive and the .deb and names them in
EXPORT_SYSTEM_ARCHIVE and EXPORT_SYSTEM_DEB.
"""
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from support import REPO, admin_connect, create_database, quote_literal
from test_package import (ARCHIVE, CONFIGS, VERSION, WORK, Installation, archive_major, bash, export,
                          new_database, unpack)

DEB = Path(os.environ["EXPORT_SYSTEM_DEB"]) if os.environ.get("EXPORT_SYSTEM_DEB") else None
pytestmark = pytest.mark.skipif(ARCHIVE is None or DEB is None,
                                reason="no package to test: make test (scripts/test.sh) builds the archive and "
                                       "the .deb and sets EXPORT_SYSTEM_ARCHIVE and EXPORT_SYSTEM_DEB")
CONFD = REPO / "packaging/supabase/export-system-confd"


def run_install_sh(tmp_path, *args):
    top = unpack(tmp_path / "unpacked")
    return subprocess.run([str(top / "install.sh"), *args], capture_output=True, text=True)


def pg_config_value(pg_config, what):
    return subprocess.run([pg_config, f"--{what}"], capture_output=True, text=True, check=True).stdout.strip()


def installed_files(root):
    return {path.relative_to(root).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in Path(root).rglob("*") if path.is_file()}


# --- Supabase's image: the library, the Nix wrapper, the conf.d file -----------------------

def test_the_library_links_only_libc_libgcc_and_the_loader_and_needs_glibc_2_36_at_most(tmp_path):
    library = unpack(tmp_path / "unpacked") / "lib/export_system.so"
    dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic))
    assert "libc.so.6" in needed
    assert needed <= {"libc.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2"}, needed
    assert "RPATH" not in dynamic and "RUNPATH" not in dynamic
    symbols = subprocess.run(["objdump", "-T", str(library)], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(part) for part in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", symbols)}
    assert versions and max(versions) <= (2, 36), max(versions)


def wrap_postgres_like_nix(installation):
    """Turn the installation's `postgres` into the kind of wrapper Nix's
    makeWrapper writes for Supabase's image: it exports NIX_PGLIBDIR (a
    library directory apart from pkglibdir) and execs the real binary."""
    bindir = Path(installation.bin)
    nix_store = installation.dir / "nix-store"
    shutil.rmtree(nix_store, ignore_errors=True)
    nix_lib = nix_store / "postgresql-and-plugins" / "lib"
    nix_lib.mkdir(parents=True)
    (bindir / "postgres").rename(bindir / ".postgres-wrapped")
    (bindir / "postgres").write_text(
        "#! /bin/bash -e\n"
        f"export NIX_PGLIBDIR='{nix_lib}'\n"
        f'exec -a "$0" "{bindir}/.postgres-wrapped" "$@"\n')
    (bindir / "postgres").chmod(0o755)
    return nix_lib


def test_install_sh_follows_a_nix_wrapper_to_its_library_directory(tmp_path):
    wrapped = Installation(archive_major(), "nix-wrapped")
    nix_lib = wrap_postgres_like_nix(wrapped)
    installed = run_install_sh(tmp_path, wrapped.pg_config)
    assert installed.returncode == 0, installed.stderr
    assert f"is a wrapper setting NIX_PGLIBDIR: the library goes to {nix_lib}" in installed.stdout
    assert (nix_lib / "export_system.so").is_file()
    assert not Path(pg_config_value(wrapped.pg_config, "pkglibdir"), "export_system.so").exists()
    extension = Path(pg_config_value(wrapped.pg_config, "sharedir"), "extension")
    assert (extension / "export_system.control").is_file()
    assert "module_pathname = 'export_system'" in (extension / "export_system.control").read_text()
    # The wrapper still runs the server.
    version = subprocess.run([f"{wrapped.bin}/postgres", "--version"], capture_output=True, text=True, check=True)
    assert f"PostgreSQL) {archive_major()}." in version.stdout


def test_install_sh_takes_an_explicit_library_directory(tmp_path):
    fresh = Installation(archive_major(), "explicit-libdir")
    libdir = tmp_path / "elsewhere" / "lib"
    installed = run_install_sh(tmp_path, "--libdir", str(libdir), fresh.pg_config)
    assert installed.returncode == 0, installed.stderr
    assert (libdir / "export_system.so").is_file()
    assert not Path(pg_config_value(fresh.pg_config, "pkglibdir"), "export_system.so").exists()
    bad = run_install_sh(tmp_path / "again", "--libdir")
    assert bad.returncode == 2 and "usage:" in bad.stderr


# Supabase's own lists (supabase/postgres, ansible/files/postgresql_config): what a conf.d file must restate.
SUPABASE_PRELOAD = ("pg_stat_statements, pgaudit, plpgsql, plpgsql_check, pg_cron, pg_net, pgsodium, timescaledb, "
                    "auto_explain, pg_tle, plan_filter, supabase_vault")
SUPABASE_PRIVILEGED = ("address_standardizer, address_standardizer_data_us, autoinc, bloom, btree_gin, btree_gist, "
                       "citext, cube, dblink, dict_int, dict_xsyn, earthdistance, fuzzystrmatch, hstore, http, "
                       "hypopg, index_advisor, insert_username, intarray, isn, ltree, moddatetime, orioledb, "
                       "pg_buffercache, pg_cron, pg_graphql, pg_hashids, pg_jsonschema, pg_net, pg_prewarm, "
                       "pg_repack, pg_stat_monitor, pg_stat_statements, pg_tle, pg_trgm, pg_walinspect, pgaudit, "
                       "pgcrypto, pgjwt, pgroonga, pgroonga_database, pgrouting, pgrowlocks, pgsodium, pgstattuple, "
                       "pgtap, plcoffee, pljava, plls, plpgsql_check, plv8, postgis, postgis_raster, postgis_sfcgal, "
                       "postgis_tiger_geocoder, postgis_topology, postgres_fdw, refint, rum, seg, sslinfo, "
                       "supabase_vault, supautils, tablefunc, tcn, timescaledb, tsm_system_rows, tsm_system_time, "
                       "unaccent, uuid-ossp, vector, wrappers")


def read_conf(path):
    """name -> value of a postgresql.conf file of `name = 'value'` lines."""
    settings = {}
    for line in Path(path).read_text().splitlines():
        match = re.fullmatch(r"([a-z_.]+) = '((?:[^']|'')*)'", line)
        if match:
            settings[match.group(1)] = match.group(2).replace("''", "'")
    return settings


def entries(value):
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def generate_confd(out, preload, privileged, *extra):
    return subprocess.run([str(CONFD), "--out", str(out), "--preload", preload, "--privileged", privileged, *extra],
                          capture_output=True, text=True)


@pytest.mark.parametrize("preload,privileged", [
    (SUPABASE_PRELOAD, SUPABASE_PRIVILEGED),
    (" pg_stat_statements,pgaudit ,, plpgsql, pgaudit", "vector,export_system, wrappers"),
    ("export_system, pg_cron", SUPABASE_PRIVILEGED + ", export_system"),
    ("", ""),
], ids=["supabase", "untidy", "already-there", "empty"])
def test_the_confd_file_restates_both_lists_with_export_system_added(tmp_path, preload, privileged):
    out = tmp_path / "conf.d" / "99-export_system.conf"
    generated = generate_confd(out, preload, privileged, "--database", "app")
    assert generated.returncode == 0, generated.stderr
    settings = read_conf(out)
    assert set(settings) == {"shared_preload_libraries", "supautils.privileged_extensions", "export_system.database"}
    assert settings["export_system.database"] == "app"
    for name, before in (("shared_preload_libraries", preload), ("supautils.privileged_extensions", privileged)):
        after = entries(settings[name])
        kept = list(dict.fromkeys(entries(before)))  # every entry, once, in its order
        assert after == kept + ([] if "export_system" in kept else ["export_system"]), name
        assert len(after) == len(set(after))
    # Run again on what it wrote: the same file (export_system is not added twice).
    again = tmp_path / "again.conf"
    assert generate_confd(again, settings["shared_preload_libraries"],
                          settings["supautils.privileged_extensions"], "--database", "app").returncode == 0
    assert again.read_text() == out.read_text()


def test_the_confd_generator_reads_the_running_server(tmp_path):
    """Without the lists it asks the server; one without supautils is told so."""
    dbname = create_database("t_install_confd")
    env = dict(os.environ, PGDATABASE=dbname, PGUSER="postgres")
    out = tmp_path / "confd.conf"
    refused = subprocess.run([str(CONFD), "--out", str(out)], capture_output=True, text=True, env=env)
    assert refused.returncode == 1 and "no supautils.privileged_extensions" in refused.stderr
    with admin_connect(dbname) as conn:
        running = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
        conn.execute(f'ALTER DATABASE "{dbname}" SET supautils.privileged_extensions = \'pgcrypto, vector\'')
    generated = subprocess.run([str(CONFD), "--out", str(out)], capture_output=True, text=True, env=env)
    assert generated.returncode == 0, generated.stderr
    settings = read_conf(out)
    assert entries(settings["shared_preload_libraries"]) == entries(running)  # export_system runs preloaded here
    assert entries(settings["supautils.privileged_extensions"]) == ["pgcrypto", "vector", "export_system"]
    one_only = subprocess.run([str(CONFD), "--out", str(out), "--preload", "x"], capture_output=True, text=True)
    assert one_only.returncode == 2 and "give both --preload and --privileged" in one_only.stderr


def test_the_archive_carries_the_confd_generator_and_the_dockerfile_uses_them(tmp_path):
    top = unpack(tmp_path / "unpacked")
    assert (top / "export-system-confd").read_bytes() == CONFD.read_bytes()
    assert os.access(top / "export-system-confd", os.X_OK)
    dockerfile = (REPO / "packaging/supabase/Dockerfile").read_text()
    assert re.search(r"^FROM supabase/postgres:\$\{SUPABASE_POSTGRES_TAG\}$", dockerfile, re.M)
    assert '/tmp/export_system/install.sh "$(command -v pg_config)"' in dockerfile
    assert "/tmp/export_system/export-system-confd /usr/local/bin/export-system-confd" in dockerfile


# --- PostgreSQL 18: everything under a prefix, nothing in the server's installation ----------

@pytest.mark.skipif(ARCHIVE is None or archive_major() >= 18, reason="--prefix is for PostgreSQL 18 and later")
def test_a_prefix_below_18_is_refused(tmp_path):
    fresh = Installation(archive_major(), "prefix-refused")
    refused = run_install_sh(tmp_path, "--prefix", str(tmp_path / "prefix"), fresh.pg_config)
    assert refused.returncode == 1
    assert "--prefix needs PostgreSQL 18 or later (extension_control_path)" in refused.stderr
    assert not (tmp_path / "prefix").exists()


def wait_for_job(installation, dbname, export_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with installation.connect(dbname) as conn:
            status = conn.execute("SELECT export_system.export_status(%s) ->> 'status'", (export_id,)).fetchone()[0]
        if status in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.5)
    return status


@pytest.mark.skipif(ARCHIVE is None or archive_major() < 18, reason="extension_control_path is PostgreSQL 18's")
def test_a_prefix_install_on_18_creates_updates_and_runs_workers_outside_the_server(tmp_path):
    prefixed = Installation(18, "prefix-pg18")
    server = Path(prefixed.pg_config).parent.parent
    before = installed_files(server)
    prefix = prefixed.dir / "extensions"
    installed = run_install_sh(tmp_path, "--prefix", str(prefix), prefixed.pg_config)
    assert installed.returncode == 0, installed.stderr
    assert f"extension_control_path = '{prefix}/share:$system'" in installed.stdout
    assert f"dynamic_library_path = '{prefix}/lib:$libdir'" in installed.stdout
    assert (prefix / "lib/export_system.so").is_file()
    assert (prefix / "share/extension/export_system.control").is_file()
    assert installed_files(server) == before  # nothing written into the server's installation
    prefixed.start(f"extension_control_path = '{prefix}/share:$system'",
                   f"dynamic_library_path = '{prefix}/lib:$libdir'",
                   "shared_preload_libraries = 'export_system'", "export_system.database = 'prefixed'",
                   "export_system.workers = 1", "export_system.poll_interval = '1s'")
    try:
        bash("create_supabase_roles", env=prefixed.env("postgres"))
        new_database(prefixed, "prefixed")
        with prefixed.connect("prefixed") as conn:
            conn.execute("CREATE EXTENSION export_system VERSION '0.1.0'")
            conn.execute("ALTER EXTENSION export_system UPDATE")
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'export_system'").fetchone() \
                == (VERSION,)
        prefixed.psql("prefixed", "-f", str(REPO / "sql/sample_app.sql"))
        prefixed.psql("prefixed", "-f", str(REPO / "sql/sample_data.sql"))
        assert export(prefixed, "prefixed", CONFIGS[0]).count(b"\n") > 100
        with prefixed.connect("prefixed") as conn:
            export_id = conn.execute("SELECT export_system.queue_export('{\"scope\": \"all\"}')::text") \
                .fetchone()[0]
        # Run by the preloaded worker, loaded from the prefix.
        assert wait_for_job(prefixed, "prefixed", export_id) == "completed"
        assert installed_files(server) == before
    finally:
        prefixed.stop()


# --- A .deb per major ------------------------------------------------------------------------

def deb_field(name):
    return subprocess.run(["dpkg-deb", "-f", str(DEB), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_deb_has_the_postgresql_packages_layout_and_control_fields():
    major = archive_major()
    package = f"postgresql-{major}-export-system"
    assert DEB.name == f"{package}_{VERSION}_amd64.deb"
    assert deb_field("Package") == package
    assert deb_field("Version") == VERSION
    assert deb_field("Architecture") == "amd64"
    assert re.split(r",\s*", deb_field("Depends"))[0] == f"postgresql-{major}"
    assert deb_field("Section") == "database"
    listing = subprocess.run(["dpkg-deb", "-c", str(DEB)], capture_output=True, text=True, check=True).stdout
    files = {line.split()[-1].removeprefix(".") for line in listing.splitlines() if line.startswith("-")}
    scripts = {f"/usr/share/postgresql/{major}/extension/{path.name}"
               for path in (REPO / "sql").glob("export_system--*.sql")}
    assert files == {f"/usr/lib/postgresql/{major}/lib/export_system.so",
                     f"/usr/share/postgresql/{major}/extension/export_system.control",
                     f"/usr/share/postgresql/{major}/extension/export_system--{VERSION}.sql",
                     f"/usr/share/doc/{package}/copyright", f"/usr/share/doc/{package}/changelog.gz"} | scripts
    assert all(line.split()[1] == "root/root" for line in listing.splitlines())


def test_lintian_finds_no_error_in_the_deb():
    checked = subprocess.run(["lintian", "--fail-on", "error", "--no-tag-display-limit", str(DEB)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not re.search(r"^E: ", checked.stdout, re.M), checked.stdout


def debian_postgresql_15():
    return archive_major() == 15 and subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", "postgresql-15"], capture_output=True, text=True).stdout \
        == "install ok installed"


def apt_get(*args):
    return subprocess.run(["apt-get", "-y", "-q", *args], capture_output=True, text=True,
                          env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


@pytest.mark.skipif(ARCHIVE is None or not debian_postgresql_15(), reason="Debian's postgresql-15 is tested")
def test_the_15_deb_installs_exports_updates_and_removes_every_file(tmp_path):
    """apt-get install into Debian's postgresql-15, a cluster of its own
    (not preloading, so CREATE EXTENSION loads the package's library), an
    export equal to the suite's, the update from 0.1.0, then apt-get remove:
    none of its files is left. The suite's archive install is restored."""
    package = "postgresql-15-export-system"
    reference_db = create_database("t_install_deb_reference")
    reference = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-v", "FETCH_COUNT=1000", "-c",
                                "SELECT export_system.export_conversations(%s::jsonb)" % quote_literal(CONFIGS[0])],
                               env=dict(os.environ, PGDATABASE=reference_db), check=True,
                               capture_output=True).stdout
    installed = apt_get("install", str(DEB))
    try:
        assert installed.returncode == 0, installed.stderr
        files = [line for line in subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                                                 check=True).stdout.splitlines() if Path(line).is_file()]
        assert "/usr/lib/postgresql/15/lib/export_system.so" in files
        cluster = DebianCluster(WORK / "deb-15")
        cluster.start()
        try:
            new_database(cluster, "from_deb")
            with cluster.connect("from_deb") as conn:
                conn.execute("CREATE EXTENSION export_system")
            cluster.psql("from_deb", "-f", str(REPO / "sql/sample_app.sql"))
            cluster.psql("from_deb", "-f", str(REPO / "sql/sample_data.sql"))
            assert export(cluster, "from_deb", CONFIGS[0]) == reference
            new_database(cluster, "from_deb_update")
            with cluster.connect("from_deb_update") as conn:
                conn.execute("CREATE EXTENSION export_system VERSION '0.1.0'")
                conn.execute("ALTER EXTENSION export_system UPDATE")
                assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'export_system'") \
                    .fetchone() == (VERSION,)
        finally:
            cluster.stop()
        removed = apt_get("remove", package)
        assert removed.returncode == 0, removed.stderr
        assert [path for path in files if Path(path).exists()] == []
    finally:
        apt_get("remove", package)
        bash(f'install_archive "{ARCHIVE}" /usr/lib/postgresql/15/bin/pg_config')


class DebianCluster(Installation):
    """A cluster of Debian's own postgresql-15 installation."""

    def __init__(self, directory):
        self.major = 15
        self.dir = directory
        self.pg_config = "/usr/lib/postgresql/15/bin/pg_config"
        self.bin = "/usr/lib/postgresql/15/bin"
        self.port = None


# --- PGXN ---------------------------------------------------------------------------------------

def test_meta_json_validates_against_the_pgxn_meta_spec(tmp_path):
    meta = json.loads((REPO / "META.json").read_text())
    assert meta["version"] == VERSION and meta["provides"]["export_system"]["version"] == VERSION
    assert (REPO / meta["provides"]["export_system"]["file"]).is_file()
    assert (REPO / meta["provides"]["export_system"]["docfile"]).is_file()
    assert "cargo-pgrx" in meta["description"] and "source distribution" in meta["description"]
    validator = shutil.which("pgxn_meta") or str(Path.home() / ".cargo/bin/pgxn_meta")
    valid = subprocess.run([validator, str(REPO / "META.json")], capture_output=True, text=True)
    assert valid.returncode == 0 and "is OK" in valid.stdout, valid.stderr
    # The validator does refuse what the spec does not allow.
    broken = tmp_path / "META.json"
    broken.write_text(json.dumps({key: value for key, value in meta.items() if key != "license"}))
    assert subprocess.run([validator, str(broken)], capture_output=True, text=True).returncode != 0
