"""What kind of change an action item ships: the shares the report follows month by month.

Systemic kinds (guardrail, constraint, decision-policy) change the system; reminder and training
items ask people to be more careful; vague items say neither. `item_kind` is the one place the
report asks: when the engine grows its own classifier (`checks.rules.action_items.item_kind`), the
report uses it instead of this one, with no other change.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from checks.document.items import TYPES
from checks.document.model import ActionItem
from checks.rules import action_items

SYSTEMIC = TYPES  # guardrail, constraint, decision-policy
PEOPLE = ("reminder", "training")
VAGUE = "vague"
ALL_KINDS = (*SYSTEMIC, *PEOPLE, VAGUE)
_TRAINING = re.compile(r"(?i)train|educat|awareness")


def declared_kind(item: ActionItem) -> str:
    """The reminder rule first (the text is what ships, whatever the type column says), then the
    declared type; an item with neither is vague."""
    match = action_items.reminder_match(item.text)
    if match is not None:
        return "training" if _TRAINING.search(match.group(0)) else "reminder"
    return item.type if item.type in SYSTEMIC else VAGUE


def _engine_classifier() -> Callable[[ActionItem], str] | None:
    engine = getattr(action_items, "item_kind", None)
    return engine if callable(engine) else None


def item_kind(item: ActionItem) -> str:
    """One of ALL_KINDS for `item`: the engine's classifier when it has one, else `declared_kind`."""
    engine = _engine_classifier()
    kind = engine(item) if engine is not None else declared_kind(item)
    return kind if kind in ALL_KINDS else VAGUE
