-- The floor: what Postgres itself needs to read the export's rows. The exact
-- query src/source.rs runs for the default config (scope approved, sorted by
-- created_at, ties by id): every turn joined to its conversation, in export
-- order, with the same columns. The benchmark runs it as
--   COPY (<this>) TO '/dev/null'            (server side, as superuser)
--   COPY (<this>) TO STDOUT | psql -o FILE   (through the client, for reference)
SELECT c.id::text, c.conversation_id, c.title, c.status, c.tier, c.category,
       c.quality_score::float8, c.quality_metrics, c.persona, c.emotion, c.topic, c.total_turns,
       c.token_count, c.parent_id::text, c.parent_type, c.review_history, c.created_at, c.updated_at,
       t.turn_number, t.role, t.content, t.token_count
FROM (SELECT c.* FROM public.conversations c
      WHERE c.status = 'approved'
      ORDER BY c.created_at ASC NULLS LAST, c.id ASC) c
LEFT JOIN public.conversation_turns t ON t.conversation_id = c.id
ORDER BY c.created_at ASC NULLS LAST, c.id ASC, t.turn_number
