"""The daily sweep: open action-item issues past their due date are labelled overdue, once; and,
when the config's `report.health_issue` is on, the "Postmortem health" issue is brought up to date.

The App's queue sends every installed repository one `schedule.daily` event a day; the Action runs
the same function from a `schedule` workflow.
"""

from __future__ import annotations

from datetime import date

from app.github.client import GitHubClient
from app.github.context import JobContext
from app.github.router import Router
from app.jobs.action_items.index import item_marker
from app.jobs.action_items.labels import OVERDUE_LABEL, ensure_labels, tracking_labels
from app.jobs.action_items.model import ItemMarker, Run
from app.jobs.action_items.pacing import Pacer
from app.jobs.action_items.refresh import refresh_for_issue
from app.jobs.culture_report import publish_health
from checks.config import Config

router = Router()


@router.register("schedule.daily")
def on_daily_sweep(ctx: JobContext) -> None:
    if ctx.config_error is not None or ctx.dry_run:
        return
    sweep_overdue(ctx.github, ctx.config, ctx.now().date())
    if ctx.config["report"]["health_issue"]:
        publish_health(ctx.github, ctx.config, ctx.now().date(), keep_issue=True)


def sweep_overdue(
    github: GitHubClient,
    config: Config,
    today: date,
    *,
    pacer: Pacer | None = None,
) -> list[int]:
    """Label open action-item issues past their due date `overdue`, once (no comments), and
    re-render the status lists they appear in. Returns the numbers labelled now."""
    run = Run(github, config, today, pacer or Pacer())
    flagged = []
    for issue in github.list_issues(labels=tracking_labels(config)[0], state="open"):
        found = item_marker(issue, github.full_name, github.bot)
        if found is not None and not found.removed and flag_overdue(run, issue, found):
            flagged.append(issue)
    for issue in _one_per_document(flagged, github):
        refresh_for_issue(github, config, issue, today=today, pacer=run.pacer)
    return [issue["number"] for issue in flagged]


def flag_overdue(run: Run, issue: dict, found: ItemMarker) -> bool:
    labels = {label["name"].lower() for label in issue.get("labels") or []}
    if found.due is None or found.due >= run.today or OVERDUE_LABEL in labels:
        return False
    if _labelled_before(run.github, issue["number"]):
        return False  # someone removed the label: once is enough, the bot does not insist
    ensure_labels(run, [OVERDUE_LABEL])
    run.write()
    issue["labels"] = run.github.add_labels(issue["number"], [OVERDUE_LABEL])
    return True


def _labelled_before(github: GitHubClient, number: int) -> bool:
    return any(
        event.get("event") == "labeled"
        and ((event.get("label") or {}).get("name") or "").lower() == OVERDUE_LABEL
        for event in github.list_timeline(number)
    )


def _one_per_document(issues: list[dict], github: GitHubClient) -> list[dict]:
    seen, picked = set(), []
    for issue in issues:
        found = item_marker(issue, github.full_name, github.bot)
        key = (found.postmortem or found.pr, found.doc)
        if key not in seen:
            seen.add(key)
            picked.append(issue)
    return picked
