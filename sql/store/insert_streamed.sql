-- A streamed export's one audit row: completed or cancelled.
INSERT INTO export_system.export_logs
  (export_id, user_id, db_role, format, config, status, conversation_count,
   skipped_count, file_size, duration_ms, error_message, kind, redactions, saved_export)
VALUES ($1::pg_catalog.uuid, $2::pg_catalog.uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
        $5 OPERATOR(pg_catalog.->>) 'saved')
