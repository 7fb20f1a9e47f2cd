"""Every format read back by an independent parser equals the stored data."""
import csv
import io
import json
import re
import subprocess

import pandas
import psycopg
import pytest
from markdown_it import MarkdownIt

from support import admin_connect, create_database, fetch_rows, psql_export, quote_literal, rows_to_file


def export_rows(dbname, config):
    return [r[0] for r in fetch_rows(dbname, "SELECT r FROM export_system.export_conversations(%s::jsonb) r",
                                     (json.dumps(config),))]


def stored(dbname, where="true"):
    """conversation_id -> (title, [(turn_number, role, content)]) in export order."""
    conversations = fetch_rows(dbname, f"""
        SELECT c.id, c.conversation_id, c.title FROM public.conversations c
        WHERE {where} ORDER BY c.created_at, c.id""")
    turns = fetch_rows(dbname, "SELECT conversation_id, turn_number, role, content "
                               "FROM public.conversation_turns ORDER BY conversation_id, turn_number")
    by_id = {}
    for conversation_id, number, role, content in turns:
        by_id.setdefault(conversation_id, []).append((number, role, content))
    return {cid: (title, by_id.get(pk, [])) for pk, cid, title in conversations}


# --- JSON -----------------------------------------------------------------------

@pytest.mark.parametrize("pretty", [True, False])
def test_json_document_equals_stored_data(sample_db, tmp_path, pretty):
    data = psql_export(sample_db, {"format": "json", "scope": "all", "pretty": pretty}, tmp_path / "x.json")
    document = json.loads(data)
    assert document["version"] == "1.0"
    assert document["export_date"].endswith("Z")
    assert document["conversation_count"] == len(document["conversations"])
    expected = stored(sample_db)
    assert [c["conversation_id"] for c in document["conversations"]] == list(expected)
    for conversation in document["conversations"]:
        title, turns = expected[conversation["conversation_id"]]
        assert conversation["title"] == title
        assert [(t["role"], t["content"]) for t in conversation["turns"]] == [(r, c) for _, r, c in turns]
    summary = document["summary"]
    assert summary["total_turns"] == sum(len(t) for _, t in expected.values())
    assert sum(summary["tier_distribution"].values()) == len(expected)
    if pretty:
        assert data.startswith(b'{\n  "version": "1.0",\n')
        assert b'\n    {\n      "conversation_id": ' in data
    else:
        assert data.count(b"\n") == len(document["conversations"]) + 2


def test_json_without_metadata_has_no_summary(sample_db):
    document = json.loads("\n".join(export_rows(sample_db, {"format": "json", "include_metadata": False})))
    assert "summary" not in document
    assert all("metadata" not in c for c in document["conversations"])


# --- CSV --------------------------------------------------------------------------

csv.field_size_limit(1 << 30)  # 1 MB messages are cells too


def read_csv(data: bytes):
    text = data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_equals_stored_turns(sample_db, tmp_path):
    data = psql_export(sample_db, {"format": "csv", "scope": "all", "formula_guard": False}, tmp_path / "x.csv")
    assert data.startswith("\ufeff".encode())
    records = read_csv(data)
    expected = [(cid, n, r, c) for cid, (_, turns) in stored(sample_db).items() for n, r, c in turns]
    assert [(r["conversation_id"], int(r["turn_number"]), r["role"], r["content"]) for r in records] == expected
    frame = pandas.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert list(frame["content"]) == [c for *_, c in expected]


def test_csv_options(sample_db):
    header, *_ = export_rows(sample_db, {"format": "csv", "bom": False, "include_metadata": False})
    assert header == "conversation_id,title,status,tier,turn_number,role,content"
    crlf = rows_to_file(export_rows(sample_db, {"format": "csv", "line_ending": "crlf", "limit": 3}))
    assert crlf.count(b"\r\n") >= 4
    guarded = read_csv(rows_to_file(export_rows(sample_db, {"format": "csv", "scope": "all"})))
    risky = [r["content"] for r in guarded if r["content"].lstrip("'").startswith(("=", "+", "-", "@"))]
    assert risky and all(c.startswith("'") for c in risky)
    full = export_rows(sample_db, {"format": "csv", "include_approval_history": True, "include_parent_references": True})
    assert full[0].lstrip("\ufeff").split(",")[-3:] == ["review_history", "parent_id", "parent_type"]


# --- Markdown ---------------------------------------------------------------------

def blockquote_texts(tokens):
    texts, depth, paragraphs = [], 0, []
    for token in tokens:
        if token.type == "blockquote_open":
            depth, paragraphs = depth + 1, []
        elif token.type == "blockquote_close":
            depth -= 1
            texts.append("\n\n".join(paragraphs))
        elif token.type == "inline" and depth:
            parts = []
            for child in token.children:
                parts.append("\n" if child.type in ("softbreak", "hardbreak") else child.content)
            paragraphs.append("".join(parts))
    return texts


def test_markdown_renders_to_the_stored_content(sample_db, tmp_path):
    data = psql_export(sample_db, {"format": "markdown", "scope": "all"}, tmp_path / "x.md")
    tokens = MarkdownIt("commonmark").parse(data.decode("utf-8"))
    expected = stored(sample_db)
    headings = [t for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h1"]
    assert len(headings) == len(expected)
    contents = [c for _, turns in expected.values() for _, _, c in turns]
    assert blockquote_texts(tokens) == contents


# --- every format -----------------------------------------------------------------

EMPTY = {"scope": "filtered", "filters": {"search": "no conversation says this"}}


@pytest.mark.parametrize("fmt,expected", [
    ("jsonl", b""),
    ("markdown", b""),
    ("csv", "\ufeffconversation_id,title,status,tier,turn_number,role,content,quality_score,persona,emotion,"
            "topic,category,created_at,updated_at\n".encode()),
])
def test_nothing_matches_gives_a_valid_empty_file(sample_db, fmt, expected):
    assert rows_to_file(export_rows(sample_db, dict(EMPTY, format=fmt))) == expected


def test_nothing_matches_json_envelope(sample_db):
    document = json.loads("\n".join(export_rows(sample_db, dict(EMPTY, format="json"))))
    assert document["conversation_count"] == 0 and document["conversations"] == []


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "markdown"])
def test_copy_recipe_is_byte_identical_for_jsonl_only(sample_db, fmt):
    config = {"format": fmt, "scope": "all", "pretty": False}
    rows = export_rows(sample_db, config)
    copied = subprocess.run(
        ["psql", "-X", "-d", sample_db, "-c",
         "COPY (SELECT export_system.export_conversations(%s::jsonb)) TO STDOUT "
         "WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01', NULL E'\\x03')" % quote_literal(json.dumps(config))],
        check=True, capture_output=True).stdout
    exact = rows_to_file(rows)
    if fmt == "jsonl":
        assert copied == exact
    else:
        assert copied != exact, "rows spanning several lines are quoted by COPY"


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "markdown"])
def test_one_row_per_conversation_in_every_format(sample_db, fmt):
    config = {"format": fmt, "scope": "all", "limit": 7}
    rows = export_rows(sample_db, config)
    opening = {"jsonl": 0, "json": 1, "csv": 1, "markdown": 0}[fmt]
    closing = 1 if fmt == "json" else 0
    assert len(rows) == opening + 7 + closing
    if fmt != "markdown":  # Markdown names a conversation by its title
        assert all(len(set(re.findall(r"sample-\d{4}", row))) == 1 for row in rows[opening:opening + 7])


# --- training targets -------------------------------------------------------------

def test_anthropic_lines_alternate(sample_db):
    lines = [json.loads(r) for r in export_rows(sample_db, {"target": "anthropic", "scope": "all"})]
    assert lines
    for example in lines:
        roles = [m["role"] for m in example["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:]))
        assert set(roles) <= {"user", "assistant"}
        assert "system" not in example or isinstance(example["system"], str)
    assert any("system" in example for example in lines)


def test_sharegpt_lines(sample_db):
    lines = [json.loads(r) for r in export_rows(sample_db, {"target": "sharegpt", "scope": "all"})]
    assert lines
    for example in lines:
        speakers = [m["from"] for m in example["conversations"]]
        assert set(speakers) <= {"system", "human", "gpt"} and speakers[-1] == "gpt"


def test_skips_are_noticed_and_audited_strict_is_an_error(sample_db):
    notices = []
    with admin_connect(sample_db) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute("DELETE FROM export_system.export_logs")
        rows = conn.execute("SELECT export_system.export_conversations('{\"scope\": \"all\"}')").fetchall()
        [(skipped,)] = conn.execute("SELECT skipped_count FROM export_system.export_logs").fetchall()
        with pytest.raises(psycopg.errors.DataException):
            conn.execute("SELECT export_system.export_conversations('{\"scope\": \"all\", \"strict\": true}')")
    assert rows and skipped > 0
    assert any(f"skipped {skipped} conversation(s)" in n for n in notices)


# --- filters, sort, limit ---------------------------------------------------------

FILTER_CASES = [
    ({"tier": ["template"]}, "tier = 'template'"),
    ({"status": ["draft", "rejected"]}, "status IN ('draft', 'rejected')"),
    ({"quality_min": 7, "quality_max": 9}, "quality_score BETWEEN 7 AND 9"),
    ({"persona": ["Retiree"]}, "persona = 'Retiree'"),
    ({"emotion": ["Fear"]}, "emotion = 'Fear'"),
    ({"topic": ["Taxes"]}, "topic = 'Taxes'"),
    ({"category": ["advice"]}, "category && '{advice}'"),
    ({"created_from": "2025-10-03", "created_to": "2025-10-05"},
     "created_at >= '2025-10-03' AND created_at < '2025-10-06'"),
    ({"search": "ROCKET"}, "(title ILIKE '%rocket%' OR EXISTS (SELECT FROM public.conversation_turns t "
                           "WHERE t.conversation_id = c.id AND t.content ILIKE '%rocket%'))"),
    ({"search": "'; DROP TABLE public.conversations; --"}, "false"),
    ({"persona": ["x' OR '1'='1"]}, "false"),
]


def exported_conversation_ids(fmt, rows):
    """The conversation ids in an export, in file order, read per format."""
    if fmt == "json":
        return [c["conversation_id"] for c in json.loads("\n".join(rows))["conversations"]]
    if fmt == "jsonl":
        return [json.loads(r)["metadata"]["conversation_id"] for r in rows]
    if fmt == "markdown":
        lines = rows_to_file(rows).decode().split("\n")
        return [line[len("- ID: "):].replace("\\-", "-") for line in lines if line.startswith("- ID: ")]
    return list(dict.fromkeys(r["conversation_id"] for r in read_csv(rows_to_file(rows))))


@pytest.mark.parametrize("filters,where", FILTER_CASES)
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "markdown"])
def test_filters_select_exactly_the_matching_conversations(sample_db, filters, where, fmt):
    config = {"format": fmt, "scope": "filtered", "filters": filters, "formula_guard": False, "include_metadata": True}
    expected = [r[0] for r in fetch_rows(sample_db, f"SELECT conversation_id FROM public.conversations c "
                                                    f"WHERE {where} ORDER BY created_at, id")]
    rows = export_rows(sample_db, config)
    got = exported_conversation_ids(fmt, rows)
    if fmt == "jsonl":
        valid = {r[0] for r in fetch_rows(sample_db, """
            SELECT c.conversation_id FROM public.conversations c
            WHERE EXISTS (SELECT FROM public.conversation_turns t WHERE t.conversation_id = c.id AND t.role = 'assistant')
              AND NOT EXISTS (SELECT FROM public.conversation_turns t WHERE t.conversation_id = c.id AND btrim(t.content) = '')""")}
        expected = [c for c in expected if c in valid]
    elif fmt == "csv":
        with_turns = {r[0] for r in fetch_rows(sample_db, "SELECT DISTINCT c.conversation_id FROM "
                                                          "public.conversations c JOIN "
                                                          "public.conversation_turns t ON t.conversation_id = c.id")}
        expected = [c for c in expected if c in with_turns]
    assert got == expected
    assert fetch_rows(sample_db, "SELECT count(*) > 0 FROM public.conversations") == [(True,)]


def test_sort_and_limit(sample_db):
    config = {"format": "json", "scope": "all", "sort": {"by": "quality_score", "direction": "desc"}, "limit": 7}
    got = [c["conversation_id"] for c in json.loads("\n".join(export_rows(sample_db, config)))["conversations"]]
    expected = [r[0] for r in fetch_rows(sample_db, "SELECT conversation_id FROM public.conversations "
                                                    "ORDER BY quality_score DESC NULLS LAST, id DESC LIMIT 7")]
    assert got == expected


# --- edge cases -------------------------------------------------------------------

@pytest.fixture(scope="module")
def edge_db():
    dbname = create_database("t_format_edges")
    with admin_connect(dbname) as conn:
        conn.execute("DELETE FROM public.conversations")
        conn.execute("""
            INSERT INTO public.conversations (id, conversation_id, user_id, status, tier, created_at)
            VALUES ('00000000-0000-4000-8000-0000000000e1', 'no-turns', gen_random_uuid(), 'approved', 'template', '2025-01-01'),
                   ('00000000-0000-4000-8000-0000000000e2', 'big-message', gen_random_uuid(), 'approved', 'scenario', '2025-01-02'),
                   ('00000000-0000-4000-8000-0000000000e3', 'thousand-turns', gen_random_uuid(), 'approved', 'edge_case', '2025-01-03');
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            VALUES ('00000000-0000-4000-8000-0000000000e2', 1, 'user', repeat('"q", \\ 🚀 ' || chr(8232), 100000)),
                   ('00000000-0000-4000-8000-0000000000e2', 2, 'assistant', rtrim(repeat(E'answer\\n', 150000), E'\\n'));
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT '00000000-0000-4000-8000-0000000000e3', n, CASE WHEN n % 2 = 1 THEN 'user' ELSE 'assistant' END,
                   'turn ' || n FROM generate_series(1, 1000) n;
        """)
    return dbname


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "markdown"])
def test_null_fields_no_turns_big_messages_and_long_conversations(edge_db, tmp_path, fmt):
    data = psql_export(edge_db, {"format": fmt, "formula_guard": False, "include_metadata": True},
                       tmp_path / f"edge.{fmt}")
    big_user = ('"q", \\ 🚀 \u2028' * 100000)
    if fmt == "jsonl":
        lines = [json.loads(line) for line in data.decode().split("\n")[:-1]]
        assert [len(l["messages"]) for l in lines] == [2, 1000]
        assert lines[0]["messages"][0]["content"] == big_user
        assert lines[0]["metadata"]["title"] == ""  # training metadata: strings only
    elif fmt == "json":
        document = json.loads(data)
        assert [len(c["turns"]) for c in document["conversations"]] == [0, 2, 1000]
        assert document["conversations"][1]["turns"][0]["content"] == big_user
    elif fmt == "csv":
        records = read_csv(data)
        assert len(records) == 1002 and records[0]["content"] == big_user
    else:
        tokens = MarkdownIt("commonmark").parse(data.decode())
        assert len([t for t in tokens if t.type == "heading_open" and t.tag == "h1"]) == 3
        texts = blockquote_texts(tokens)
        assert texts[0] == big_user and texts[1] == "\n".join(["answer"] * 150000) and len(texts) == 1002


# Each include option, in every format: (config, predicate on the file's text).
INCLUDE_CASES = [
    ("jsonl", {"include_metadata": True}, lambda t: '"metadata"' in t),
    ("jsonl", {"include_quality_scores": False}, lambda t: '"quality_score"' not in t and '"tier"' in t),
    ("jsonl", {"include_timestamps": False}, lambda t: '"created_at"' not in t),
    ("jsonl", {"include_approval_history": True}, lambda t: '"review_history"' in t),
    ("jsonl", {"include_parent_references": True}, lambda t: '"parent_type"' in t),
    ("json", {"include_metadata": False}, lambda t: '"metadata"' not in t and '"summary"' not in t),
    ("json", {"include_quality_scores": False}, lambda t: '"quality_score"' not in t and '"persona"' in t),
    ("json", {"include_timestamps": False}, lambda t: '"created_at"' not in t),
    ("json", {"include_approval_history": True}, lambda t: '"review_history"' in t),
    ("json", {"include_parent_references": True}, lambda t: '"parent_type"' in t),
    ("csv", {"include_metadata": False}, lambda t: "persona" not in t.split("\n")[0]),
    ("csv", {"include_quality_scores": False}, lambda t: "quality_score" not in t.split("\n")[0]),
    ("csv", {"include_timestamps": False}, lambda t: "created_at" not in t.split("\n")[0]),
    ("csv", {"include_approval_history": True}, lambda t: "review_history" in t.split("\n")[0]),
    ("csv", {"include_parent_references": True}, lambda t: "parent_type" in t.split("\n")[0]),
    ("markdown", {"include_metadata": False}, lambda t: "**Metadata:**" not in t),
    ("markdown", {"include_quality_scores": False}, lambda t: "- Quality Score:" not in t and "- Tier:" in t),
    ("markdown", {"include_timestamps": False}, lambda t: "- Created:" not in t),
    ("markdown", {"include_approval_history": True}, lambda t: "- Review History:" in t),
    ("markdown", {"include_parent_references": True}, lambda t: "- Parent:" in t),
]


@pytest.mark.parametrize("fmt,options,holds", INCLUDE_CASES)
def test_include_options_in_every_format(sample_db, fmt, options, holds):
    # Training JSONL has no metadata unless asked: the other options act inside it.
    base = {"include_metadata": True} if fmt == "jsonl" and "include_metadata" not in options else {}
    text = rows_to_file(export_rows(sample_db, dict(base, **options, format=fmt, scope="all"))).decode()
    assert holds(text)
    # The default differs, so the option is what made the predicate true.
    assert not holds(rows_to_file(export_rows(sample_db, dict(base, format=fmt, scope="all"))).decode())


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "markdown"])
def test_include_full_content_false_cuts_messages(edge_db, fmt):
    text = rows_to_file(export_rows(edge_db, {"format": fmt, "include_full_content": False})).decode()
    assert "…" in text and len(text) < 400_000  # the full messages are over 2 MB
