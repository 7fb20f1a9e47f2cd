-- Stored parts of every export that is no longer downloadable or being written.
WITH deleted AS (
  DELETE FROM export_system.export_files f
  WHERE NOT EXISTS (SELECT FROM export_system.export_logs l
                    WHERE l.export_id = f.export_id AND l.status IN ('completed', 'processing'))
  RETURNING pg_catalog.octet_length(f.content) AS bytes)
SELECT count(*), COALESCE(sum(bytes), 0)::int8 FROM deleted
