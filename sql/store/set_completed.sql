-- processing -> completed, downloadable until the file's time is up.
UPDATE export_system.export_logs
SET status = 'completed', completed_at = now(), updated_at = now(),
    conversation_count = $2, skipped_count = $3, file_size = $4, duration_ms = $5,
    progress_done = $6, progress_total = $6, part_count = $7, redactions = $9,
    expires_at = now() + pg_catalog.make_interval(secs => $8)
WHERE export_id = $1::uuid
