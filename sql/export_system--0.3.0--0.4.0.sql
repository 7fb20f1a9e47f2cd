-- export_system 0.3.0 → 0.4.0: continuous exports — saved exports, their
-- exactly-once increments ("since": "last") and history-wide dedupe — and
-- the audit row says which saved export and increment a run was.

-- A saved export: a named config, per owner — the JWT subject, or the
-- database role when there is none (psql, pg_cron), as export_logs' rows.
CREATE TABLE export_system.saved_exports (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid,
    db_role          text NOT NULL,
    name             text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    config           jsonb NOT NULL,
    -- Keys the fingerprints of "dedupe": "history": secret, so nobody who
    -- writes conversations can aim a collision at an earlier example.
    fingerprint_key  uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX saved_exports_owner_name ON export_system.saved_exports
    ((COALESCE(user_id::text, 'role:' || db_role)), name);

COMMENT ON TABLE export_system.saved_exports IS
'Named export configs per owner (JWT subject, or database role without one): save_export(), saved_exports(), drop_saved_export(); {"saved": name} in any export config.';

-- Where the next increment of a saved export starts, per part of its split
-- ('all' without one): the checkpoint only a completed run moves.
CREATE TABLE export_system.saved_export_checkpoints (
    saved_export    uuid NOT NULL REFERENCES export_system.saved_exports (id) ON DELETE CASCADE,
    part            text NOT NULL CHECK (part IN ('all', 'train', 'validation')),
    increments      integer NOT NULL DEFAULT 0,
    -- The next increment reads conversations whose updated_at is at least
    -- this: the start of the oldest transaction still open when the last
    -- increment took its snapshot, whose changes that snapshot could not see.
    changed_since   timestamptz,
    last_export_id  uuid,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (saved_export, part)
);

COMMENT ON TABLE export_system.saved_export_checkpoints IS
'Per saved export and split part: completed increments, and the updated_at the next increment reads from.';

-- The conversations the last increments exported whose updated_at the next
-- one reads again (at or after changed_since), with the updated_at they had:
-- the next increment skips them unless they changed.
CREATE TABLE export_system.saved_export_window (
    saved_export  uuid NOT NULL,
    part          text NOT NULL,
    conversation  text NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (saved_export, part, conversation),
    FOREIGN KEY (saved_export, part)
        REFERENCES export_system.saved_export_checkpoints (saved_export, part) ON DELETE CASCADE
);

COMMENT ON TABLE export_system.saved_export_window IS
'Conversations exported by earlier increments that the next increment reads again, and the updated_at they were exported at.';

-- "dedupe": "history": the fingerprint of every example a saved export's
-- completed runs emitted, and the first run that emitted it.
CREATE TABLE export_system.saved_export_examples (
    saved_export  uuid NOT NULL REFERENCES export_system.saved_exports (id) ON DELETE CASCADE,
    fingerprint   uuid NOT NULL,
    export_id     uuid NOT NULL,
    PRIMARY KEY (saved_export, fingerprint)
);

COMMENT ON TABLE export_system.saved_export_examples IS
'Fingerprints (keyed SipHash-1-3, 128 bits) of the examples a saved export with "dedupe": "history" has emitted, and the export that emitted each first.';

SELECT pg_catalog.pg_extension_config_dump('export_system.saved_exports', '');
SELECT pg_catalog.pg_extension_config_dump('export_system.saved_export_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('export_system.saved_export_window', '');
SELECT pg_catalog.pg_extension_config_dump('export_system.saved_export_examples', '');

ALTER TABLE export_system.saved_exports ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_system.saved_export_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_system.saved_export_window ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_system.saved_export_examples ENABLE ROW LEVEL SECURITY;

ALTER TABLE export_system.export_logs ADD COLUMN saved_export text;
ALTER TABLE export_system.export_logs ADD COLUMN increment integer;

COMMENT ON COLUMN export_system.export_logs.saved_export IS
'The saved export the run was made from ({"saved": name}), if any.';
COMMENT ON COLUMN export_system.export_logs.increment IS
'For {"since": "last"}: which increment of the saved export (and split part) this run was, from 1; set when it completes.';

CREATE OR REPLACE FUNCTION export_system.export_status(export_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT pg_catalog.jsonb_build_object(
        'export_id', l.export_id,
        'status', l.status,
        'delivery', l.delivery,
        'format', l.format,
        'saved_export', l.saved_export,
        'increment', l.increment,
        'progress', pg_catalog.jsonb_build_object(
            'done', l.progress_done,
            'total', l.progress_total,
            'percent', CASE WHEN l.status = 'completed' THEN 100
                            WHEN l.progress_total > 0
                            THEN pg_catalog.round(100.0 * l.progress_done / l.progress_total, 1) END),
        'conversation_count', l.conversation_count,
        'skipped_count', l.skipped_count,
        'file_size', l.file_size,
        'part_count', l.part_count,
        'download_count', l.download_count,
        'expires_at', l.expires_at,
        'error_message', l.error_message,
        'created_at', l.created_at,
        'started_at', l.started_at,
        'completed_at', l.completed_at)
    FROM export_system.export_logs l
    WHERE l.export_id = export_status.export_id
      AND export_system.is_own_export(l.user_id, l.db_role);
END;


CREATE FUNCTION export_system.save_export("name" text, "config" jsonb) RETURNS jsonb
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'save_export_wrapper';

CREATE FUNCTION export_system.saved_exports() RETURNS jsonb
STRICT STABLE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'saved_exports_wrapper';

CREATE FUNCTION export_system.drop_saved_export("name" text) RETURNS boolean
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'drop_saved_export_wrapper';

REVOKE ALL ON FUNCTION export_system.save_export(text, jsonb), export_system.saved_exports(),
    export_system.drop_saved_export(text) FROM PUBLIC;
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE pg_catalog.format(
                'GRANT EXECUTE ON FUNCTION export_system.save_export(text, jsonb), '
                'export_system.saved_exports(), export_system.drop_saved_export(text) TO %I', api_role);
        END IF;
    END LOOP;
END
$$;
