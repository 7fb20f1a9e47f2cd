"""PostgREST replayed: the exact SQL it sends for supabase-js `.rpc()`,
as authenticator switching role and JWT claims per request, with Supabase's
statement timeouts and row cap.
"""
import json

import psycopg

# Supabase's defaults.
ROLE_STATEMENT_TIMEOUT = {"authenticated": "8s", "anon": "3s"}
SUPABASE_MAX_ROWS = 1000


class Session:
    """A connection as PostgREST makes it: log in as authenticator, then per
    request switch role and JWT claims with transaction-local set_config."""

    def __init__(self, dbname):
        self.dbname = dbname

    def call(self, sql, params=(), sub=None, role="authenticated", rollback=False):
        claims = {"role": role}
        if sub is not None:
            claims["sub"] = sub
        # PostgREST applies the impersonated role's statement_timeout per request.
        timeout = ROLE_STATEMENT_TIMEOUT.get(role, "0")
        with psycopg.connect(dbname=self.dbname, user="authenticator") as conn:
            with conn.cursor() as cur:
                # psycopg opens the transaction (BEGIN) on the first statement.
                cur.execute(
                    "select set_config('search_path', '\"export_system\", \"public\"', true), "
                    "set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
                    "set_config('statement_timeout', %s, true), "
                    "set_config('request.method', 'POST', true), "
                    "set_config('request.path', '/rpc/export_conversations', true)",
                    (role, json.dumps(claims), timeout),
                )
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
            if rollback:
                conn.rollback()
            else:
                conn.commit()
        return rows


# PostgREST 12's query for POST /rpc/export_conversations with the JSON body
# {"config": {...}}: a set-returning scalar function is called in a LATERAL
# select list, the rows capped by db-max-rows (1000 on Supabase) and
# aggregated into one JSON array body.
POSTGREST_RPC = """
WITH pgrst_source AS (
  SELECT pgrst_call.pgrst_scalar
  FROM (SELECT %s::json AS json_data) pgrst_payload,
  LATERAL (SELECT "config" FROM json_to_record(pgrst_payload.json_data) AS _("config" jsonb) LIMIT 1) pgrst_args,
  LATERAL (SELECT "export_system"."export_conversations"("config" := pgrst_args."config") pgrst_scalar) pgrst_call
)
SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total,
       coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text AS body,
       nullif(current_setting('response.headers', true), '') AS response_headers,
       nullif(current_setting('response.status', true), '') AS response_status
FROM (SELECT "pgrst_source".* FROM "pgrst_source" LIMIT %s OFFSET 0) _postgrest_t
"""


def rpc_export(session, config, sub=None, role="authenticated", rollback=False, max_rows=1000):
    rows = session.call(POSTGREST_RPC, (json.dumps({"config": config}), max_rows), sub=sub, role=role,
                        rollback=rollback)
    return json.loads(rows[0][2])


def postgrest_call_sql(function, args, returns_set):
    """PostgREST 12's query for POST /rpc/<function> with a JSON body of
    named arguments; `args` maps each name to its SQL type."""
    columns = ", ".join(f'"{name}"' for name in args)
    record = ", ".join(f'"{name}" {sql_type}' for name, sql_type in args.items())
    named = ", ".join(f'"{name}" := pgrst_args."{name}"' for name in args)
    arguments = (f'LATERAL (SELECT {columns} FROM json_to_record(pgrst_payload.json_data) AS _({record}) LIMIT 1) '
                 'pgrst_args,') if args else ""
    body = ("coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')" if returns_set
            else "coalesce((json_agg(_postgrest_t.pgrst_scalar)->0), 'null')")
    return f"""
WITH pgrst_source AS (
  SELECT pgrst_call.pgrst_scalar
  FROM (SELECT %s::json AS json_data) pgrst_payload,
  {arguments}
  LATERAL (SELECT "export_system"."{function}"({named}) pgrst_scalar) pgrst_call
)
SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total,
       {body}::text AS body,
       nullif(current_setting('response.headers', true), '') AS response_headers,
       nullif(current_setting('response.status', true), '') AS response_status
FROM (SELECT "pgrst_source".* FROM "pgrst_source" LIMIT %s OFFSET 0) _postgrest_t
"""


def rpc(session, function, args, values, returns_set=False, sub=None, role="authenticated",
        max_rows=SUPABASE_MAX_ROWS, rollback=False):
    """supabase.rpc(function, values): the parsed JSON response body. Like
    PostgREST, only the arguments present in the body are passed."""
    args = {name: sql_type for name, sql_type in args.items() if name in values}
    rows = session.call(postgrest_call_sql(function, args, returns_set),
                        (json.dumps(values), max_rows), sub=sub, role=role, rollback=rollback)
    return json.loads(rows[0][2])
