"""Job 1's plan: which labels call for a postmortem, and the issue it would open, with no network.

Everything here is pure (payload and config in, plan out), so the handler, the draft pull
request and the dry run all read the same answer.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import date, timedelta

from app.github import markers
from app.github.context import DOCS_URL, format_time
from app.github.markers import BotIdentity
from checks.config import Config
from checks.document.template import fill, load_template
from checks.output import safe_markdown

FALLBACK_POSTMORTEM_LABEL = "postmortem"  # listing needs a label even if the config names none

# Marker (see app/github/markers.py).
POSTMORTEM_FOR = "postmortem-for"  # in the postmortem issue body: repo, issue, kind, due

# User-facing text.
POSTMORTEM_TITLE = "Postmortem: {title} (#{number})"
NEAR_MISS_TITLE = "Near-miss review: {title} (#{number})"
KIND_WORDS = {"incident": "incident", "near-miss": "near miss"}
ISSUE_HEADER = (
    "Postmortem for {kind_word} #{number}, due **{due}**{severity_note}.\n\n"
    "A first draft from the template. A blameless postmortem asks what in the system allowed "
    "this to happen, not who is to blame. [How to write one]({docs}#writing-a-postmortem)\n\n"
)


@dataclass(frozen=True)
class PostmortemPlan:
    """Everything about the postmortem issue that needs no network: what dry runs print."""

    repository: str
    incident_number: int
    kind: str  # "incident" | "near-miss"
    severity: str | None
    due: date
    title: str
    body: str
    labels: list[str] = field(default_factory=list)
    document: str = ""  # the filled template: the issue body's text, and the draft PR's file

    @property
    def kind_word(self) -> str:
        return KIND_WORDS[self.kind]


def postmortem_kind(payload: dict, config: Config, bot: BotIdentity | None = None) -> str | None:
    """What an `issues.labeled` delivery calls for: "incident", "near-miss", or None (nothing):
    the new label must be an incident label, on an issue that is neither a PR nor a postmortem."""
    issue = payload.get("issue") or {}
    if "pull_request" in issue or is_postmortem(issue, bot):
        return None
    return incident_kind((payload.get("label") or {}).get("name"), config)


def incident_kind(label: str | None, config: Config) -> str | None:
    """ "incident" or "near-miss" when `label` matches the configured names or globs."""
    if not label:
        return None
    incidents = config["incidents"]
    if _matches(label, incidents["labels"]):
        return "incident"
    if _matches(label, incidents["near_miss_labels"]):
        return "near-miss"
    return None


def _matches(label: str, patterns: list[str]) -> bool:
    # GitHub label names are case-insensitive, so are the patterns.
    return any(fnmatch.fnmatchcase(label.lower(), p.lower()) for p in patterns)


def is_postmortem(issue: dict, bot: BotIdentity | None) -> bool:
    """Never open a postmortem for a postmortem (its labels could match a broad glob). Only one
    the bot opened counts: a marker typed into an incident does not stop its postmortem."""
    return markers.read(issue, POSTMORTEM_FOR, bot) is not None


def plan_postmortem(
    payload: dict, config: Config, kind: str, today: date, template: str | None = None
) -> PostmortemPlan:
    """The postmortem issue for the incident in `payload`, as it would be opened today."""
    issue, repository = payload["issue"], payload["repository"]["full_name"]
    label_names = [label["name"] for label in issue.get("labels") or []]
    severity, days = severity_and_days(label_names, config["incidents"]["due_days"])
    due = today + timedelta(days=days)
    values = _template_values(issue, repository, severity, due)
    template = template or load_template()
    # The issue body is Markdown the bot writes: the incident's words go in as safe prose. The
    # draft PR's file keeps them as typed, only their markers, mentions and references broken.
    document = fill(template, {key: safe_markdown.neutralise(value) for key, value in values.items()})
    shown = {key: safe_markdown.inline(value) for key, value in values.items()}
    body_document = safe_markdown.quiet(fill(template, shown))
    title_format = NEAR_MISS_TITLE if kind == "near-miss" else POSTMORTEM_TITLE
    title = title_format.format(title=safe_markdown.title(issue["title"]), number=issue["number"])
    marker = markers.render(
        POSTMORTEM_FOR, repo=repository, issue=issue["number"], kind=kind, due=due.isoformat()
    )
    severity_note = f" ({severity}: {days} days)" if severity else ""
    header = ISSUE_HEADER.format(
        kind_word=KIND_WORDS[kind],
        number=issue["number"],
        due=due.isoformat(),
        severity_note=severity_note,
        docs=DOCS_URL,
    )
    return PostmortemPlan(
        repository=repository,
        incident_number=issue["number"],
        kind=kind,
        severity=severity,
        due=due,
        title=title,
        # The marker goes first: if GitHub's body limit ever cuts the text, it cuts the end.
        body=f"{marker}\n{header}{body_document}",
        labels=postmortem_labels(config),
        document=document,
    )


def severity_and_days(labels: list[str], due_days: dict[str, int]) -> tuple[str | None, int]:
    """The most urgent severity label configured in `due_days`, and its number of days."""
    by_name = {name.lower(): days for name, days in due_days.items() if name != "default"}
    found = [(by_name[label.lower()], label) for label in labels if label.lower() in by_name]
    if not found:
        return None, due_days.get("default", 14)
    days, label = min(found)
    return label, days


def _template_values(issue: dict, repository: str, severity: str | None, due: date) -> dict:
    return {
        "incident_number": str(issue["number"]),
        "incident_title": issue["title"],
        "incident_url": issue.get("html_url") or "",
        "severity": severity or "",  # left as {{severity}} so the checks ask for it
        "labels": ", ".join(label["name"] for label in issue.get("labels") or []),
        "opened_at": format_time(issue.get("created_at")),
        "repository": repository,
        "postmortem_due": due.isoformat(),
    }


def postmortem_labels(config: Config) -> list[str]:
    return list(config["incidents"]["postmortem_labels"]) or [FALLBACK_POSTMORTEM_LABEL]
