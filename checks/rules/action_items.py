"""Action-item checks: a type that changes the system, one owner, a due date, no reminders, no duplicates.

An item's kind is inferred from its text by the shipped classifier (`checks.rules.language_model`):
items that rely on people or commit to nothing are reported whatever their type column says, a
declared type the text contradicts is a warning, and a missing type gets the inferred one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from checks.config import Config
from checks.document.items import TYPES, derived_id
from checks.document.model import ActionItem, Document, Span
from checks.findings import Hit, Level
from checks.rules.catalog import rule
from checks.rules.language_model import evidence
from checks.rules.language_model import model as trained

PEOPLE_KINDS = ("reminder", "training")
ERROR_CONFIDENCE = 0.9  # an item the classifier is less sure of is reported as a warning

USER_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}")  # a GitHub user name
_LOGIN = re.compile(USER_LOGIN.pattern + r"(?:/[A-Za-z0-9][\w.-]{0,99})?")  # or org/team


@cache
def reminder_patterns() -> tuple[re.Pattern[str], ...]:
    """The patterns one by one: only for a rule file whose patterns cannot be combined."""
    return tuple(re.compile(p, re.IGNORECASE) for p in rule("action-items.reminder").data["patterns"])


@cache
def reminder_pattern() -> re.Pattern[str] | None:
    return alternation(rule("action-items.reminder").data["patterns"])


def alternation(patterns: list[str]) -> re.Pattern[str] | None:
    """Case-insensitive patterns as one alternation: one scan of the item's text instead of twenty.

    A search finds the leftmost position where any alternative matches and, there, the first
    alternative in list order, with the match that pattern alone would give: exactly the
    earliest match of the separate patterns, ties to the first listed. Patterns with groups of
    their own (whose numbers would shift) or flags of their own (which Python accepts only at the
    start of the whole expression, an error inside the alternation) are left separate: None.
    Only the alternation is compiled: compiling each pattern too, to inspect it, cost every run
    milliseconds.
    """
    try:
        combined = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    except re.error:
        return None
    return None if combined.groups else combined


def reminder_match(text: str) -> re.Match[str] | None:
    """The first reminder, training or vigilance phrase in an item's text."""
    combined = reminder_pattern()
    if combined is not None:
        return combined.search(text)
    found = [m for p in reminder_patterns() if (m := p.search(text))]
    return min(found, key=lambda m: m.start()) if found else None


def kind_scores(text: str) -> dict[str, float]:
    """How much the item's text reads as each kind: guardrail … reminder, training, vague."""
    model = trained.load()
    return model.items.scores(evidence.item_features(text, model.lexicon))


def inferred_type(scores: dict[str, float]) -> str:
    """The declarable type the text reads as most (guardrail, constraint or decision-policy)."""
    return max(TYPES, key=lambda kind: scores.get(kind, 0.0))


def relies_on_people(scores: dict[str, float]) -> bool:
    """The classifier reads the item as a reminder or training (runbooks and docs count: they
    work only when someone reads them at the right moment)."""
    threshold = trained.load().items.thresholds.get("people", 1.0)
    return sum(scores.get(kind, 0.0) for kind in PEOPLE_KINDS) >= threshold


def reports_reminder(text: str) -> bool:
    """Whether `action-items.reminder` reports this item text (by phrase or by classifier)."""
    return bool(reminder_match(text)) or relies_on_people(kind_scores(text))


def is_vague(scores: dict[str, float]) -> bool:
    threshold = trained.load().items.thresholds.get("vague", 1.0)
    return scores.get("vague", 0.0) >= threshold and not relies_on_people(scores)


def item_type(item: ActionItem, scores: dict[str, float]) -> Iterator[Hit]:
    inferred = inferred_type(scores)
    if not item.type:
        # An item that relies on people or commits to nothing is told so, not that it reads as a
        # good type: that would contradict its reminder or vague finding.
        if relies_on_people(scores) or reminder_match(item.text):
            reads_as = "a reminder, which relies on people: make it a change to the system first"
        elif is_vague(scores):
            reads_as = "a vague item, which commits to no change: name the change first"
        else:
            reads_as = f"a {inferred}"
        yield Hit(
            "action-items.missing-type",
            item.text_span,
            suggestion=f"Add a type (guardrail, constraint or decision-policy): it reads as {reads_as}.",
        )
    elif item.type not in TYPES:
        yield Hit("action-items.unknown-type", item.type_span or item.text_span)
    elif (
        inferred != item.type
        and scores[inferred] >= trained.load().items.thresholds.get("type", 1.0)
        and scores.get(item.type, 0.0) < 1.0 - trained.load().items.thresholds.get("type", 1.0)
        and not relies_on_people(scores)
        and not is_vague(scores)
    ):
        yield Hit(
            "action-items.type-mismatch",
            item.type_span or item.text_span,
            params={"declared": item.type, "inferred": inferred, "confidence": f"{scores[inferred]:.2f}"},
        )


def reminder(doc: Document, item: ActionItem, scores: dict[str, float]) -> Iterator[Hit]:
    match = reminder_match(doc.source[item.text_span.start : item.text_span.end])
    if match:
        yield Hit(
            "action-items.reminder",
            Span(item.text_span.start + match.start(), item.text_span.start + match.end()),
        )
    elif relies_on_people(scores):
        confidence = sum(scores[k] for k in PEOPLE_KINDS)
        yield Hit(
            "action-items.reminder",
            item.text_span,
            message="This action item relies on people rather than a change to the system "
            f"(it reads as {max(PEOPLE_KINDS, key=scores.__getitem__)}; confidence {confidence:.2f})",
            level=Level.ERROR if confidence >= ERROR_CONFIDENCE else Level.WARNING,
        )


def vague(item: ActionItem, scores: dict[str, float]) -> Iterator[Hit]:
    if is_vague(scores):
        level = Level.ERROR if scores["vague"] >= ERROR_CONFIDENCE else Level.WARNING
        yield Hit(
            "action-items.vague", item.text_span, params={"confidence": f"{scores['vague']:.2f}"}, level=level
        )


def owner(item: ActionItem, config: Config) -> Iterator[Hit]:
    span = item.owner_span or item.text_span
    if not item.owners:
        yield Hit("action-items.missing-owner", item.text_span)
        return
    if len(item.owners) > 1:
        yield Hit("action-items.multiple-owners", span, params={"count": str(len(item.owners))})
        return
    login = item.owners[0]
    written_as_handle = "@" in (item.owner_text or "@")
    if not written_as_handle or not _LOGIN.fullmatch(login):
        yield Hit("action-items.owner-format", span)
    elif "/" in login and config["action_items"]["owners"] == "users":
        yield Hit("action-items.team-owner", span)


def due_date(item: ActionItem, config: Config) -> Iterator[Hit]:
    if item.due is not None:
        return
    if item.due_text and item.due_span:
        yield Hit("action-items.bad-due-date", item.due_span)
    elif config["action_items"]["require_due_date"]:
        yield Hit("action-items.missing-due-date", item.text_span)


def duplicates(items: list[ActionItem]) -> Iterator[Hit]:
    seen_text: set[str] = set()
    seen_ids: set[str] = set()
    for item in items:
        text_key = derived_id(item.text)
        if text_key in seen_text or (item.explicit_id and item.id in seen_ids):
            yield Hit("action-items.duplicate", item.text_span)
        seen_text.add(text_key)
        seen_ids.add(item.id)


def guardrail_share(doc: Document) -> float | None:
    """Share of action items typed guardrail (None when there are no items)."""
    items = doc.action_items
    if not items:
        return None
    return sum(1 for item in items if item.type == "guardrail") / len(items)


def check(doc: Document, config: Config) -> Iterator[Hit]:
    # An unfilled template row has a placeholder in its action, owner or due field (not in notes).
    items = [i for i in doc.action_items if not doc.in_placeholder(i.text_span, i.owner_span, i.due_span)]
    for item in items:
        scores = kind_scores(item.text)
        yield from item_type(item, scores)
        reminders = list(reminder(doc, item, scores))
        yield from reminders
        if not reminders:
            yield from vague(item, scores)
        yield from owner(item, config)
        yield from due_date(item, config)
    yield from duplicates(items)
