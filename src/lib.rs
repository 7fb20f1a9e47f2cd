//! export_system: export reviewed chat conversations as LoRA fine-tuning data,
//! inside PostgreSQL, audited and under the caller's Row Level Security.

use pgrx::prelude::*;

mod audit;
mod config;
mod error;
mod export;
mod format;
mod source;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);

extension_sql!(
    r#"
-- Functions are created with EXECUTE for PUBLIC; take it back, then grant the
-- user-facing ones to the Supabase API roles that exist. Never to anon.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA export_system FROM PUBLIC;
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE pg_catalog.format(
                'GRANT EXECUTE ON FUNCTION export_system.current_user_id(), '
                'export_system.export_conversations(jsonb) TO %I', api_role);
        END IF;
    END LOOP;
END
$$;
"#,
    name = "grants",
    finalize
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
