-- The formatting-free bound (issue 19): an export whose decoding and
-- formatting cost nothing. Postgres visits every turn the export reads, in
-- export order (the same index scans and heap fetches, without reading the
-- text), and psql writes the export's own rows, stored beforehand in {rows}
-- (their position, their text), into a file. The benchmark runs it through
-- the same psql as the export, under FETCH_COUNT, as superuser. What an
-- export takes beyond it is its own work; what a target allows beyond it is
-- all the work any export could have. Both are short by one thing the bound
-- does and an export does not: reading the stored rows back out of TOAST.
SELECT r.line
FROM {rows} r
LEFT JOIN (SELECT c.id, pg_catalog.row_number() OVER (ORDER BY c.created_at, c.id) AS position
           FROM public.conversations c
           WHERE c.status = 'approved') c ON c.position = r.position
LEFT JOIN LATERAL (SELECT pg_catalog.sum(pg_catalog.octet_length(t.content)) AS bytes
                   FROM public.conversation_turns t
                   WHERE t.conversation_id = c.id) turns ON true
-- Uses the turns' sum, so the planner cannot drop their scan.
WHERE turns.bytes IS DISTINCT FROM -1
ORDER BY r.position
