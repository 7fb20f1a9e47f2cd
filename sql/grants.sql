-- Functions are created with EXECUTE for PUBLIC; take it back, then grant the
-- user-facing ones to the Supabase API roles that exist. Never to anon.
-- cleanup_expired() and run_queued_exports() stay with the owner (pg_cron), and
-- so does export_query(), which takes SQL text: no API role may ever have it.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA export_system FROM PUBLIC;
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE pg_catalog.format(
                'GRANT EXECUTE ON FUNCTION export_system.current_user_id(), '
                'export_system.in_queue(text, text), '
                'export_system.is_own_export(uuid, text), '
                'export_system.export_conversations(jsonb), '
                'export_system.queue_export(jsonb), '
                'export_system.export_status(uuid), '
                'export_system.download_export(uuid, integer, integer), '
                'export_system.cancel_export(uuid), '
                'export_system.retry_export(uuid), '
                'export_system.export_history(jsonb), '
                'export_system.export_metrics(interval), '
                'export_system.sees_all_exports(), '
                'export_system.preview_export(jsonb), '
                'export_system.training_report(jsonb), '
                'export_system.scope_counts(jsonb), '
                'export_system.export_file_info(jsonb), '
                'export_system.export_file_info_for_export(uuid), '
                'export_system.get_export_preferences(), '
                'export_system.save_export(text, jsonb), '
                'export_system.saved_exports(), '
                'export_system.drop_saved_export(text), '
                'export_system.set_export_preferences(jsonb), '
                'export_system.get_source(), '
                'export_system.json_is_readable(text) TO %I', api_role);
        END IF;
    END LOOP;
END
$$;
