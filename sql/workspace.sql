-- Status of one export, for its owner only: NULL for any other export_id.
-- Progress is committed by the worker batch by batch, so another connection
-- sees it move while the job runs.
CREATE FUNCTION export_system.export_status(export_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT pg_catalog.jsonb_build_object(
        'export_id', l.export_id,
        'status', l.status,
        'delivery', l.delivery,
        'format', l.format,
        'saved_export', l.saved_export,
        'increment', l.increment,
        'progress', pg_catalog.jsonb_build_object(
            'done', l.progress_done,
            'total', l.progress_total,
            'percent', CASE WHEN l.status = 'completed' THEN 100
                            WHEN l.progress_total > 0
                            THEN pg_catalog.round(100.0 * l.progress_done / l.progress_total, 1) END),
        'conversation_count', l.conversation_count,
        'skipped_count', l.skipped_count,
        'file_size', l.file_size,
        'part_count', l.part_count,
        'download_count', l.download_count,
        'expires_at', l.expires_at,
        'error_message', l.error_message,
        'created_at', l.created_at,
        'started_at', l.started_at,
        'completed_at', l.completed_at)
    FROM export_system.export_logs l
    WHERE l.export_id = export_status.export_id
      AND export_system.is_own_export(l.user_id, l.db_role);
END;

COMMENT ON FUNCTION export_system.export_status(uuid) IS
'Status, progress, counts, size, expiry and error of one of your exports; NULL when it is not yours or does not exist.';

-- Whether the caller sees every user's exports: operators (superusers and
-- roles that bypass RLS, such as Supabase's service_role).
CREATE FUNCTION export_system.sees_all_exports() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
        WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER);

COMMENT ON FUNCTION export_system.sees_all_exports() IS
'True for superusers and BYPASSRLS roles (service_role): export_history and export_metrics then cover every user.';

-- Health of the export system over a window: rates, counts, durations, sizes.
CREATE FUNCTION export_system.export_metrics(since interval DEFAULT '24 hours') RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    sees_all boolean;
    result jsonb;
    failure_rate numeric;
BEGIN
    -- PL/pgSQL resolves export_system.… when it runs: only in the extension's own schema.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
                   WHERE e.extname OPERATOR(pg_catalog.=) 'export_system'
                     AND n.nspname OPERATOR(pg_catalog.=) 'export_system'
                     AND n.nspowner OPERATOR(pg_catalog.=) e.extowner) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = 'the schema named export_system is not the extension''s own: it was renamed, replaced, or is owned by another role than the extension''s owner',
            HINT = 'Have a superuser restore it, or drop and reinstall the extension.';
    END IF;
    sees_all := export_system.sees_all_exports();
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
