-- The plain-SQL alternative, byte for byte: the same OpenAI JSONL that
-- export_conversations('{"format": "jsonl", "include_metadata": true}')
-- writes, one line per conversation, built with to_json() for escaping and
-- string_agg() in turn order, because json_build_object()/json_agg() put
-- spaces around every ':' and ',' and so can never give the same bytes.
-- It mirrors the extension's output exactly: compact JSON, metadata keys in
-- alphabetical order, every metadata value a string ('' when unset, the
-- score in its shortest decimal form), timestamps in UTC with milliseconds.
-- (Like the extension it skips conversations without turns; the benchmark's
-- data has no conversation the extension would skip for another reason.)
SELECT '{"messages":['
       || string_agg('{"role":' || to_json(t.role) || ',"content":' || to_json(t.content) || '}', ','
                     ORDER BY t.turn_number)
       || '],"metadata":{"conversation_id":' || to_json(c.conversation_id)
       || ',"created_at":"' || to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"'
       || ',"emotion":' || to_json(coalesce(c.emotion, ''))
       || ',"persona":' || to_json(coalesce(c.persona, ''))
       || ',"quality_score":' || to_json(coalesce(c.quality_score::float8::text, ''))
       || ',"tier":' || to_json(c.tier)
       || ',"title":' || to_json(coalesce(c.title, ''))
       || ',"topic":' || to_json(coalesce(c.topic, ''))
       || ',"updated_at":"' || to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"}}'
FROM public.conversations c
JOIN public.conversation_turns t ON t.conversation_id = c.id
WHERE c.status = 'approved'
GROUP BY c.id
ORDER BY c.created_at, c.id
