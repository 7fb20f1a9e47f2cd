-- One page of the export history: {page, limit, total, pages, exports}.
-- The braced placeholders are filled in with constants and validated integers; values are parameters.
SELECT jsonb_build_object('page', {page}, 'limit', {size}, 'total', t.total,
         'pages', ceil(t.total::numeric / {size})::bigint,
         'exports', (SELECT COALESCE(jsonb_agg(page ORDER BY page."timestamp" DESC, page.export_id DESC), '[]')
                     FROM (SELECT l.export_id, l."timestamp", l.kind, l.format, l.status, l.delivery,
                                  l.conversation_count, l.skipped_count, l.file_size, l.duration_ms,
                                  l.expires_at, l.download_count, l.error_message, l.db_role, l.saved_export, l.increment, l.config{user_column}
                           FROM export_system.export_logs l {where}
                           ORDER BY l."timestamp" DESC, l.export_id DESC
                           LIMIT {limit} OFFSET {offset}) page))
FROM (SELECT count(*) AS total FROM export_system.export_logs l {where}) t
