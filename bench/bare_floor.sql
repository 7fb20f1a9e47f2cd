-- The bare-query floor (issue 19): only the data a training file needs —
-- each approved conversation's label and its turns' role and content — in
-- export order. The benchmark runs it as COPY (<this>) TO STDOUT through psql
-- into a file, as superuser and as a signed-in user under RLS.
SELECT c.conversation_id, t.turn_number, t.role, t.content
FROM public.conversations c
JOIN public.conversation_turns t ON t.conversation_id = c.id
WHERE c.status = 'approved'
ORDER BY c.created_at, c.id, t.turn_number
