"""Redaction quality (issue 29) measured against Microsoft Presidio's pattern
recognizers on the same text: real LLaMA-Factory demo conversations with a few
thousand Faker values planted in them, look-alike texts and plain demo texts
(tests/support/redaction_corpus.py).

A planted value counts as found when a finding of its entity overlaps its
span; every finding that overlaps no planted value of its entity is a false
positive. Our findings are the spans the export replaced with placeholders.

The table is printed and written to /tmp/redaction_quality_table.md.
tests/golden/redaction_quality.json holds the figures we must not fall below;
UPDATE_GOLDEN=1 rewrites it from the figures measured.
"""
import hashlib
import json
import os
import re
from collections import namedtuple
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import tldextract.tldextract
from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                      IpRecognizer, PhoneRecognizer)

from support import ALICE, admin_connect, create_database, new_uuid
from support.redaction_corpus import ENTITIES, build_corpus

GOLDEN = Path(__file__).resolve().parent / "golden" / "redaction_quality.json"
TABLE = Path("/tmp/redaction_quality_table.md")
EXPORT_CONFIG = {"scope": "all", "redact": True, "include_metadata": True}
PRESIDIO_RECOGNIZERS = {
    "email_address": EmailRecognizer,
    "phone_number": PhoneRecognizer,
    "credit_card": CreditCardRecognizer,
    "iban_code": IbanRecognizer,
    "ip_address": IpRecognizer,
}
FULL_RECALL_ENTITIES = ("email_address", "credit_card", "iban_code", "ip_address", "secret")
LEAST_RECALL = 0.99
PLACEHOLDER = re.compile("<(" + "|".join(entity.upper() for entity in ENTITIES) + ")>")

Finding = namedtuple("Finding", "entity start end")


# --- Presidio ------------------------------------------------------------------

def presidio_findings(samples):
    """Presidio's pattern recognizers on each text, by sample key. Its e-mail
    check reads the public suffix list: the copy tldextract ships, never the
    network."""
    offline = tldextract.tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tldextract.tldextract, "TLD_EXTRACTOR", offline)
        recognizers = {entity: make() for entity, make in PRESIDIO_RECOGNIZERS.items()}
        return {sample.key: [finding for entity, recognizer in recognizers.items()
                             for finding in presidio_findings_in(recognizer, entity, sample.text)]
                for sample in samples}


def presidio_findings_in(recognizer, entity, text):
    results = recognizer.analyze(text, recognizer.supported_entities, None)
    return [Finding(entity, result.start, result.end) for result in results]


# --- Ours ----------------------------------------------------------------------

def our_findings(samples):
    """The spans the export replaced, by sample key."""
    db = create_database("t_redaction_quality")
    load_samples(db, samples)
    redacted = exported_user_texts(db)
    assert set(redacted) == {sample.key for sample in samples}
    return {sample.key: replaced_spans(sample.text, redacted[sample.key]) for sample in samples}


def load_samples(db, samples):
    """Each text as one user turn, answered "OK.", in its own conversation."""
    ids = {sample.key: new_uuid() for sample in samples}
    with admin_connect(db) as conn:
        conn.execute("DELETE FROM public.conversations")
        with conn.cursor().copy("COPY public.conversations (id, conversation_id, user_id, title, status, tier) "
                                "FROM STDIN") as copy:
            for sample in samples:
                copy.write_row((ids[sample.key], sample.key, ALICE, sample.key, "approved", "template"))
        with conn.cursor().copy("COPY public.conversation_turns (conversation_id, turn_number, role, content) "
                                "FROM STDIN") as copy:
            for sample in samples:
                copy.write_row((ids[sample.key], 1, "user", sample.text))
                copy.write_row((ids[sample.key], 2, "assistant", "OK."))


def exported_user_texts(db):
    """The redacted user text of each exported conversation, by its label."""
    with admin_connect(db) as conn:
        rows = conn.execute("SELECT export_system.export_conversations(%s)", (json.dumps(EXPORT_CONFIG),)).fetchall()
    examples = [json.loads(line) for line in "\n".join(row[0] for row in rows).splitlines()]
    return {example["metadata"]["conversation_id"]: example["messages"][0]["content"] for example in examples}


def replaced_spans(original, redacted):
    """The spans of the original that the redacted text's placeholders stand
    for: the redacted text as an anchored regex, each placeholder a non-empty
    run."""
    pieces = PLACEHOLDER.split(redacted)
    literals, labels = pieces[0::2], pieces[1::2]
    pattern = re.escape(literals[0]) + "".join("(.+?)" + re.escape(literal) for literal in literals[1:])
    match = re.fullmatch(pattern, original, re.DOTALL)
    assert match, f"the redacted text does not align with the original:\n{redacted!r}\n{original!r}"
    return [Finding(label.lower(), match.start(group), match.end(group)) for group, label in enumerate(labels, 1)]


# --- Scores --------------------------------------------------------------------

def overlaps(a, b):
    return a.start < b.end and b.start < a.end


def meets_its_entity(span, others):
    """Whether a span of the same entity among the others overlaps it: a
    planted value found, a finding true, a finding Presidio shares."""
    return any(other.entity == span.entity and overlaps(other, span) for other in others)


@dataclass
class EntityScore:
    planted: int
    found: int
    flagged: int
    flagged_truly: int

    @property
    def recall(self):
        return self.found / self.planted

    @property
    def precision(self):
        """None when nothing was flagged."""
        return self.flagged_truly / self.flagged if self.flagged else None


def entity_score(samples, findings_by_key, entity):
    score = EntityScore(0, 0, 0, 0)
    for sample in samples:
        findings = [finding for finding in findings_by_key[sample.key] if finding.entity == entity]
        planted = [value for value in sample.planted if value.entity == entity]
        score.planted += len(planted)
        score.found += sum(meets_its_entity(value, findings) for value in planted)
        score.flagged += len(findings)
        score.flagged_truly += sum(meets_its_entity(finding, planted) for finding in findings)
    return score


def scores(samples, findings_by_key, entities):
    return {entity: entity_score(samples, findings_by_key, entity) for entity in entities}


def rounded(figure):
    return None if figure is None else round(figure, 3)


def lookalikes_flagged_by_us_only(measured):
    """(key, entity, value) of each of our findings in a look-alike text that
    no Presidio finding of the same entity overlaps."""
    flagged = []
    for sample in measured.samples:
        if sample.kind != "lookalike":
            continue
        theirs = measured.presidio_findings[sample.key]
        for finding in measured.our_findings[sample.key]:
            if not meets_its_entity(finding, theirs):
                flagged.append((sample.key, finding.entity, sample.text[finding.start:finding.end]))
    return flagged


def lookalikes_flagged(samples, findings_by_key):
    return sum(len(findings_by_key[sample.key]) for sample in samples if sample.kind == "lookalike")


# --- The report ----------------------------------------------------------------

def figure_cell(figure):
    return "—" if figure is None else f"{figure:.3f}"


def markdown_table(measured):
    lines = ["| entity | planted | Presidio recall | Presidio precision | ours recall | ours precision |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for entity in ENTITIES:
        ours = measured.our_scores[entity]
        theirs = measured.presidio_scores.get(entity)
        presidio_cells = [figure_cell(theirs.recall), figure_cell(theirs.precision)] if theirs else ["—", "—"]
        lines.append(" | ".join(["", entity, str(ours.planted), *presidio_cells,
                                 figure_cell(ours.recall), figure_cell(ours.precision), ""]).strip())
    kinds = [sample.kind for sample in measured.samples]
    lines += ["", "— : Presidio has no recognizer for it, or nothing was flagged.",
              "", f"{len(kinds)} texts: {kinds.count('planted')} with planted values, "
                  f"{kinds.count('lookalike')} with look-alikes only, {kinds.count('demo')} demo texts as they are. "
                  f"Values flagged in the look-alike texts: Presidio "
                  f"{lookalikes_flagged(measured.samples, measured.presidio_findings)}, ours "
                  f"{lookalikes_flagged(measured.samples, measured.our_findings)} "
                  f"({len(lookalikes_flagged_by_us_only(measured))} that Presidio does not flag)."]
    return "\n".join(lines) + "\n"


def corpus_digest(samples):
    return hashlib.sha256(json.dumps([asdict(sample) for sample in samples]).encode()).hexdigest()


def baseline(measured):
    return {"corpus_sha256": corpus_digest(measured.samples),
            "ours": {entity: {"recall": rounded(score.recall), "precision": rounded(score.precision)}
                     for entity, score in measured.our_scores.items()}}


@dataclass(repr=False)
class Measurement:
    samples: list
    presidio_findings: dict
    our_findings: dict
    presidio_scores: dict
    our_scores: dict


@pytest.fixture(scope="module")
def measured():
    samples = build_corpus()
    presidio = presidio_findings(samples)
    ours = our_findings(samples)
    measurement = Measurement(samples, presidio, ours, scores(samples, presidio, PRESIDIO_RECOGNIZERS),
                              scores(samples, ours, ENTITIES))
    table = markdown_table(measurement)
    print("\n" + table)
    TABLE.write_text(table)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(baseline(measurement), indent=2) + "\n")
    return measurement


# --- The tests -----------------------------------------------------------------

def test_no_figure_falls_below_the_baseline(measured):
    golden = json.loads(GOLDEN.read_text())
    assert golden["corpus_sha256"] == corpus_digest(measured.samples), \
        "the corpus changed (Faker or the demo data?): its baseline must be measured again (UPDATE_GOLDEN=1)"
    now = baseline(measured)["ours"]
    drops = [(entity, metric, figure, now[entity][metric]) for entity, floors in golden["ours"].items()
             for metric, figure in floors.items()
             if figure is not None and (now[entity][metric] is None or now[entity][metric] < figure)]
    assert not drops, f"below the baseline (entity, metric, baseline, now): {drops}"


def test_we_find_and_spare_at_least_what_presidio_does(measured):
    behind = []
    for entity, theirs in measured.presidio_scores.items():
        ours = measured.our_scores[entity]
        if rounded(ours.recall) < rounded(theirs.recall):
            behind.append((entity, "recall", rounded(theirs.recall), rounded(ours.recall)))
        if theirs.precision is not None and (ours.precision is None
                                             or rounded(ours.precision) < rounded(theirs.precision)):
            behind.append((entity, "precision", rounded(theirs.precision), rounded(ours.precision)))
    assert not behind, f"behind Presidio (entity, metric, Presidio, ours): {behind}"


@pytest.mark.parametrize("entity", FULL_RECALL_ENTITIES)
def test_recall_is_nearly_complete(measured, entity):
    assert measured.our_scores[entity].recall >= LEAST_RECALL


def test_lookalikes_are_flagged_only_where_presidio_flags_them_too(measured):
    flagged = lookalikes_flagged_by_us_only(measured)
    assert not flagged, f"{len(flagged)} look-alikes flagged by us only (key, entity, value): {flagged[:20]}"
