-- export_system 0.1.0 → 0.2.0: the extension stops owning conversation data.
--
-- 0.1.0 kept conversations in export_system.conversations and
-- export_system.conversation_turns, as members of the extension, so
-- DROP EXTENSION deleted them. Here they are detached: they become the
-- application's own tables (kept, with their rows, grants and RLS policies,
-- by DROP EXTENSION) and are registered as the export source, so the same
-- exports give the same bytes after the update.

-- 0. The schema must be the extension's own. -------------------------------------
-- The owner's code names export_system.…: a schema owned by another role (one
-- made before CREATE EXTENSION) or letting another role create in it could be
-- renamed and replaced by a look-alike that runs that role's code as the owner.
DO $$
DECLARE
    squatted record;
BEGIN
    SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
           pg_catalog.pg_get_userbyid(e.extowner) AS installer
      INTO squatted
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'export_system'
       AND (n.nspowner OPERATOR(pg_catalog.<>) e.extowner
            OR EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a
                        WHERE a.grantee OPERATOR(pg_catalog.<>) n.nspowner
                          AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'));
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = pg_catalog.format(
                'schema %I is owned by %I or lets another role create in it, and export_system updates only in a schema it owns alone',
                squatted.nspname, squatted.owner),
            HINT = pg_catalog.format(
                'Whoever controls that schema could make export_system run their code as %I. Check what it holds, '
                'then ALTER SCHEMA %I OWNER TO %I and REVOKE CREATE from other roles, or drop and reinstall the extension.',
                squatted.installer, squatted.nspname, squatted.installer);
    END IF;
END
$$;

-- 1. Detach the conversation tables. ------------------------------------------
ALTER EXTENSION export_system DROP TABLE export_system.conversations;
ALTER EXTENSION export_system DROP TABLE export_system.conversation_turns;
-- The turns' identity sequence goes with them, if it was recorded as a member.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_depend d
               WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                 AND d.objid OPERATOR(pg_catalog.=) 'export_system.conversation_turns_id_seq'::pg_catalog.regclass
                 AND d.deptype OPERATOR(pg_catalog.=) 'e') THEN
        ALTER EXTENSION export_system DROP SEQUENCE export_system.conversation_turns_id_seq;
    END IF;
END
$$;

-- Their user_id default and owner policy called export_system.current_user_id();
-- the same expression written out, so nothing of theirs depends on the extension.
ALTER TABLE export_system.conversations ALTER COLUMN user_id SET DEFAULT
    COALESCE(NULLIF(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
             (NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
                 OPERATOR(pg_catalog.->>) 'sub'))::pg_catalog.uuid;
DROP POLICY conversations_owner ON export_system.conversations;
CREATE POLICY conversations_owner ON export_system.conversations
    FOR ALL
    USING (user_id OPERATOR(pg_catalog.=) (SELECT COALESCE(NULLIF(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
             (NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
                 OPERATOR(pg_catalog.->>) 'sub'))::pg_catalog.uuid))
    WITH CHECK (user_id OPERATOR(pg_catalog.=) (SELECT COALESCE(NULLIF(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
             (NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
                 OPERATOR(pg_catalog.->>) 'sub'))::pg_catalog.uuid));

-- 2. The extension's new state: the registered source, the queue predicate. ------
CREATE TABLE export_system.source (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    conversations  regclass NOT NULL,
    turns          regclass,
    columns        jsonb NOT NULL,
    registered_by  text NOT NULL DEFAULT session_user,
    registered_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE export_system.source IS
'The registered conversation source (one row): relations and the column of each field. Set with set_source(), read with get_source().';

ALTER TABLE export_system.source ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('export_system.source', '');

CREATE FUNCTION export_system.in_queue(status text, delivery text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'processing'])
   AND delivery OPERATOR(pg_catalog.=) 'background';

DROP INDEX export_system.idx_export_logs_job_queue;
CREATE INDEX idx_export_logs_job_queue ON export_system.export_logs (created_at, export_id)
    WHERE export_system.in_queue(status, delivery);

-- Health of the export system over a window: rates, counts, durations, sizes.
CREATE OR REPLACE FUNCTION export_system.export_metrics(since interval DEFAULT '24 hours') RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    sees_all boolean := export_system.sees_all_exports();
    result jsonb;
    failure_rate numeric;
BEGIN
    IF since IS NULL OR since <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('export_metrics window must be a positive interval, got %s', COALESCE(since::text, 'NULL')),
            HINT = 'For example export_metrics(''7 days'').';
    END IF;
    -- Row Level Security scopes the log: your own rows, or everyone's for operators.
    WITH window_rows AS (
        SELECT l.*,
               CASE WHEN l.conversation_count < 100 THEN 'small (<100)'
                    WHEN l.conversation_count < 500 THEN 'medium (100-499)'
                    ELSE 'large (500+)' END AS size_bucket
        FROM export_system.export_logs l
        WHERE l."timestamp" >= now() - since
    ),
    finished AS (
        SELECT count(*) FILTER (WHERE status IN ('completed', 'expired')) AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed
        FROM window_rows
    ),
    counts AS (
        SELECT status, format, kind, count(*) AS n
        FROM window_rows GROUP BY GROUPING SETS ((status), (format), (kind))
    ),
    durations AS (
        SELECT format, size_bucket, jsonb_build_object(
                   'count', count(*),
                   'mean', round(avg(duration_ms), 1),
                   'p95', round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1)) AS stats
        FROM window_rows
        WHERE status IN ('completed', 'expired') AND duration_ms IS NOT NULL
        GROUP BY GROUPING SETS ((format), (size_bucket))
    )
    SELECT jsonb_build_object(
        'since', since::text,
        'window_start', now() - since,
        'total', (SELECT count(*) FROM window_rows),
        'succeeded', f.succeeded,
        'failed', f.failed,
        'success_rate', CASE WHEN f.succeeded + f.failed > 0
                             THEN round(f.succeeded::numeric / (f.succeeded + f.failed), 4) END,
        'failure_rate', CASE WHEN f.succeeded + f.failed > 0
                             THEN round(f.failed::numeric / (f.succeeded + f.failed), 4) END,
        'by_status', (SELECT COALESCE(jsonb_object_agg(status, n), '{}') FROM counts WHERE status IS NOT NULL),
        'by_format', (SELECT COALESCE(jsonb_object_agg(format, n), '{}') FROM counts WHERE format IS NOT NULL),
        'by_kind', (SELECT COALESCE(jsonb_object_agg(kind, n), '{}') FROM counts WHERE kind IS NOT NULL),
        'duration_ms_by_format', (SELECT COALESCE(jsonb_object_agg(format, stats), '{}')
                                  FROM durations WHERE format IS NOT NULL),
        'duration_ms_by_size', (SELECT COALESCE(jsonb_object_agg(size_bucket, stats), '{}')
                                FROM durations WHERE size_bucket IS NOT NULL),
        'bytes_by_format', (SELECT COALESCE(jsonb_object_agg(format, bytes), '{}')
                            FROM (SELECT format, COALESCE(sum(file_size), 0) AS bytes
                                  FROM window_rows GROUP BY format) s),
        'exports_per_day', (SELECT COALESCE(jsonb_object_agg(day, n), '{}')
                            FROM (SELECT to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS n
                                  FROM window_rows GROUP BY 1) s),
        'per_user', CASE WHEN sees_all THEN (
                        SELECT COALESCE(jsonb_object_agg(who, n), '{}')
                        FROM (SELECT COALESCE(user_id::text, 'role:' || db_role) AS who, count(*) AS n
                              FROM window_rows GROUP BY 1) s) END,
        'queue_depth', (SELECT count(*) FROM export_system.export_logs
                        WHERE export_system.in_queue(status, delivery)),
        'stored_bytes', (SELECT COALESCE(sum(octet_length(content)), 0) FROM export_system.export_files))
    INTO result
    FROM finished f;

    failure_rate := (result ->> 'failure_rate')::numeric;
    result := result || jsonb_build_object('failure_alert', COALESCE(failure_rate > 0.10, false));
    IF failure_rate > 0.10 THEN
        RAISE WARNING USING
            MESSAGE = format('export failure rate %s%% over the last %s exceeds 10%%',
                             round(failure_rate * 100, 1), since),
            HINT = 'See export_system.export_history(''{"status": "failed"}'') for the error messages.';
    END IF;
    RETURN result;
END
$function$;

COMMENT ON FUNCTION export_system.export_metrics(interval) IS
'Success/failure rates, counts by status/format/kind, mean and p95 duration by format and by size bucket, bytes by format, exports per day, per-user counts (operators only), queue depth, stored bytes; failure_alert and a WARNING above 10% failures.';

-- 3. Functions new in 0.2.0, and export_history now in Rust. ---------------------
DROP FUNCTION export_system.export_history(jsonb);
CREATE FUNCTION export_system."export_history"(
	"filter" jsonb DEFAULT '{}' /* Option < ConfigJson > */
) RETURNS jsonb /* JsonB */
STABLE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'export_history_wrapper';

CREATE FUNCTION export_system."set_source"(
	"conversations" regclass, /* PgRelation */
	"turns" regclass DEFAULT NULL, /* Option < PgRelation > */
	"columns" jsonb DEFAULT '{}', /* Option < ConfigJson > */
	"allow_without_rls" bool DEFAULT false /* bool */
) RETURNS jsonb /* JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'set_source_wrapper';

CREATE FUNCTION export_system."get_source"() RETURNS jsonb /* Option < JsonB > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'get_source_wrapper';

CREATE FUNCTION export_system."json_is_readable"(
	"json" TEXT /* &str */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'json_is_readable_wrapper';

CREATE FUNCTION export_system."training_report"(
	"config" jsonb DEFAULT '{}' /* Option < ConfigJson > */
) RETURNS jsonb /* JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'training_report_wrapper';

-- 4. Grants: export_query takes SQL text and is for operators only now. -------------
REVOKE ALL ON FUNCTION export_system.json_is_readable(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION export_system.training_report(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION export_system.export_history(jsonb), export_system.get_source(),
    export_system.set_source(regclass, regclass, jsonb, boolean),
    export_system.in_queue(text, text) FROM PUBLIC;
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE pg_catalog.format(
                'REVOKE EXECUTE ON FUNCTION export_system.export_query(text, jsonb) FROM %I', api_role);
            EXECUTE pg_catalog.format(
                'GRANT EXECUTE ON FUNCTION export_system.export_history(jsonb), export_system.get_source(), '
                'export_system.in_queue(text, text), export_system.json_is_readable(text), '
                'export_system.training_report(jsonb) TO %I', api_role);
        END IF;
    END LOOP;
END
$$;

-- 5. Register the detached tables as the source. -----------------------------------
SELECT export_system.set_source('export_system.conversations', 'export_system.conversation_turns');
