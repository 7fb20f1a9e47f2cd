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

-- The caller's export history, newest first, one page at a time.
CREATE FUNCTION export_system.export_history(filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    key text;
    value jsonb;
    allowed text[];
    list text[];
    page integer := 1;
    page_size integer := 20;
    formats text[];
    statuses text[];
    kinds text[];
    time_from timestamptz;
    time_to timestamptz;
    time_to_exclusive boolean := false;
    user_id uuid := export_system.current_user_id();
    sees_all boolean := export_system.sees_all_exports();
    conditions text[] := ARRAY[]::text[];
    where_clause text;
    total bigint;
    exports jsonb;
BEGIN
    filter := COALESCE(filter, '{}');
    IF jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('history filter must be a JSON object, got %s', filter),
            HINT = 'Pass an object such as ''{"page": 1, "limit": 20, "status": "completed"}''::jsonb.';
    END IF;
    FOR key IN SELECT jsonb_object_keys(filter) LOOP
        IF key <> ALL (ARRAY['page', 'limit', 'format', 'status', 'kind', 'from', 'to']) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('unknown key "%s" in history filter', key),
                HINT = 'Valid keys: page, limit, format, status, kind, from, to.';
        END IF;
    END LOOP;

    FOREACH key IN ARRAY ARRAY['page', 'limit'] LOOP
        CONTINUE WHEN NOT filter ? key;
        value := filter -> key;
        IF jsonb_typeof(value) <> 'number' OR value::text !~ '^\d+$'
           OR value::numeric < 1 OR (key = 'limit' AND value::numeric > 100)
           OR value::numeric > 2147483647 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('history filter key "%s" must be a whole number %s, got %s',
                                 key, CASE key WHEN 'limit' THEN 'from 1 to 100' ELSE 'of at least 1' END, value),
                HINT = 'Pages are numbered from 1; a page holds at most 100 exports.';
        END IF;
        IF key = 'page' THEN page := value::text::integer; ELSE page_size := value::text::integer; END IF;
    END LOOP;

    FOREACH key IN ARRAY ARRAY['format', 'status', 'kind'] LOOP
        CONTINUE WHEN NOT filter ? key;
        value := filter -> key;
        allowed := CASE key
            WHEN 'format' THEN ARRAY['jsonl', 'json', 'csv', 'markdown']
            WHEN 'status' THEN ARRAY['queued', 'processing', 'completed', 'failed', 'expired', 'cancelled']
            ELSE ARRAY['conversations', 'query'] END;
        IF jsonb_typeof(value) = 'string' THEN
            value := jsonb_build_array(value);
        END IF;
        IF jsonb_typeof(value) <> 'array' OR EXISTS (
               SELECT FROM jsonb_array_elements(value) item
               WHERE jsonb_typeof(item) <> 'string' OR (item #>> '{}') <> ALL (allowed)) THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('history filter key "%s" has an invalid value %s', key, filter -> key),
                HINT = format('Give one of %s, or an array of them.', array_to_string(allowed, ', '));
        END IF;
        list := ARRAY(SELECT jsonb_array_elements_text(value));
        CASE key
            WHEN 'format' THEN formats := list;
            WHEN 'status' THEN statuses := list;
            ELSE kinds := list;
        END CASE;
    END LOOP;

    FOREACH key IN ARRAY ARRAY['from', 'to'] LOOP
        CONTINUE WHEN NOT filter ? key;
        BEGIN
            IF jsonb_typeof(filter -> key) <> 'string' THEN
                RAISE invalid_datetime_format;
            END IF;
            IF key = 'from' THEN
                time_from := (filter ->> key)::timestamptz;
            ELSE
                time_to := (filter ->> key)::timestamptz;
                -- A bare date covers that whole day.
                time_to_exclusive := (filter ->> key) ~ '^\d{4}-\d{2}-\d{2}$';
                IF time_to_exclusive THEN
                    time_to := ((filter ->> key)::date + 1)::timestamp AT TIME ZONE 'UTC';
                END IF;
            END IF;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('history filter key "%s" must be an ISO 8601 date or timestamp, got %s',
                                 key, filter -> key),
                HINT = 'For example "2026-01-31" or "2026-01-31T12:00:00Z"; both ends are inclusive.';
        END;
    END LOOP;

    -- Structure from constants only; every value is a parameter.
    IF NOT sees_all THEN
        conditions := conditions || CASE WHEN user_id IS NOT NULL THEN 'l.user_id = $1'::text
            ELSE 'l.user_id IS NULL AND l.db_role = CURRENT_USER' END;
    END IF;
    IF formats IS NOT NULL THEN conditions := conditions || 'l.format = ANY ($2)'::text; END IF;
    IF statuses IS NOT NULL THEN conditions := conditions || 'l.status = ANY ($3)'::text; END IF;
    IF kinds IS NOT NULL THEN conditions := conditions || 'l.kind = ANY ($4)'::text; END IF;
    IF time_from IS NOT NULL THEN conditions := conditions || 'l."timestamp" >= $5'::text; END IF;
    IF time_to IS NOT NULL THEN
        conditions := conditions || CASE WHEN time_to_exclusive THEN 'l."timestamp" < $6'::text ELSE 'l."timestamp" <= $6' END;
    END IF;
    where_clause := CASE WHEN cardinality(conditions) > 0
                         THEN 'WHERE ' || array_to_string(conditions, ' AND ') ELSE '' END;

    EXECUTE 'SELECT count(*) FROM export_system.export_logs l ' || where_clause
        INTO total USING user_id, formats, statuses, kinds, time_from, time_to;
    EXECUTE 'SELECT COALESCE(jsonb_agg(page ORDER BY page."timestamp" DESC, page.export_id DESC), ''[]'') FROM (
                 SELECT l.export_id, l."timestamp", l.kind, l.format, l.status, l.delivery,
                        l.conversation_count, l.skipped_count, l.file_size, l.duration_ms, l.expires_at,
                        l.download_count, l.error_message, l.db_role, l.config'
             || CASE WHEN sees_all THEN ', l.user_id' ELSE '' END || '
                 FROM export_system.export_logs l ' || where_clause || '
                 ORDER BY l."timestamp" DESC, l.export_id DESC
                 LIMIT $7 OFFSET $8) page'
        INTO exports
        USING user_id, formats, statuses, kinds, time_from, time_to, page_size, (page - 1)::bigint * page_size;

    RETURN jsonb_build_object(
        'page', page,
        'limit', page_size,
        'total', total,
        'pages', ceil(total::numeric / page_size)::bigint,
        'exports', exports);
END
$function$;

COMMENT ON FUNCTION export_system.export_history(jsonb) IS
'Your exports, newest first: {"page", "limit" (max 100), "format", "status", "kind", "from", "to"} → {"page", "limit", "total", "pages", "exports"}. service_role and superusers see every user''s.';

-- Health of the export system over a window: rates, counts, durations, sizes.
CREATE FUNCTION export_system.export_metrics(since interval DEFAULT '24 hours') RETURNS jsonb
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
