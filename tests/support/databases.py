"""Databases for the SQL-level suite: created with the extension and the
sample data, reached as the owner, as psql writing files, or with plain SQL.
scripts/test.sh starts the throwaway cluster and exports PGHOST/PGPORT.
"""
import json
import os
import subprocess
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent.parent
ALICE = "0000000a-0000-4000-8000-00000000000a"
BOB = "0000000b-0000-4000-8000-00000000000b"
CAROL = "0000000c-0000-4000-8000-00000000000c"


def admin_connect(dbname="postgres", **kwargs):
    return psycopg.connect(dbname=dbname, user="postgres", autocommit=True, **kwargs)


def create_database(name, supabase_auth=True, rate_limit=0):
    """A database with the extension and the sample data. Tests make far more
    exports per hour than the default rate limit (10) allows, so only the
    rate-limit tests keep one."""
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'ALTER DATABASE "{name}" SET export_system.rate_limit = {int(rate_limit)}')
    env = dict(os.environ, PGDATABASE=name)
    if supabase_auth:
        subprocess.run(
            ["bash", "-c", f'source "{REPO}/scripts/common.sh" && create_supabase_auth_schema "{name}"'],
            check=True, env=env,
        )
    with admin_connect(name) as conn:
        conn.execute("CREATE EXTENSION export_system")
    for script in ("sql/sample_app.sql", "sql/sample_data.sql"):
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(REPO / script)],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )
    return name


def psql_export(dbname, config, path, extra_env=None):
    """The README's byte-exact file command."""
    env = dict(os.environ, PGDATABASE=dbname, **(extra_env or {}))
    sql = "SELECT export_system.export_conversations(%s::jsonb)" % quote_literal(json.dumps(config))
    subprocess.run(
        ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-v", "FETCH_COUNT=1000", "-c", sql, "-o", str(path)],
        check=True, env=env,
    )
    return Path(path).read_bytes()


def quote_literal(text):
    return "'" + text.replace("'", "''") + "'"


def rows_to_file(rows):
    return b"".join(r.encode() + b"\n" for r in rows)


def fetch_rows(dbname, sql, params=()):
    with admin_connect(dbname) as conn:
        return conn.execute(sql, params or None).fetchall()


def new_uuid():
    return str(uuid.uuid4())
