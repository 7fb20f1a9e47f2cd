-- The plain-SQL alternative, byte for byte: the same OpenAI JSONL that
-- export_conversations('{"format": "jsonl"}') writes (metadata included),
-- one line per conversation, built with to_json() for escaping and
-- string_agg() in turn order, because json_build_object()/json_agg() put
-- spaces around every ':' and ',' and so can never give the same bytes.
-- It mirrors the extension's output exactly: compact JSON, metadata keys in
-- alphabetical order, persona/emotion/topic only when set, a score that is a
-- whole number written as 7.0, timestamps in UTC with milliseconds.
-- (Like the extension it skips conversations without turns; the benchmark's
-- data has no conversation the extension would skip for another reason.)
SELECT '{"messages":['
       || string_agg('{"role":' || to_json(t.role) || ',"content":' || to_json(t.content) || '}', ','
                     ORDER BY t.turn_number)
       || '],"metadata":{"conversation_id":' || to_json(c.conversation_id)
       || ',"created_at":"' || to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"'
       || coalesce(',"emotion":' || to_json(c.emotion), '')
       || coalesce(',"persona":' || to_json(c.persona), '')
       || ',"quality_score":'
       || coalesce(CASE WHEN c.quality_score = trunc(c.quality_score)
                        THEN trunc(c.quality_score)::text || '.0'
                        ELSE c.quality_score::float8::text END, 'null')
       || ',"tier":' || to_json(c.tier)
       || ',"title":' || coalesce(to_json(c.title)::text, 'null')
       || coalesce(',"topic":' || to_json(c.topic), '')
       || ',"updated_at":"' || to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"}}'
FROM public.conversations c
JOIN public.conversation_turns t ON t.conversation_id = c.id
WHERE c.status = 'approved'
GROUP BY c.id
ORDER BY c.created_at, c.id
