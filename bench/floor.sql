-- The COPY floor: what Postgres itself needs to read an export's rows. The
-- query src/export/conversation_query.rs builds for the main table's exports
-- (the bench's source, scope approved, sorted by created_at then id,
-- include_metadata true), as auto_explain (log_nested_statements) logs it:
-- each conversation's own row, then its turns' rows, in export order. The
-- benchmark runs it as
--   COPY (<this>) TO '/dev/null'            (server side, as superuser)
--   COPY (<this>) TO STDOUT | psql -o FILE   (through the client, for reference)
SELECT c.export_position,
       export_rows.*
FROM (SELECT c.*,
       pg_catalog.row_number() OVER (ORDER BY c."created_at" ASC NULLS LAST, c."id" ASC) AS export_position
FROM public.conversations c WHERE c."status"::pg_catalog.text OPERATOR(pg_catalog.=) 'approved'::pg_catalog.text
ORDER BY c."created_at" ASC NULLS LAST, c."id" ASC ) c
CROSS JOIN LATERAL ( SELECT 0 AS part,
       c."id"::pg_catalog.text AS id,
       c."conversation_id"::pg_catalog.text AS conversation_id,
       c."title"::pg_catalog.text AS title,
       c."status"::pg_catalog.text AS status,
       c."tier"::pg_catalog.text AS tier,
       c."category"::pg_catalog.text[] AS category,
       c."quality_score"::pg_catalog.text AS quality_score,
       c."quality_metrics"::pg_catalog.text AS quality_metrics,
       c."persona"::pg_catalog.text AS persona,
       c."emotion"::pg_catalog.text AS emotion,
       c."topic"::pg_catalog.text AS topic,
       c."total_turns"::pg_catalog.int8 AS total_turns,
       c."token_count"::pg_catalog.int8 AS token_count,
       c."parent_id"::pg_catalog.text AS parent_id,
       c."parent_type"::pg_catalog.text AS parent_type,
       c."review_history"::pg_catalog.text AS review_history,
       c."created_at"::pg_catalog.timestamptz AS created_at,
       c."updated_at"::pg_catalog.timestamptz AS updated_at,
       c."tools"::pg_catalog.text AS tools,
       false AS messages_unreadable,
       NULL::pg_catalog.int8 AS turn_number,
       NULL::pg_catalog.text AS turn_role,
       NULL::pg_catalog.text AS turn_content,
       NULL::pg_catalog.text AS turn_token_count,
       NULL::pg_catalog.text AS turn_tool_calls,
       NULL::pg_catalog.text AS turn_tool_call_id
UNION ALL (SELECT 1 AS part,
       NULL::pg_catalog.text AS id,
       NULL::pg_catalog.text AS conversation_id,
       NULL::pg_catalog.text AS title,
       NULL::pg_catalog.text AS status,
       NULL::pg_catalog.text AS tier,
       NULL::pg_catalog.text[] AS category,
       NULL::pg_catalog.text AS quality_score,
       NULL::pg_catalog.text AS quality_metrics,
       NULL::pg_catalog.text AS persona,
       NULL::pg_catalog.text AS emotion,
       NULL::pg_catalog.text AS topic,
       NULL::pg_catalog.int8 AS total_turns,
       NULL::pg_catalog.int8 AS token_count,
       NULL::pg_catalog.text AS parent_id,
       NULL::pg_catalog.text AS parent_type,
       NULL::pg_catalog.text AS review_history,
       NULL::pg_catalog.timestamptz AS created_at,
       NULL::pg_catalog.timestamptz AS updated_at,
       NULL::pg_catalog.text AS tools,
       NULL::pg_catalog.bool AS messages_unreadable,
       t."turn_number"::pg_catalog.int8 AS turn_number,
       t."role"::pg_catalog.text AS turn_role,
       t."content"::pg_catalog.text AS turn_content,
       t."token_count"::pg_catalog.text AS turn_token_count,
       t."tool_calls"::pg_catalog.text AS turn_tool_calls,
       t."tool_call_id"::pg_catalog.text AS turn_tool_call_id
FROM public.conversation_turns t WHERE t."conversation_id" OPERATOR(pg_catalog.=) c."id" ORDER BY t."turn_number"
) ) export_rows
