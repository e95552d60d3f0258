"""The labelled corpus and the old development set, loaded by split, as the checks see them.

Sentences come from `tests/data/corpus/sentences.jsonl` (categories without the `language.`
prefix) and the earlier `tests/data/language_devset.yaml` (rule ids); both are turned into one
shape: text, the language rule ids expected, split, and whether it is a timeline entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "corpus"
DEVSET = ROOT / "tests" / "data" / "language_devset.yaml"
CATEGORIES = (
    "person",
    "pronoun",
    "role-blame",
    "moral",
    "fault",
    "human-error",
    "hindsight",
    "vigilance",
    "rushing",
    "dismissive",
    "hr",
)
ITEM_KINDS = ("guardrail", "constraint", "decision-policy", "reminder", "training", "vague")
SPLITS = ("train", "dev", "test", "holdout", "fresh")
PEOPLE_KINDS = frozenset({"reminder", "training"})
REPORTED_KINDS = frozenset({"reminder", "training", "vague"})


@dataclass(frozen=True)
class Sentence:
    text: str
    expect: frozenset[str]  # language rule ids
    split: str  # corpus: train, dev, test, holdout, fresh; devset: devset-train, devset-test, devset-test2
    timeline: bool = False
    section: str | None = None
    doc: str | None = None  # the source document (corpus only)
    real: bool = False  # collected from a published source, not written for the corpus


@dataclass(frozen=True)
class Item:
    text: str
    kind: str
    split: str
    doc: str | None = None
    real: bool = False


def _split_of() -> dict[str, str]:
    splits = json.loads((CORPUS / "splits.json").read_text("utf-8"))
    return {item: name for name in SPLITS for item in splits.get(name, [])}


def _jsonl(name: str) -> list[dict]:
    lines = (CORPUS / name).read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def corpus_sentences(splits: set[str]) -> list[Sentence]:
    split_of = _split_of()
    return [
        Sentence(
            row["text"],
            frozenset(f"language.{c}" for c in row["categories"]),
            split_of[row["id"]],
            doc=row.get("doc"),
            real=bool(row.get("real")),
        )
        for row in _jsonl("sentences.jsonl")
        if split_of.get(row["id"]) in splits
    ]


def corpus_items(splits: set[str]) -> list[Item]:
    split_of = _split_of()
    return [
        Item(row["text"], row["kind"], split_of[row["id"]], doc=row.get("doc"), real=bool(row.get("real")))
        for row in _jsonl("action_items.jsonl")
        if split_of.get(row["id"]) in splits
    ]


def devset_sentences(splits: set[str]) -> list[Sentence]:
    """The earlier development set; its splits are named `devset-<split>`."""
    rows = yaml.safe_load(DEVSET.read_text("utf-8"))["items"]
    found = []
    for row in rows:
        split = f"devset-{row['split']}"
        if split in splits:
            timeline = bool(row.get("timeline"))
            section = row.get("section") or ("timeline" if timeline else None)
            found.append(Sentence(row["text"], frozenset(row["expect"]), split, timeline, section))
    return found


def sentence_document(sentence: Sentence):
    """A one-paragraph document (or one timeline entry) holding the sentence, as the engine sees it."""
    from checks.document.model import Document, Prose, Span

    text = sentence.text
    kind = "list_item" if sentence.timeline else "paragraph"
    prose = Prose(Span(0, len(text)), text, kind, sentence.section, sentence.timeline)
    return Document("corpus.md", text, prose=[prose])


def item_document(item: Item, declared: str | None = None):
    """A document with one action item whose text is the item's, typed `declared` (or untyped)."""
    from checks.document.model import ActionItem, Document, Span

    text = item.text
    span = Span(0, len(text))
    action = ActionItem(
        id="AI-1",
        explicit_id=True,
        text=text,
        span=span,
        text_span=span,
        type=declared,
        type_span=None,
        owners=["alice"],
        owner_span=None,
        due=None,
        due_text=None,
        due_span=None,
        issue=None,
        addresses=None,
        owner_text="@alice",
    )
    return Document("corpus.md", text, action_items=[action])
