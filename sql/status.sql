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
