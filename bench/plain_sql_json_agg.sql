-- The plain-SQL alternative as most people write it: json_build_object() per
-- conversation, json_agg() of the turns in turn order. Postgres writes this
-- JSON with spaces ('"role" : "user", ...'), so its bytes differ from the
-- extension's; the benchmark checks it line by line as JSON values instead
-- (metadata values are strings, '' when unset, as the extension writes them).
SELECT json_build_object(
           'messages', json_agg(json_build_object('role', t.role, 'content', t.content)
                                ORDER BY t.turn_number),
           'metadata', json_build_object(
               'conversation_id', c.conversation_id, 'title', coalesce(c.title, ''), 'tier', c.tier,
               'quality_score', coalesce(c.quality_score::float8::text, ''),
               'created_at', to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'updated_at', to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               'persona', coalesce(c.persona, ''), 'emotion', coalesce(c.emotion, ''),
               'topic', coalesce(c.topic, '')))
FROM public.conversations c
JOIN public.conversation_turns t ON t.conversation_id = c.id
WHERE c.status = 'approved'
GROUP BY c.id
ORDER BY c.created_at, c.id
