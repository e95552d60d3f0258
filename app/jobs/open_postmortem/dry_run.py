"""Dry run: what the App would open for a delivery, printed, with no GitHub account and no network.

`blameless-bot replay --dry-run` (the README's first command) replays the bundled incident delivery
through here: the same planning code as the live job, with the built-in template and the config
given on the command line (or the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.github.events import Event
from app.github.repo_config import problems_markdown
from app.jobs.open_postmortem.plan import PostmortemPlan, incident_kind, plan_postmortem, postmortem_kind
from checks.config import Config, ConfigError, parse_config

CONFIG_SOURCE = "--config"
HEADER = "Dry run: nothing was sent to GitHub."
NOTHING = "Nothing to do: {reason}"
WOULD_OPEN = "The App would open this issue in {repository}:"
THEN = (
    "Then it would comment on #{incident} with a link to the new issue, link the two as "
    "issue and sub-issue where the server supports it, and leave the incident's text untouched."
)
DRAFT_PR = "With incidents.draft_pr it would also open a draft pull request adding {path}."


@dataclass(frozen=True)
class Preview:
    """What a delivery would lead to: a planned postmortem issue, or the reason for nothing."""

    event_key: str
    plan: PostmortemPlan | None = None
    reason: str = ""
    draft_path: str | None = None


def replay(event: Event, config_text: str | None = None, today: date | None = None) -> Preview:
    """Plan the App's answer to `event` under the given config text (None: the defaults)."""
    try:
        config = parse_config(config_text, file=CONFIG_SOURCE) if config_text else Config()
    except ConfigError as error:
        return Preview(event.key, reason="the config has problems:\n" + problems_markdown(error))
    if event.key != "issues.labeled":
        return Preview(event.key, reason=f"the dry run previews issues.labeled, not {event.key}")
    kind = postmortem_kind(event.payload, config)
    if kind is None:
        label = (event.payload.get("label") or {}).get("name")
        if incident_kind(label, config) is None:
            return Preview(event.key, reason=f"the label {label!r} is not an incident label here")
        return Preview(event.key, reason="the labelled issue is a pull request or a postmortem itself")
    plan = plan_postmortem(event.payload, config, kind, today or datetime.now(UTC).date())
    draft = config["incidents"]["document_path"] if config["incidents"]["draft_pr"] else None
    return Preview(event.key, plan=plan, draft_path=draft)


def render(preview: Preview) -> str:
    """The preview as text for a terminal."""
    if preview.plan is None:
        return f"{HEADER}\n{NOTHING.format(reason=preview.reason)}\n"
    plan = preview.plan
    lines = [
        HEADER,
        "",
        WOULD_OPEN.format(repository=plan.repository),
        f"  title:  {plan.title}",
        f"  labels: {', '.join(plan.labels)}",
        f"  due:    {plan.due.isoformat()}" + (f" ({plan.severity})" if plan.severity else ""),
        "",
        "-" * 72,
        plan.body.rstrip(),
        "-" * 72,
        "",
        THEN.format(incident=plan.incident_number),
    ]
    if preview.draft_path:
        lines.append(DRAFT_PR.format(path=preview.draft_path))
    return "\n".join(lines) + "\n"
