-- One of the caller's exports (RLS and is_own_export keep it theirs).
SELECT status, delivery, expires_at <= now(), expires_at::text, COALESCE(part_count, 0), config,
       pg_catalog.to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       conversation_count::int8
FROM export_system.export_logs l
WHERE export_id = $1 AND export_system.is_own_export(l.user_id, l.db_role)
