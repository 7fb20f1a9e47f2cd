//! The streaming export's audit row and early stop, inside Postgres, read
//! back through the export history as an operator would.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn audit_rows() -> i64 {
        Spi::get_one("SELECT (export_system.export_history('{}') ->> 'total')::int8")
            .unwrap()
            .unwrap()
    }

    /// The application's tables, minimal, registered as the source.
    fn register_app_tables() {
        Spi::run(
            "CREATE TABLE public.conversations (id uuid PRIMARY KEY, conversation_id text, user_id uuid,
                                                title text, status text, tier text);
             CREATE TABLE public.conversation_turns (conversation_id uuid, turn_number int, role text,
                                                     content text, token_count int);
             ALTER TABLE public.conversations ENABLE ROW LEVEL SECURITY;
             ALTER TABLE public.conversation_turns ENABLE ROW LEVEL SECURITY;
             SELECT export_system.set_source('public.conversations', 'public.conversation_turns');",
        )
        .unwrap();
    }

    fn seed_two_conversations() {
        register_app_tables();
        Spi::run(
            "INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier) VALUES
               ('00000000-0000-4000-8000-000000000001', 'c1', '0000000a-0000-4000-8000-00000000000a', 'One', 'approved', 'template'),
               ('00000000-0000-4000-8000-000000000002', 'c2', '0000000a-0000-4000-8000-00000000000a', 'Two', 'approved', 'scenario');
             INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) VALUES
               ('00000000-0000-4000-8000-000000000001', 1, 'user', 'Hi \"there\"'),
               ('00000000-0000-4000-8000-000000000001', 2, 'assistant', 'Hello'),
               ('00000000-0000-4000-8000-000000000002', 1, 'user', 'Q'),
               ('00000000-0000-4000-8000-000000000002', 2, 'assistant', 'A');",
        )
        .unwrap();
    }

    #[pg_test]
    fn empty_export_is_audited_with_zero_counts() {
        register_app_tables();
        let rows: i64 =
            Spi::get_one("SELECT count(*) FROM export_system.export_conversations('{}')")
                .unwrap()
                .unwrap();
        assert_eq!(rows, 0);
        let (count, size) = Spi::get_two::<i32, i64>(
            "SELECT (e ->> 'conversation_count')::int4, (e ->> 'file_size')::int8 \
             FROM jsonb_array_elements(export_system.export_history('{\"status\": \"completed\"}') -> 'exports') e",
        )
        .unwrap();
        assert_eq!((count, size), (Some(0), Some(0)));
    }

    #[pg_test]
    fn jsonl_rows_and_audit_agree() {
        seed_two_conversations();
        let first: String = Spi::get_one(
            "SELECT r FROM export_system.export_conversations('{\"include_metadata\": false}') r LIMIT 1",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            first,
            r#"{"messages":[{"role":"user","content":"Hi \"there\""},{"role":"assistant","content":"Hello"}]}"#
        );
        let (count, size) = Spi::get_two::<i32, i64>(
            "SELECT (e ->> 'conversation_count')::int4, (e ->> 'file_size')::int8 \
             FROM jsonb_array_elements(export_system.export_history('{}') -> 'exports') e",
        )
        .unwrap();
        let expected: i64 = Spi::get_one(
            "SELECT sum(octet_length(r) + 1)::int8 FROM export_system.export_conversations('{\"include_metadata\": false}') r",
        )
        .unwrap()
        .unwrap();
        assert_eq!(count, Some(2));
        assert_eq!(size, Some(expected));
    }

    #[pg_test]
    fn stopping_early_records_a_cancelled_export() {
        seed_two_conversations();
        // A LIMIT above a lazily evaluated SRF stops it after one row.
        Spi::run("SELECT export_system.export_conversations('{}') LIMIT 1").unwrap();
        let (status, size) = Spi::get_two::<String, i64>(
            "SELECT e ->> 'status', (e ->> 'file_size')::int8 \
                 FROM jsonb_array_elements(export_system.export_history('{}') -> 'exports') e",
        )
        .unwrap();
        assert_eq!(status.as_deref(), Some("cancelled"));
        assert!(size.unwrap() > 0);
        assert_eq!(audit_rows(), 1);
    }

    #[pg_test(error = "unknown key \"fromat\" in export config")]
    fn unknown_key_is_an_error() {
        register_app_tables();
        Spi::run("SELECT export_system.export_conversations('{\"fromat\": \"csv\"}')").unwrap();
    }

    #[pg_test]
    fn current_user_id_follows_supabase_claims() {
        Spi::run("SELECT set_config('request.jwt.claims', '{\"sub\": \"0000000b-0000-4000-8000-00000000000b\"}', true)").unwrap();
        let id: String = Spi::get_one("SELECT export_system.current_user_id()::text")
            .unwrap()
            .unwrap();
        assert_eq!(id, "0000000b-0000-4000-8000-00000000000b");
        Spi::run("SELECT set_config('request.jwt.claim.sub', '0000000a-0000-4000-8000-00000000000a', true)").unwrap();
        let id: String = Spi::get_one("SELECT export_system.current_user_id()::text")
            .unwrap()
            .unwrap();
        assert_eq!(id, "0000000a-0000-4000-8000-00000000000a");
        Spi::run("SELECT set_config('request.jwt.claim.sub', '', true), set_config('request.jwt.claims', '', true)").unwrap();
        let id: Option<String> =
            Spi::get_one("SELECT export_system.current_user_id()::text").unwrap();
        assert_eq!(id, None);
    }
}
