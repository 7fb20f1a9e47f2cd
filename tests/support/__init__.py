"""Helpers shared by the SQL-level suite: databases (tests/support/databases.py)
and PostgREST replayed (tests/support/postgrest.py)."""
from support.databases import (ALICE, BOB, CAROL, REPO, admin_connect, create_database, fetch_rows,  # noqa: F401
                               new_uuid, psql_export, quote_literal, rows_to_file)
from support.postgrest import (POSTGREST_RPC, ROLE_STATEMENT_TIMEOUT, SUPABASE_MAX_ROWS, Session,  # noqa: F401
                               postgrest_call_sql, rpc, rpc_export)
