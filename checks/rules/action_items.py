"""Action-item checks: a type that changes the system, one owner, a due date, no reminders, no duplicates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from checks.config import Config
from checks.document.items import TYPES, derived_id
from checks.document.model import ActionItem, Document, Span
from checks.findings import Hit
from checks.rules.catalog import rule

USER_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}")  # a GitHub user name
_LOGIN = re.compile(USER_LOGIN.pattern + r"(?:/[A-Za-z0-9][\w.-]{0,99})?")  # or org/team


@cache
def reminder_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in rule("action-items.reminder").data["patterns"])


def reminder_match(text: str) -> re.Match[str] | None:
    """The first reminder, training or vigilance phrase in an item's text."""
    found = [m for p in reminder_patterns() if (m := p.search(text))]
    return min(found, key=lambda m: m.start()) if found else None


def item_type(item: ActionItem) -> Iterator[Hit]:
    if not item.type:
        yield Hit("action-items.missing-type", item.text_span)
    elif item.type not in TYPES:
        yield Hit("action-items.unknown-type", item.type_span or item.text_span)


def reminder(doc: Document, item: ActionItem) -> Iterator[Hit]:
    match = reminder_match(doc.source[item.text_span.start : item.text_span.end])
    if match:
        yield Hit(
            "action-items.reminder",
            Span(item.text_span.start + match.start(), item.text_span.start + match.end()),
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
        yield from item_type(item)
        yield from reminder(doc, item)
        yield from owner(item, config)
        yield from due_date(item, config)
    yield from duplicates(items)
