-- export_system schema: the extension's own state — the registered source,
-- the audit log, background jobs and their files, preferences. It owns no
-- conversation data: exports read the application's tables (set_source).
-- Runs inside CREATE EXTENSION with search_path = export_system; every name is
-- still schema-qualified so the file reads the same anywhere.

-- The schema is the extension's own ---------------------------------------------
-- The extension's owner runs code that names export_system.… (audit writes,
-- jobs, cleanup), so only that owner may control what the name leads to.
-- CREATE EXTENSION makes the schema when it does not exist, owned by the
-- installing role; an existing one, owned by another role or holding objects
-- or CREATE grants of its own, was made by someone else, who could later
-- rename it and put a look-alike in its place. Refused.
DO $$
DECLARE
    squatted record;
BEGIN
    SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
           pg_catalog.pg_get_userbyid(e.extowner) AS installer
      INTO squatted
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'export_system'
       AND (n.nspowner OPERATOR(pg_catalog.<>) e.extowner
            OR EXISTS (SELECT FROM pg_catalog.pg_depend d
                        WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                          AND d.refobjid OPERATOR(pg_catalog.=) n.oid
                          AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass)
            OR EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a
                        WHERE a.grantee OPERATOR(pg_catalog.<>) n.nspowner
                          AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'));
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = pg_catalog.format(
                'schema %I already exists (owned by %I), and export_system installs only into a schema it creates',
                squatted.nspname, squatted.owner),
            HINT = pg_catalog.format(
                'Whoever controls that schema could later make export_system run their code as %I. '
                'Check what it holds, drop or rename it, and run CREATE EXTENSION export_system again.',
                squatted.installer);
    END IF;
END
$$;

-- Identity --------------------------------------------------------------------

-- Supabase's auth.uid(), reproduced so the extension works with or without a
-- Supabase `auth` schema: the legacy per-claim GUC wins, then the JSON claims;
-- an empty string means "no identity". A SQL-standard body is parsed now, so a
-- caller's search_path can never change what it resolves to.
CREATE FUNCTION export_system.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
RETURN COALESCE(
    NULLIF(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
    (NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
        OPERATOR(pg_catalog.->>) 'sub')
)::pg_catalog.uuid;

COMMENT ON FUNCTION export_system.current_user_id() IS
'The calling user''s id with Supabase auth.uid() semantics: request.jwt.claim.sub, else request.jwt.claims->>''sub''; NULL when neither is set.';

-- The conversation source ------------------------------------------------------
-- Where the application keeps its conversations: registered once with
-- export_system.set_source() (src/export/registry.rs checks and resolves it).
-- The extension owns no conversation data; this row only names the tables.

CREATE TABLE export_system.source (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    conversations  regclass NOT NULL,
    turns          regclass,
    columns        jsonb NOT NULL,
    registered_by  text NOT NULL DEFAULT session_user,
    registered_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE export_system.source IS
'The registered conversation source (one row): relations and the column of each field. Set with set_source(), read with get_source().';

-- Audit log --------------------------------------------------------------------

CREATE TABLE export_system.export_logs (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    export_id           uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    user_id             uuid,
    "timestamp"         timestamptz NOT NULL DEFAULT now(),
    format              text NOT NULL CHECK (format IN ('json', 'jsonl', 'csv', 'markdown')),
    config              jsonb NOT NULL,
    conversation_count  integer NOT NULL DEFAULT 0,
    skipped_count       integer NOT NULL DEFAULT 0,
    file_size           bigint,
    status              text NOT NULL CHECK (status IN
        ('queued', 'processing', 'completed', 'failed', 'expired', 'cancelled')),
    delivery            text NOT NULL DEFAULT 'stream' CHECK (delivery IN ('stream', 'background')),
    kind                text NOT NULL DEFAULT 'conversations' CHECK (kind IN ('conversations', 'query')),
    file_url            text,
    expires_at          timestamptz,
    error_message       text,
    db_role             text NOT NULL DEFAULT current_user,
    duration_ms         bigint,
    redactions          jsonb,
    progress_done       integer,
    progress_total      integer,
    part_count          integer,
    download_count      integer NOT NULL DEFAULT 0,
    last_downloaded_at  timestamptz,
    started_at          timestamptz,
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- Last, where ALTER TABLE … ADD COLUMN puts them when 0.3.0 is updated.
    saved_export        text,
    increment           integer
);

COMMENT ON TABLE export_system.export_logs IS
'Audit trail: one row per export, written by the extension in the exporting transaction. Users may only read their own rows.';
COMMENT ON COLUMN export_system.export_logs.user_id IS
'The JWT subject that ran the export; NULL for database roles without a JWT identity (psql, pg_cron).';
COMMENT ON COLUMN export_system.export_logs.db_role IS 'The database role (current_user) that ran the export.';
COMMENT ON COLUMN export_system.export_logs.skipped_count IS
'Conversations left out because they are not valid examples for the chosen training target.';
COMMENT ON COLUMN export_system.export_logs.file_size IS
'Exact byte size of the exported file: every returned row followed by one newline.';
COMMENT ON COLUMN export_system.export_logs.status IS
'queued -> processing -> completed | failed | cancelled; completed -> expired';
COMMENT ON COLUMN export_system.export_logs.delivery IS
'stream: returned by export_conversations() in the caller''s transaction; background: a queued job.';
COMMENT ON COLUMN export_system.export_logs.kind IS
'conversations: export_conversations() or a queued export; query: export_query() (config holds the query).';
COMMENT ON COLUMN export_system.export_logs.redactions IS
'Values replaced per kind of personal data ({"email_address": 3, ...}) when the export redacted; never the values.';
COMMENT ON COLUMN export_system.export_logs.saved_export IS
'The saved export the run was made from ({"saved": name}), if any.';
COMMENT ON COLUMN export_system.export_logs.increment IS
'For {"since": "last"}: which increment of the saved export (and split part) this run was, from 1; set when it completes.';
COMMENT ON COLUMN export_system.export_logs.progress_done IS
'Background jobs: conversations formatted so far (committed as the job goes).';
COMMENT ON COLUMN export_system.export_logs.part_count IS
'Background jobs: how many stored parts download_export() returns.';

CREATE INDEX idx_export_logs_user_id ON export_system.export_logs (user_id);
-- History pages and the per-user rate limit: one user's rows, newest first.
CREATE INDEX idx_export_logs_user_timestamp ON export_system.export_logs (user_id, "timestamp" DESC, export_id DESC);
CREATE INDEX idx_export_logs_timestamp ON export_system.export_logs ("timestamp" DESC);
CREATE INDEX idx_export_logs_status ON export_system.export_logs (status);
CREATE INDEX idx_export_logs_format ON export_system.export_logs (format);
CREATE INDEX idx_export_logs_expires_at ON export_system.export_logs (expires_at) WHERE status = 'completed';
-- The queue: background exports a worker may run (queued, or processing with
-- a runner that died). Defined once; the index, export_metrics and the
-- worker's claim (src/audit/status.rs) all use it.
CREATE FUNCTION export_system.in_queue(status text, delivery text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN status OPERATOR(pg_catalog.=) ANY (ARRAY['queued', 'processing'])
   AND delivery OPERATOR(pg_catalog.=) 'background';

CREATE INDEX idx_export_logs_job_queue ON export_system.export_logs (created_at, export_id)
    WHERE export_system.in_queue(status, delivery);

-- Background jobs ------------------------------------------------------------------
-- Who a queued export runs as. Internal: no role but the owner can read it.

CREATE TABLE export_system.export_jobs (
    export_id   uuid PRIMARY KEY REFERENCES export_system.export_logs (export_id) ON DELETE CASCADE,
    db_role     text NOT NULL,
    jwt_claims  jsonb NOT NULL DEFAULT '{}',
    attempts    integer NOT NULL DEFAULT 0,
    worker_pid  integer
);

COMMENT ON TABLE export_system.export_jobs IS
'The identity a queued export runs under (database role and JWT claims), and its run attempts.';

-- A finished job's file, in parts of whole rows (joined by newlines) of about
-- 1 MiB, so a client can page through it within PostgREST's limits.
CREATE TABLE export_system.export_files (
    export_id  uuid NOT NULL REFERENCES export_system.export_logs (export_id) ON DELETE CASCADE,
    part       integer NOT NULL CHECK (part >= 1),
    content    text NOT NULL,
    PRIMARY KEY (export_id, part)
);

COMMENT ON TABLE export_system.export_files IS
'Stored output of background exports until they expire: the file is every part followed by a newline, in part order.';

-- Supabase: tie audit rows to auth.users when that table exists at install time.
DO $$
BEGIN
    IF pg_catalog.to_regclass('auth.users') IS NOT NULL THEN
        ALTER TABLE export_system.export_logs
            ADD CONSTRAINT export_logs_user_id_fkey FOREIGN KEY (user_id)
            REFERENCES auth.users (id) ON DELETE CASCADE;
    END IF;
END
$$;

-- Preferences --------------------------------------------------------------------
-- Each user's export defaults; keys a config leaves out are taken from here.

CREATE TABLE export_system.export_preferences (
    user_id      uuid PRIMARY KEY DEFAULT export_system.current_user_id(),
    preferences  jsonb NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE export_system.export_preferences IS
'Per-user export defaults (format, target, include options), set with set_export_preferences().';

-- pg_dump keeps the rows of extension tables only when they are registered.
SELECT pg_catalog.pg_extension_config_dump('export_system.source', '');
SELECT pg_catalog.pg_extension_config_dump('export_system.export_logs', '');
SELECT pg_catalog.pg_extension_config_dump('export_system.export_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('export_system.export_files', '');
SELECT pg_catalog.pg_extension_config_dump('export_system.export_preferences', '');

-- Row Level Security ------------------------------------------------------------
-- The table owner (the extension's installer) bypasses RLS; it is the only
-- writer of export_logs, through the extension's own code.

ALTER TABLE export_system.source ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_system.export_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_system.export_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_system.export_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_system.export_preferences ENABLE ROW LEVEL SECURITY;

CREATE POLICY export_preferences_owner ON export_system.export_preferences
    FOR ALL
    USING (user_id = (SELECT export_system.current_user_id()))
    WITH CHECK (user_id = (SELECT export_system.current_user_id()));

-- An export belongs to its JWT subject; one run without a JWT identity (psql,
-- pg_cron) belongs to the database role that ran it.
CREATE FUNCTION export_system.is_own_export(user_id uuid, db_role text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN user_id OPERATOR(pg_catalog.=) export_system.current_user_id()
    OR (user_id IS NULL AND export_system.current_user_id() IS NULL
        AND db_role OPERATOR(pg_catalog.=) CURRENT_USER);

CREATE POLICY export_logs_read_own ON export_system.export_logs
    FOR SELECT
    USING (export_system.is_own_export(user_id, db_role));

CREATE POLICY export_files_read_own ON export_system.export_files
    FOR SELECT
    USING (EXISTS (SELECT 1 FROM export_system.export_logs l
                   WHERE l.export_id = export_files.export_id
                     AND export_system.is_own_export(l.user_id, l.db_role)));

-- Supabase roles -----------------------------------------------------------------
-- Grants go only to roles that exist; nothing is ever granted to PUBLIC or anon.

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        GRANT USAGE ON SCHEMA export_system TO authenticated;
        GRANT SELECT ON export_system.export_logs, export_system.export_files TO authenticated;
        GRANT SELECT ON export_system.export_preferences TO authenticated;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT USAGE ON SCHEMA export_system TO service_role;
        GRANT SELECT ON export_system.export_logs, export_system.export_files TO service_role;
        GRANT SELECT ON export_system.export_preferences TO service_role;
        CREATE POLICY export_logs_service_role ON export_system.export_logs
            FOR SELECT TO service_role USING (true);
    END IF;
END
$$;
