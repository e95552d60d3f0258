"""The labels of action-item issues: which ones an issue carries, and their colours."""

from __future__ import annotations

from collections.abc import Iterable

from app.jobs.action_items.model import Run
from checks.config import Config

DEFAULT_LABEL = "action-item"
OVERDUE_LABEL = "overdue"
TYPE_LABELS = ("guardrail", "constraint", "decision-policy")
LABEL_COLORS = {
    DEFAULT_LABEL: "0e8a16",
    "guardrail": "1d76db",
    "constraint": "fbca04",
    "decision-policy": "c5def5",
    OVERDUE_LABEL: "d93f0b",
}
LABEL_DESCRIPTIONS = {
    DEFAULT_LABEL: "A follow-up from a blameless postmortem",
    "guardrail": "Blocks or catches a failure without relying on people",
    "constraint": "A limit the system enforces",
    "decision-policy": "Changes who decides what, and when",
    OVERDUE_LABEL: "Past its due date and still open",
}


def tracking_labels(config: Config) -> list[str]:
    """The configured labels (the first one is how the bot lists its issues again)."""
    return list(config["action_items"]["labels"]) or [DEFAULT_LABEL]


def issue_labels(config: Config, item_type: str | None) -> list[str]:
    labels = tracking_labels(config)
    if item_type in TYPE_LABELS and item_type not in labels:
        labels.append(item_type)
    return labels


def ensure_labels(run: Run, labels: Iterable[str]) -> None:
    """Create missing labels with our colours (GitHub would make them grey)."""
    for name in labels:
        color = LABEL_COLORS.get(name, LABEL_COLORS[DEFAULT_LABEL])
        run.github.ensure_label(name, color, LABEL_DESCRIPTIONS.get(name, ""))
