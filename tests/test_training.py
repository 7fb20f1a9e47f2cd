"""Training files checked by their real consumers: Hugging Face `datasets`
loads every JSONL target and the JSON envelope; Bedrock's and
LLaMA-Factory's published rules; GitHub's Markdown renderer (cmark-gfm) and
CommonMark; the train/validation split.
"""
import csv
import html
import io
import itertools
import json
import re

import cmarkgfm
import datasets
import psycopg
import pytest
from markdown_it import MarkdownIt

from support import ALICE, Session, admin_connect, create_database, fetch_rows, new_uuid, rpc, rpc_export

INCLUDE_FLAGS = ["include_metadata", "include_quality_scores", "include_timestamps", "include_approval_history",
                 "include_parent_references"]
COMBINATIONS = [dict(zip(INCLUDE_FLAGS, values)) for values in itertools.product([False, True], repeat=5)]


@pytest.fixture(scope="module")
def db():
    return create_database("t_training")


def export_file(db, config, path):
    with admin_connect(db) as conn:
        rows = conn.execute("SELECT export_system.export_conversations(%s)", (json.dumps(config),)).fetchall()
    path.write_bytes(b"".join(r[0].encode() + b"\n" for r in rows))
    return path


def load(path, field=None):
    return datasets.load_dataset("json", data_files=str(path), field=field, split="train",
                                 cache_dir=str(path.parent / "hf-cache"), keep_in_memory=True)


@pytest.mark.parametrize("target", ["openai", "sharegpt", "anthropic"])
def test_datasets_loads_every_jsonl_target_in_every_include_combination(db, tmp_path, target):
    expected = None
    for index, include in enumerate(COMBINATIONS):
        if target == "anthropic" and include["include_metadata"]:
            continue  # refused, see test_anthropic_never_carries_metadata
        config = dict(include, scope="all", target=target)
        dataset = load(export_file(db, config, tmp_path / f"{target}-{index}.jsonl"))
        expected = expected or len(dataset)
        assert len(dataset) == expected > 0
        assert ("metadata" in dataset.column_names) == include["include_metadata"]


def test_datasets_loads_the_json_envelope_in_every_include_combination(db, tmp_path):
    for index, include in enumerate(COMBINATIONS):
        config = dict(include, scope="all", format="json")
        dataset = load(export_file(db, config, tmp_path / f"envelope-{index}.json"), field="conversations")
        assert len(dataset) > 0 and "turns" in dataset.column_names


def test_training_jsonl_is_clean_by_default_and_other_formats_keep_metadata(db):
    line = json.loads(rpc_export(Session(db), {"limit": 1}, sub=ALICE)[0])
    assert list(line) == ["messages"]
    document = json.loads("\n".join(rpc_export(Session(db), {"limit": 1, "format": "json"}, sub=ALICE)))
    assert "metadata" in document["conversations"][0]


def test_anthropic_never_carries_metadata(db):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="anthropic") as raised:
        rpc_export(Session(db), {"target": "anthropic", "include_metadata": True}, sub=ALICE)
    assert "system" in raised.value.diag.message_hint


def test_bedrock_rules(db):
    """Bedrock's Claude fine-tuning: only "system" and "messages"; at least two
    messages, alternating user/assistant, user first and assistant last."""
    lines = rpc_export(Session(db), {"scope": "all", "target": "anthropic"}, sub=ALICE)
    assert lines
    for line in lines:
        example = json.loads(line)
        assert set(example) <= {"system", "messages"} and "messages" in example
        roles = [m["role"] for m in example["messages"]]
        assert len(roles) >= 2 and roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:]))
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in example["messages"])
        assert "system" not in example or isinstance(example["system"], str)


def test_llama_factory_sharegpt_rules(db):
    """LLaMA-Factory's sharegpt format (data/README.md): `conversations` of
    {"from", "value"}, human (or observation) at odd positions and gpt (or
    function_call) at even ones, an even count; the system prompt in the
    optional top-level `system`."""
    lines = rpc_export(Session(db), {"scope": "all", "target": "sharegpt"}, sub=ALICE)
    with_system = 0
    for line in lines:
        example = json.loads(line)
        turns = example["conversations"]
        assert len(turns) % 2 == 0 and turns
        for position, turn in enumerate(turns):
            assert set(turn) == {"from", "value"}
            assert turn["from"] in (("human", "observation") if position % 2 == 0 else ("gpt", "function_call"))
        if "system" in example:
            with_system += 1
            assert isinstance(example["system"], str) and example["system"]
    assert with_system > 0


def test_sharegpt_joins_several_leading_system_turns(db):
    conversation = new_uuid()
    with admin_connect(db) as conn:
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, status, tier) "
                     "VALUES (%s, 'two-systems', %s, 'approved', 'template')", (conversation, ALICE))
        conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) VALUES "
                     "(%s, 1, 'system', 'Be brief.'), (%s, 2, 'system', 'Be kind.'), "
                     "(%s, 3, 'user', 'Hi'), (%s, 4, 'assistant', 'Hello')", (conversation,) * 4)
    line = rpc_export(Session(db), {"scope": "selected", "conversation_ids": [conversation], "target": "sharegpt"},
                      sub=ALICE)
    assert json.loads(line[0]) == {"conversations": [{"from": "human", "value": "Hi"},
                                                     {"from": "gpt", "value": "Hello"}],
                                   "system": "Be brief.\n\nBe kind."}


# --- A large file whose optional fields appear late and vary in shape ---------------

LATE_CONVERSATIONS = 2800
TURN_BYTES = 4000


@pytest.fixture(scope="module")
def late_db():
    name = create_database("t_training_late")
    with admin_connect(name) as conn:
        # The first half (well past datasets' 10 MiB first chunk) has no
        # persona, score or parent, an empty review history and one metrics
        # shape; the second half has them all, in other shapes.
        conn.execute("""
            INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier, quality_score,
                                              quality_metrics, persona, parent_id, parent_type, review_history,
                                              created_at)
            SELECT gen_random_uuid(), 'late-' || lpad(g::text, 5, '0'), %s, 'Late ' || g, 'approved', 'template',
                   CASE WHEN g > %s THEN 7.5 END,
                   CASE WHEN g > %s THEN '{"fluency": "high", "scores": [1, 2.5, null]}'::jsonb
                        ELSE '{"coherence": 1}'::jsonb END,
                   CASE WHEN g > %s THEN 'Late persona' END,
                   CASE WHEN g > %s THEN gen_random_uuid() END,
                   CASE WHEN g > %s THEN 'template' END,
                   CASE WHEN g > %s THEN '[{"action": "approved", "by": {"name": "r"}}]'::jsonb ELSE '[]' END,
                   timestamptz '2030-01-01' + g * interval '1 second'
            FROM generate_series(1, %s) g""",
                     (ALICE,) + (LATE_CONVERSATIONS // 2,) * 6 + (LATE_CONVERSATIONS,))
        conn.execute("""
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT c.id, t, CASE t WHEN 1 THEN 'user' ELSE 'assistant' END, repeat('word ', %s)
            FROM public.conversations c CROSS JOIN generate_series(1, 2) t
            WHERE c.conversation_id LIKE 'late-%%'""", (TURN_BYTES // 5,))
    return name


@pytest.mark.parametrize("target", ["openai", "sharegpt"])
def test_datasets_loads_a_large_file_whose_metadata_appears_late(late_db, tmp_path, target):
    config = dict({flag: True for flag in INCLUDE_FLAGS}, scope="all", target=target,
                  filters={"search": "late"})
    path = export_file(late_db, config, tmp_path / f"late-{target}.jsonl")
    assert path.stat().st_size > 20 << 20
    dataset = load(path)
    assert len(dataset) == LATE_CONVERSATIONS
    last = dataset[-1]["metadata"]
    assert last["persona"] == "Late persona" and last["quality_score"] == "7.5"
    assert json.loads(last["review_history"]) == [{"action": "approved", "by": {"name": "r"}}]
    first = dataset[0]["metadata"]
    assert first["persona"] == "" and first["quality_score"] == "" and json.loads(first["review_history"]) == []


# --- Markdown on GitHub -------------------------------------------------------------

TRICKY = ["See https://example.com/a_b?x=1&y=2#frag and www.example.org/path_with_underscores.",
          "snake_case_name, __dunder__, *stars*, a*b, _emphasis_, ~~strike~~, | pipe |",
          "# not a heading", "1. not a list", "<b>not html</b> & &amp; entities", "`code` [link](http://x)"]


def rendered_quotes(markup):
    """The text of every blockquote paragraph, as a browser would show it."""
    return [html.unescape(re.sub(r"<[^>]+>", "", quote)).strip()
            for quote in re.findall(r"<blockquote>\s*(.*?)\s*</blockquote>", markup, flags=re.S)]


def test_markdown_renders_as_itself_on_github_and_in_commonmark(db):
    conversation = new_uuid()
    with admin_connect(db) as conn:
        conn.execute("INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier) "
                     "VALUES (%s, 'tricky-markdown', %s, 'Tricky', 'approved', 'template')", (conversation, ALICE))
        for number, text in enumerate(TRICKY, 1):
            conn.execute("INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content) "
                         "VALUES (%s, %s, %s, %s)", (conversation, number, "user" if number % 2 else "assistant",
                                                     text))
    rows = rpc_export(Session(db), {"scope": "selected", "conversation_ids": [conversation], "format": "markdown"},
                      sub=ALICE)
    markdown = "\n".join(rows) + "\n"
    github = cmarkgfm.github_flavored_markdown_to_html(markdown)
    commonmark = MarkdownIt("commonmark").render(markdown)
    assert rendered_quotes(github) == TRICKY
    assert rendered_quotes(commonmark) == TRICKY
    # URLs are text, never links: database text cannot become a link or an image.
    assert "<a " not in github and "<a " not in commonmark


# --- Train/validation split ---------------------------------------------------------

SPLIT_CONVERSATIONS = 10_000


@pytest.fixture(scope="module")
def split_db():
    name = create_database("t_training_split")
    with admin_connect(name) as conn:
        conn.execute("""
            INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier)
            SELECT gen_random_uuid(), 'split-' || lpad(g::text, 5, '0'), %s, 'Split ' || g, 'approved', 'scenario'
            FROM generate_series(1, %s) g""", (ALICE, SPLIT_CONVERSATIONS))
        conn.execute("""
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT c.id, t, CASE t WHEN 1 THEN 'user' ELSE 'assistant' END,
                   'turn ' || t || ' of ' || c.conversation_id
            FROM public.conversations c CROSS JOIN generate_series(1, 2) t
            WHERE c.conversation_id LIKE 'split-%%'""")
    return name


def part_ids(db, part, fmt="csv", seed="v1"):
    config = {"scope": "all", "format": fmt, "bom": False, "include_metadata": True,
              "filters": {"tier": ["scenario"], "search": "split"},
              "split": {"validation": 0.1, "seed": seed, "part": part}}
    with admin_connect(db) as conn:
        rows = [r[0] for r in conn.execute("SELECT export_system.export_conversations(%s)",
                                           (json.dumps(config),)).fetchall()]
    if fmt == "csv":
        return {line.split(",")[0] for row in rows[1:] for line in row.split("\n")}
    return {json.loads(row)["metadata"]["conversation_id"] for row in rows}


def test_split_parts_are_disjoint_complete_and_stable(split_db):
    train, validation = part_ids(split_db, "train"), part_ids(split_db, "validation")
    everything = {r[0] for r in fetch_rows(split_db, "SELECT conversation_id FROM public.conversations "
                                                     "WHERE conversation_id LIKE 'split-%%'")}
    assert not train & validation
    assert train | validation == everything and len(everything) == SPLIT_CONVERSATIONS
    assert 0.08 < len(validation) / SPLIT_CONVERSATIONS < 0.12
    # The same in every run and format, and another seed gives another split.
    assert part_ids(split_db, "validation") == validation
    assert part_ids(split_db, "validation", fmt="jsonl") == validation
    assert part_ids(split_db, "validation", seed="v2") != validation


def test_split_is_the_same_in_a_background_job_and_named_in_the_file(split_db):
    config = {"scope": "all", "format": "csv", "bom": False, "filters": {"search": "split"},
              "split": {"validation": 0.1, "seed": "v1", "part": "validation"}}
    api = Session(split_db)
    info = rpc(api, "export_file_info", {"config": "jsonb"}, {"config": config}, sub=ALICE)
    assert info["file_name"].endswith("-validation.csv") and info["part"] == "validation"
    export_id = rpc(api, "queue_export", {"config": "jsonb"}, {"config": config}, sub=ALICE)
    with admin_connect(split_db) as conn:
        conn.execute("SELECT export_system.run_queued_exports()")
    import time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = rpc(api, "export_status", {"export_id": "uuid"}, {"export_id": export_id}, sub=ALICE)
        if status["status"] == "completed":
            break
        time.sleep(0.1)
    parts = rpc(api, "download_export", {"export_id": "uuid"}, {"export_id": export_id}, returns_set=True, sub=ALICE)
    job_ids = {line.split(",")[0] for part in parts for line in part.split("\n")
               if line and not line.startswith("conversation_id,")}
    assert job_ids == part_ids(split_db, "validation")


DUPLICATED_CONTENTS = 300


@pytest.fixture(scope="module")
def duplicates_db():
    """2,000 conversations holding 300 contents: most content sits in several
    conversations, as in LLaMA-Factory's glaive demo and in real data."""
    name = create_database("t_training_split_duplicates")
    with admin_connect(name) as conn:
        conn.execute("DELETE FROM public.conversations")
        conn.execute("""
            INSERT INTO public.conversations (id, conversation_id, user_id, title, status, tier)
            SELECT gen_random_uuid(), 'dup-' || lpad(g::text, 4, '0'), %s, 'Dup ' || g, 'approved', 'scenario'
            FROM generate_series(1, 2000) g""", (ALICE,))
        conn.execute("""
            INSERT INTO public.conversation_turns (conversation_id, turn_number, role, content)
            SELECT c.id, t, CASE t WHEN 1 THEN 'user' ELSE 'assistant' END,
                   'content ' || (hashtext(c.conversation_id) & 2147483647) %% %s || ', turn ' || t
            FROM public.conversations c CROSS JOIN generate_series(1, 2) t""", (DUPLICATED_CONTENTS,))
    return name


def contents_of(db, part, seed, fmt):
    config = {"scope": "all", "format": fmt, "split": {"validation": 0.2, "seed": seed, "part": part}}
    with admin_connect(db) as conn:
        rows = [r[0] for r in conn.execute("SELECT export_system.export_conversations(%s)",
                                           (json.dumps(config),)).fetchall()]
    if fmt == "jsonl":
        return [json.dumps(json.loads(row)["messages"]) for row in rows]
    return [row for row in rows[1:] if row]


@pytest.mark.parametrize("seed", [f"seed-{n}" for n in range(12)])
def test_identical_training_content_never_sits_in_both_parts(duplicates_db, seed):
    train = contents_of(duplicates_db, "train", seed, "jsonl")
    validation = contents_of(duplicates_db, "validation", seed, "jsonl")
    assert len(train) + len(validation) == 2000
    assert not set(train) & set(validation)
    assert 0 < len(set(validation)) < DUPLICATED_CONTENTS


def test_the_content_keyed_split_is_the_same_in_every_format(duplicates_db):
    jsonl = set(contents_of(duplicates_db, "validation", "v1", "jsonl"))
    again = set(contents_of(duplicates_db, "validation", "v1", "jsonl"))
    records = csv.DictReader(io.StringIO("\n".join(
        export_rows(duplicates_db, {"scope": "all", "format": "csv", "bom": False,
                                    "split": {"validation": 0.2, "seed": "v1", "part": "validation"}}))))
    csv_contents = {record["content"] for record in records if record["role"] == "user"}
    assert jsonl == again
    assert csv_contents == {json.loads(example)[0]["content"] for example in jsonl}


def export_rows(db, config):
    with admin_connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT export_system.export_conversations(%s)",
                                           (json.dumps(config),)).fetchall()]


def test_bad_split_is_22023(db):
    for split, named in [({"validation": 1.5, "part": "train"}, '"split.validation"'),
                         ({"validation": 0.1}, '"split"'),
                         ({"validation": 0.1, "part": "test"}, '"split.part"'),
                         ({"validation": 0.1, "part": "train", "ratio": 1}, '"split.ratio"')]:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=re.escape(named)):
            rpc_export(Session(db), {"split": split}, sub=ALICE)
