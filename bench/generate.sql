-- Benchmark dataset: :conversations conversations x 10 turns, set-based.
--
--   psql -X -v ON_ERROR_STOP=1 -v conversations=100000 -f bench/generate.sql
--
-- Deterministic: the same size always gives the same rows. Every conversation
-- is approved (so the default export takes them all) and complete (so no
-- format skips one). Eight owners share the rows evenly
-- (be000000-0000-4000-8000-00000000000N, N = 1..8), so exports under RLS see
-- one eighth each. created_at is a permutation of the row numbers, so the
-- export order is not the heap order. Turns alternate user / assistant; a
-- user turn is 2-4 sentences, an assistant turn two paragraphs of 5-8 in all
-- (about 350 bytes a turn on average), with the text real chats have: quotes,
-- apostrophes, newlines, a tab, a backslash, accents, CJK and emoji, list
-- markers and a leading '=' that spreadsheets would take for a formula.

\set ON_ERROR_STOP on

BEGIN;

CREATE TEMP TABLE bench_pool ON COMMIT DROP AS
SELECT ARRAY[
    'How do I roll over my 401(k) into an IRA without paying taxes on it?',
    'I''m not sure whether the "backdoor Roth" applies to me.',
    'My employer matches 50% of contributions up to 6% of salary.',
    'Can you explain the difference between a traditional and a Roth account?',
    'Thanks, that helps a lot!',
    'What happens if I withdraw early — is there always a 10% penalty?',
    'I have about $42,000 in savings and no debt except my car loan.',
    'Is it better to pay off the loan first or to invest?',
    'Here''s what my statement says: "vested balance: $18,250.17".',
    'Sorry, one more question about the deadline.',
    'Great question, and it''s a common one.',
    'A direct rollover moves the money between custodians, so nothing is withheld.',
    'With an indirect rollover you have 60 days to deposit the full amount, including the 20% that was withheld.',
    'The key difference is when you pay tax: now (Roth) or later (traditional).',
    '- Contributions to a traditional account may be deductible.',
    '- Qualified Roth withdrawals are tax-free.',
    '=SUM of the two balances is what counts toward the limit, not each one alone.',
    'Early withdrawals are usually taxed as income plus a 10% additional tax, with some exceptions.',
    'Exceptions include disability, certain medical expenses, and substantially equal periodic payments.',
    'If your car loan''s rate is above what you''d reasonably expect to earn, paying it down is a guaranteed return.',
    'Keep an emergency fund of three to six months of expenses before investing aggressively.',
    'Your employer match is effectively an immediate 50% return, so contribute at least 6%.',
    'I''d suggest checking the plan''s summary description (the "SPD") for the exact vesting schedule.',
    'Note: this isn''t personalised tax advice; a CPA can confirm the details for your situation.',
    'Rules differ by country — in Canada, for example, the equivalents are the RRSP and TFSA.',
    'Le régime de retraite fonctionne différemment au Québec, où la RRQ remplace le RPC.',
    'Für Rentenfragen in Deutschland ist die gesetzliche Rentenversicherung zuständig.',
    '日本では、iDeCo と NISA が代表的な税制優遇制度です。',
    'You can find the form at C:\Users\Public\Documents\rollover-request.pdf on the shared drive.',
    'Step 1:	request the distribution paperwork from your old plan.',
    'Step 2: open the IRA first, so the money has somewhere to land.',
    'Once the check arrives, deposit it within the window and keep the receipts. 📄',
    'That''s all there is to it 🙂 — let me know if anything is unclear.',
    'A quick sanity check: 0.5 × 6% = 3% of salary from the match.',
    'If you earn $85,000, that''s $2,550 a year you''d otherwise leave on the table.',
    'Market timing rarely works; regular contributions smooth out volatility.',
    'Index funds with low expense ratios (under 0.1%) are a sensible default.',
    'Rebalance once a year, or when an allocation drifts more than 5 points from its target.',
    'Remember that required minimum distributions start at age 73 for traditional accounts.',
    'Roth IRAs have no required minimum distributions during the owner''s lifetime.',
    'The income limit for direct Roth contributions changes every year, so check the current figure.',
    'For a backdoor Roth, you contribute to a traditional IRA and convert it shortly after.',
    'The pro-rata rule matters if you already hold pre-tax IRA money.',
    'In short: match first, emergency fund second, then high-interest debt, then more investing.',
    'Would you like a worked example with your numbers?',
    'I can also walk you through the paperwork line by line.',
    'Let''s start with the most important part.',
    'Does that answer your question?'
]::text[] AS s;

INSERT INTO public.conversations
    (id, conversation_id, user_id, title, category, status, quality_score, quality_metrics,
     persona, emotion, topic, tier, total_turns, token_count, parameters, review_history,
     created_at, updated_at)
SELECT md5('bench-conversation-' || i)::uuid,
       'bench-' || lpad(i::text, 7, '0'),
       ('be000000-0000-4000-8000-00000000000' || (1 + i % 8))::uuid,
       (ARRAY['Rolling over a 401(k)', 'Roth or traditional?', 'Paying off debt vs investing',
              'Early withdrawal penalties', 'Employer match basics', 'Backdoor Roth steps',
              'Emergency fund sizing', 'Rebalancing a portfolio'])[1 + i % 8] || ' #' || i,
       (ARRAY['{retirement}', '{retirement,tax}', '{debt}', '{investing,basics}'])[1 + i % 4]::text[],
       'approved',
       round(5 + ((i::bigint * 37) % 500) / 100.0, 2),
       jsonb_build_object('coherence', (i % 10) + 1, 'helpfulness', ((i / 10) % 10) + 1),
       (ARRAY['Student', 'Retiree', 'Small business owner', 'New parent', 'Engineer'])[1 + i % 5],
       (ARRAY['Curious', 'Anxious', 'Frustrated', 'Hopeful'])[1 + i % 4],
       (ARRAY['Retirement', 'Taxes', 'Debt', 'Investing', 'Savings', 'Insurance'])[1 + i % 6],
       (ARRAY['template', 'scenario', 'edge_case'])[1 + i % 3],
       10,
       0,
       jsonb_build_object('seed', i),
       jsonb_build_array(jsonb_build_object('action', 'approved', 'reviewer', 'reviewer-' || (i % 5),
                                            'at', '2025-03-01T12:00:00.000Z')),
       timestamptz '2025-01-01 00:00:00+00' + ((i::bigint * 7919) % :conversations) * interval '1 second',
       timestamptz '2025-01-01 00:00:00+00' + ((i::bigint * 7919) % :conversations) * interval '1 second'
           + (i % 3600) * interval '1 second'
FROM generate_series(1, :conversations) AS i;

INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content, token_count)
SELECT md5('bench-conversation-' || i)::uuid, t, role, content, octet_length(content) / 4
FROM (
    SELECT i, t,
           CASE WHEN t % 2 = 1 THEN 'user' ELSE 'assistant' END AS role,
           CASE WHEN t % 2 = 1
                THEN array_to_string(p.s[1 + h % 44 : 1 + h % 44 + 1 + (h / 64) % 3], ' ')
                ELSE array_to_string(p.s[1 + h % 40 : 1 + h % 40 + 2], ' ') || E'\n\n'
                     || array_to_string(p.s[1 + (h / 64) % 40 : 1 + (h / 64) % 40 + 2 + (h / 4096) % 4], ' ')
           END AS content
    FROM generate_series(1, :conversations) AS i,
         generate_series(1, 10) AS t,
         bench_pool p,
         LATERAL (SELECT hashint4(i * 16 + t) & 2147483647 AS h) AS hash
) AS turns;

UPDATE public.conversations c
SET token_count = s.tokens
FROM (SELECT conversation_id, sum(token_count)::int AS tokens
      FROM public.conversation_turns GROUP BY conversation_id) s
WHERE s.conversation_id = c.id;

COMMIT;

VACUUM (FREEZE, ANALYZE) public.conversations, public.conversation_turns;
