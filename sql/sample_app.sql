-- The sample application's own conversation tables, as a Supabase project
-- has them: public.conversations and public.conversation_turns, with the
-- app's Row Level Security on the signed-in user (auth.uid(), or on plain
-- PostgreSQL the same JWT claims read directly). The extension owns none of
-- this: it is registered as the export source at the end.
-- Re-running keeps existing tables. Run as the tables' owner.

\set ON_ERROR_STOP on
BEGIN;

CREATE TABLE IF NOT EXISTS public.conversations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  text NOT NULL UNIQUE,
    user_id          uuid NOT NULL,
    title            text,
    category         text[] NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'generated' CHECK (status IN
        ('draft', 'generated', 'pending_review', 'approved', 'rejected', 'needs_revision', 'failed')),
    quality_score    numeric(4, 2) CHECK (quality_score BETWEEN 0 AND 10),
    quality_metrics  jsonb,
    persona          text,
    emotion          text,
    topic            text,
    tier             text NOT NULL CHECK (tier IN ('template', 'scenario', 'edge_case')),
    total_turns      integer NOT NULL DEFAULT 0 CHECK (total_turns >= 0),
    token_count      integer NOT NULL DEFAULT 0 CHECK (token_count >= 0),
    parent_id        uuid,
    parent_type      text CHECK (parent_type IN ('template', 'scenario')),
    parameters       jsonb NOT NULL DEFAULT '{}',
    review_history   jsonb NOT NULL DEFAULT '[]',
    -- Tools the assistant may call, in OpenAI's shape: [{"type": "function", "function": {...}}].
    tools            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS conversations_user_id_idx ON public.conversations (user_id);
CREATE INDEX IF NOT EXISTS conversations_status_created_idx ON public.conversations (status, created_at, id);
CREATE INDEX IF NOT EXISTS conversations_created_idx ON public.conversations (created_at, id);

CREATE TABLE IF NOT EXISTS public.conversation_turns (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id  uuid NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    turn_number      integer NOT NULL CHECK (turn_number >= 1),
    role             text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content          text NOT NULL,
    token_count      integer CHECK (token_count >= 0),
    -- An assistant's calls, [{"id", "name", "arguments"}]; a tool result's call id.
    tool_calls       jsonb,
    tool_call_id     text,
    UNIQUE (conversation_id, turn_number)
);

-- The signed-in user: Supabase's auth.uid() when there is one.
DO $$
BEGIN
    IF pg_catalog.to_regprocedure('auth.uid()') IS NULL THEN
        CREATE SCHEMA IF NOT EXISTS auth;
        CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
        RETURN COALESCE(NULLIF(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
                        NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
                            OPERATOR(pg_catalog.->>) 'sub')::uuid;
    END IF;
END
$$;

ALTER TABLE public.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.conversation_turns ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS conversations_owner ON public.conversations;
CREATE POLICY conversations_owner ON public.conversations FOR ALL
    USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
-- A turn is visible exactly when its conversation is.
DROP POLICY IF EXISTS conversation_turns_follow_conversation ON public.conversation_turns;
CREATE POLICY conversation_turns_follow_conversation ON public.conversation_turns FOR ALL
    USING (EXISTS (SELECT 1 FROM public.conversations c WHERE c.id = conversation_turns.conversation_id))
    WITH CHECK (EXISTS (SELECT 1 FROM public.conversations c WHERE c.id = conversation_turns.conversation_id));

DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA auth TO %I', api_role);
            EXECUTE format('GRANT EXECUTE ON FUNCTION auth.uid() TO %I', api_role);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.conversations, '
                           'public.conversation_turns TO %I', api_role);
        END IF;
    END LOOP;
END
$$;

-- Tell the extension where the conversations live (one time, as the owner).
SELECT export_system.set_source('public.conversations', 'public.conversation_turns');

COMMIT;
