#!/usr/bin/env bash
# The main job on a throwaway local PostgreSQL: build and install the
# extension, load the sample data, write real export files under exports/.
source "$(dirname "$0")/common.sh"

install_dependencies
install_python_tools
install_extension

DATA_DIR=$REPO_ROOT/.pgdata/demo
start_cluster "$DATA_DIR"
trap 'stop_cluster "$DATA_DIR"' EXIT

create_supabase_roles
createdb demo
create_supabase_auth_schema demo
export PGDATABASE=demo
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION export_system'
# The application's own tables with its RLS, registered as the source
# (sql/sample_app.sql ends with export_system.set_source(…)); then its data.
psql -X -q -v ON_ERROR_STOP=1 -f "$REPO_ROOT/sql/sample_app.sql"
log "registered source: $(psql -XAtq -c 'SELECT export_system.get_source()')"
psql -X -q -v ON_ERROR_STOP=1 -f "$REPO_ROOT/sql/sample_data.sql"

OUT=$REPO_ROOT/exports
rm -rf "$OUT"
mkdir -p "$OUT"

# The documented, byte-exact way to write an export to a file.
export_to() {
    local file=$1 config=$2
    psql -XAtq -v ON_ERROR_STOP=1 -v FETCH_COUNT=1000 \
        -c "SELECT export_system.export_conversations('$config'::jsonb)" -o "$OUT/$file"
}

log "writing exports to $OUT"
export_to training-approved.jsonl '{"format": "jsonl", "scope": "approved"}'
export_to training-approved-anthropic.jsonl '{"format": "jsonl", "target": "anthropic"}'
export_to training-approved-sharegpt.jsonl '{"format": "jsonl", "target": "sharegpt"}'
export_to training-all-with-metadata.jsonl '{"scope": "all", "include_metadata": true}'
# A deterministic train/validation pair (OpenAI takes them as two files).
export_to training-train.jsonl '{"split": {"validation": 0.1, "seed": "demo", "part": "train"}}'
export_to training-validation.jsonl '{"split": {"validation": 0.1, "seed": "demo", "part": "validation"}}'
export_to conversations-approved.json '{"format": "json"}'
export_to conversations-approved.csv '{"format": "csv"}'
export_to conversations-approved-review.md '{"format": "markdown", "include_approval_history": true}'

# An assistant that calls tools: the app's tables hold the tool definitions,
# the assistant's calls and the results linked to them.
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier, tools)
VALUES ('00000000-0000-4000-8000-00000000700a', 'demo-tools', '0000000a-0000-4000-8000-00000000000a',
        'Weather with a tool', 'approved', 'template',
        '[{"type": "function", "function": {"name": "get_weather", "description": "Current weather by city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]');
INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content, tool_calls, tool_call_id) VALUES
  ('00000000-0000-4000-8000-00000000700a', 1, 'user', 'What is the weather in Paris?', NULL, NULL),
  ('00000000-0000-4000-8000-00000000700a', 2, 'assistant', '',
   '[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]', NULL),
  ('00000000-0000-4000-8000-00000000700a', 3, 'tool', '{"temperature_c": 18, "sky": "cloudy"}', NULL, 'call_1'),
  ('00000000-0000-4000-8000-00000000700a', 4, 'assistant', 'It is 18°C and cloudy in Paris.', NULL, NULL);
SQL
TOOLS='"scope": "selected", "conversation_ids": ["00000000-0000-4000-8000-00000000700a"]'
export_to tools-openai.jsonl "{$TOOLS}"
export_to tools-sharegpt.jsonl "{$TOOLS, \"target\": \"sharegpt\"}"
export_to tools-review.md "{$TOOLS, \"format\": \"markdown\"}"

# Continuous exports: a saved export, its first increment (everything), one
# conversation edited, and the next increment (that one only).
log "a saved export and two increments"
psql -X -q -v ON_ERROR_STOP=1 -f "$REPO_ROOT/sql/sample_app_updated_at.sql"
psql -XAtq -v ON_ERROR_STOP=1 -o /dev/null \
    -c "SELECT export_system.save_export('weekly-train', '{\"format\": \"jsonl\", \"dedupe\": \"history\"}')"
export_to increment-1.jsonl '{"saved": "weekly-train", "since": "last"}'
psql -X -q -v ON_ERROR_STOP=1 -c "UPDATE public.conversation_turns SET content = content || ' (Edited after review.)'
    WHERE conversation_id = '00000000-0000-4000-8000-00000000700a' AND turn_number = 4"
export_to increment-2.jsonl '{"saved": "weekly-train", "since": "last"}'
[[ $(wc -l <"$OUT/increment-2.jsonl") == 1 ]] || { echo "the second increment should hold the one edited conversation" >&2; exit 1; }

for file in training-approved.jsonl training-train.jsonl training-validation.jsonl tools-openai.jsonl increment-1.jsonl increment-2.jsonl; do
    python3 "$REPO_ROOT/scripts/check_openai_jsonl.py" "$OUT/$file"
done

# A background export as a signed-in user (alice), the way a Supabase client
# runs one: queue, wait for completion, download. This cluster does not preload
# the library, so run_queued_exports() starts a worker, as pg_cron would.
AS_ALICE="SET ROLE authenticated;
SELECT set_config('request.jwt.claims', '{\"sub\": \"0000000a-0000-4000-8000-00000000000a\", \"role\": \"authenticated\"}', false) \\g /dev/null"
log "queuing a background export as alice"
EXPORT_ID=$(psql -XAtq -v ON_ERROR_STOP=1 <<<"$AS_ALICE
SELECT export_system.queue_export('{\"format\": \"jsonl\", \"scope\": \"all\"}');")
psql -XAtq -v ON_ERROR_STOP=1 -c 'SELECT export_system.run_queued_exports()' >/dev/null
for _ in $(seq 1 100); do
    STATUS=$(psql -XAtq -c "SELECT status FROM export_system.export_logs WHERE export_id = '$EXPORT_ID'")
    [[ $STATUS == queued || $STATUS == processing ]] || break
    sleep 0.2
done
[[ $STATUS == completed ]] || { echo "background export $EXPORT_ID ended as $STATUS" >&2; exit 1; }
psql -XAtq -v ON_ERROR_STOP=1 -v FETCH_COUNT=1000 -o "$OUT/background-alice-all.jsonl" <<<"$AS_ALICE
SELECT export_system.download_export('$EXPORT_ID');"

# Compliance: the audit log itself, as CSV, through export_query().
export_query_to() {
    local file=$1 query=$2
    psql -XAtq -v ON_ERROR_STOP=1 -v FETCH_COUNT=1000 \
        -c "SELECT export_system.export_query('$query', '{\"format\": \"csv\"}')" -o "$OUT/$file"
}
export_query_to audit-log.csv 'SELECT export_id, "timestamp", kind, delivery, format, status, conversation_count, skipped_count, file_size, db_role FROM export_system.export_logs ORDER BY "timestamp", created_at'

log "every file, loaded by the consumer it is for"
"$VENV/bin/python" "$REPO_ROOT/scripts/check_demo_files.py" "$OUT"

log "files written"
for file in "$OUT"/*; do
    printf '  %-45s %9d bytes %6d lines\n' "$(basename "$file")" "$(stat -c %s "$file")" "$(wc -l <"$file")"
done
log "audit log (newest first)"
psql -X -q -c "SELECT export_id, kind, delivery, format, config->>'scope' AS scope, config->>'target' AS target, status,
                      conversation_count, skipped_count, file_size, db_role
               FROM export_system.export_logs ORDER BY created_at DESC, \"timestamp\" DESC"
