-- Deterministic sample data for export_system: 240 conversations of three
-- owners, every status and tier, 2–19 turns each, with content that breaks
-- naive exporters (quotes, commas, newlines, tabs, backslashes, emoji,
-- CJK/Arabic, U+2028/U+2029, Markdown and spreadsheet-formula look-alikes).
-- Re-running replaces the previous sample rows. Run as the table owner,
-- after sql/sample_app.sql has created the application's tables.
--
-- Owners (JWT subjects):
--   alice 0000000a-0000-4000-8000-00000000000a
--   bob   0000000b-0000-4000-8000-00000000000b
--   carol 0000000c-0000-4000-8000-00000000000c

\set ON_ERROR_STOP on
BEGIN;

DELETE FROM public.conversations WHERE conversation_id LIKE 'sample-%';

CREATE TEMP TABLE sample_snippets (k int PRIMARY KEY, text text NOT NULL) ON COMMIT DROP;
INSERT INTO sample_snippets VALUES
    (0, 'He said "hello", then left.'),
    (1, E'Line one\nLine two\n\nLine four after a blank line'),
    (2, E'Tab\tseparated\tvalues'),
    (3, E'A Windows path C:\\Users\\me and a literal \\n that is not a newline'),
    (4, 'Rocket 🚀 and a family 👩‍👩‍👧 and a flag 🇯🇵'),
    (5, '中文内容，日本語の文章、한국어 문장'),
    (6, 'مرحبا بالعالم — نص عربي'),
    (7, 'line' || chr(8232) || 'separator and paragraph' || chr(8233) || 'separator'),
    (8, '=SUM(A1:A2) looks like a formula'),
    (9, E'# Not a heading\n---\n> not a quote\n```\ncode fence\n```'),
    (10, 'Commas, commas, and more commas,'),
    (11, '<b>tags</b> & entities &amp; *stars* _underscores_ [link](http://x)'),
    (12, E'Windows line end\r\nand a lone CR\rinside'),
    (13, '-5 degrees and +3 points @mention'),
    (14, 'Plain sentence about portfolio diversification and risk.');

INSERT INTO public.conversations
    (id, conversation_id, user_id, title, category, status, quality_score, quality_metrics,
     persona, emotion, topic, tier, total_turns, token_count, parent_id, parent_type,
     parameters, review_history, created_at, updated_at)
SELECT
    md5('sample-conversation-' || i)::uuid,
    'sample-' || lpad(i::text, 4, '0'),
    (ARRAY['0000000a-0000-4000-8000-00000000000a',
           '0000000b-0000-4000-8000-00000000000b',
           '0000000c-0000-4000-8000-00000000000c'])[1 + i % 3]::uuid,
    CASE WHEN i % 10 = 0 THEN NULL
         WHEN i % 7 = 0 THEN 'Refund "policy", part ' || i || E' \\ review'
         ELSE (ARRAY['Market volatility', 'Retirement planning', 'Crypto questions', '税金の相談', 'تخطيط الميزانية'])[1 + i % 5] || ' #' || i
    END,
    CASE i % 4 WHEN 0 THEN '{finance}' WHEN 1 THEN '{finance,advice}' WHEN 2 THEN '{support}' ELSE '{}' END::text[],
    CASE WHEN i % 2 = 0 THEN 'approved'
         ELSE (ARRAY['draft', 'generated', 'pending_review', 'rejected', 'needs_revision', 'failed'])[1 + (i / 2) % 6]
    END,
    CASE WHEN i % 11 = 0 THEN NULL ELSE round((5 + (i * 37 % 50) / 10.0)::numeric, 2) END,
    jsonb_build_object('completeness', (i % 10) / 10.0, 'coherence', ((i + 3) % 10) / 10.0),
    CASE WHEN i % 13 = 0 THEN NULL
         ELSE (ARRAY['Anxious Investor', 'Retiree', 'Student', 'Small Business Owner', 'Skeptic'])[1 + i % 5] END,
    (ARRAY['Fear', 'Hope', 'Frustration', 'Curiosity'])[1 + i % 4],
    (ARRAY['Market Volatility', 'Taxes', 'Budgeting', 'Savings', 'Debt'])[1 + (i * 3) % 5],
    (ARRAY['template', 'scenario', 'edge_case'])[1 + (i / 3) % 3],
    2 * (1 + (i * 7) % 9) + CASE WHEN i % 4 = 0 THEN 1 ELSE 0 END,
    0,
    CASE WHEN i % 5 = 0 THEN md5('parent-' || (i % 3))::uuid END,
    CASE WHEN i % 5 = 0 THEN (ARRAY['template', 'scenario'])[1 + i % 2] END,
    jsonb_build_object('temperature', 0.7, 'seed', i),
    CASE WHEN i % 2 = 0
         THEN jsonb_build_array(jsonb_build_object(
                'action', 'approved', 'performedBy', 'reviewer-' || (i % 4),
                'timestamp', to_char((timestamptz '2025-10-01 00:00:00+00' + make_interval(hours => i + 2))
                                     AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                'comment', 'Looks good, "ship it"'))
         ELSE '[]'::jsonb
    END,
    timestamptz '2025-10-01 00:00:00+00' + make_interval(hours => i),
    timestamptz '2025-10-01 00:00:00+00' + make_interval(hours => i + 2)
FROM generate_series(1, 240) AS i;

-- Roles: every fourth conversation opens with a system turn; the rest
-- alternate user/assistant. Every 37th has no assistant turn at all, and
-- every 41st has an empty message: neither is a valid training example.
INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content, token_count)
SELECT
    c.id,
    n,
    CASE WHEN i % 37 = 0 THEN 'user'
         WHEN i % 4 = 0 AND n = 1 THEN 'system'
         WHEN (n - (CASE WHEN i % 4 = 0 THEN 1 ELSE 0 END)) % 2 = 1 THEN 'user'
         ELSE 'assistant'
    END,
    CASE WHEN i % 4 = 0 AND n = 1 THEN 'You are a careful financial advisor. Answer in plain words.'
         WHEN i % 41 = 0 AND n = 2 THEN ''
         WHEN n = 3 THEN s.text
         ELSE 'Turn ' || n || ' of ' || c.conversation_id || ': ' || s.text
    END,
    10 + (i * n) % 90
FROM public.conversations c
CROSS JOIN LATERAL (SELECT substr(c.conversation_id, 8)::int AS i) AS num
CROSS JOIN LATERAL generate_series(1, c.total_turns) AS n
JOIN sample_snippets s ON s.k = (num.i * 31 + n * 17) % 15
WHERE c.conversation_id LIKE 'sample-%';

UPDATE public.conversations c
SET token_count = t.tokens
FROM (SELECT conversation_id, sum(token_count)::int AS tokens
      FROM public.conversation_turns GROUP BY conversation_id) t
WHERE t.conversation_id = c.id AND c.conversation_id LIKE 'sample-%';

COMMIT;
