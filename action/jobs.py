"""Jobs 1 and 3 in a workflow: the App's own job code, run once with the workflow's token.

The Action adds no job logic of its own. It builds the `JobContext` the App's worker would build
(the event from `GITHUB_EVENT_PATH`, GitHub for the repository, the trusted config) and calls the
same functions, so the exactly-once rules, markers and limits are the App's. Two things differ
from a worker: there is no queue to retry a job that hit a secondary rate limit or lost a claim,
so the job is retried in the step (`with_retries`, GitHub's retry-after honoured); and writes are
paced in the step by the same `Pacer`.

Each job returns one sentence for the job summary; the issues it opened are recorded by the
client (see `action.github_access.record_created_issues`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.config import Config, ConfigError

if TYPE_CHECKING:
    from app.github.client import GitHubClient
    from app.github.context import JobContext

ACTIONS_BOT_LOGIN = "github-actions[bot]"  # who GITHUB_TOKEN writes as, if GitHub does not say
SWEEP_EVENT, SWEEP_ACTION = "schedule", "daily"  # the App's daily sweep event, `schedule.daily`

# User-facing text (one line each in the job summary).
NOT_AN_INCIDENT = "No incident label on this event (config `incidents.labels`): nothing opened."
POSTMORTEM_DONE = "The incident has its postmortem issue; links repaired where missing."
NOT_THE_TRIGGER = (
    "Not the configured trigger (`action_items.create_on: {create_on}`): no action items synced."
)
SYNCED = "Synced the action items of {documents} postmortem document(s): {created} opened, {updated} updated."
NO_DOCUMENTS = "This pull request changes no postmortem document: no action items."
DEFERRED = "Another run holds the claim for the same commit and opens the issues."
CONFIG_BROKEN = "The config has problems (listed below): nothing was changed."
NOT_AN_ACTION_ITEM = "This issue is not an action-item issue: nothing to update."
REFRESHED = "Updated the status lists of {documents} postmortem document(s)."
SWEPT = "Labelled {count} overdue action-item issue(s) `overdue`."


@dataclass(frozen=True)
class WritePace:
    """How a write job waits: between writes, and before retrying a transient failure."""

    interval: float | None = None  # seconds between writes; None: job 3's WRITE_INTERVAL
    sleep: Callable[[float], None] = time.sleep

    def pacer(self):
        from app.jobs.action_items import WRITE_INTERVAL, Pacer

        interval = WRITE_INTERVAL if self.interval is None else self.interval
        return Pacer(interval, sleep=self.sleep)

    def retrying(self, call: Callable):
        from app.jobs.action_items import with_retries

        return with_retries(call, sleep=self.sleep)


def job_context(
    event_name: str,
    payload: dict,
    github: GitHubClient,
    config: Config | ConfigError,
    delivery_id: str,
) -> JobContext:
    """The context the App's handlers expect, for this run's event and repository."""
    from app.github.context import JobContext
    from app.github.events import Event

    payload = copy.deepcopy(payload)
    # Scheduled and dispatched runs carry no repository in their payload; the jobs read it.
    payload.setdefault(
        "repository",
        {"name": github.repo, "full_name": github.full_name, "owner": {"login": github.owner}},
    )
    event = Event(event_name, delivery_id, payload)
    # Who the token writes as, since only what it wrote is the bot's state: the workflow's own
    # token is github-actions[bot]; a personal or an App's token is its own account.
    bot_login = github.viewer_login() or ACTIONS_BOT_LOGIN
    return JobContext(event=event, github=github, config=config, bot_login=bot_login)


# --- job 1 -------------------------------------------------------------------------------------


def open_postmortem(ctx: JobContext, pace: WritePace) -> str:
    """Job 1, the App's handler as is. Under `command: open-postmortem` on an event without a
    `label` (say `issues.opened` with the label already on), the issue's first incident label
    stands in for it."""
    from app.jobs.open_postmortem.issue import on_issue_labeled
    from app.jobs.open_postmortem.plan import incident_kind

    payload = ctx.event.payload
    if not payload.get("label"):
        labels = (payload.get("issue") or {}).get("labels") or []
        payload["label"] = next(
            (label for label in labels if incident_kind(label.get("name"), ctx.config)), None
        )
    if incident_kind((payload.get("label") or {}).get("name"), ctx.config) is None:
        return NOT_AN_INCIDENT
    pace.retrying(lambda: on_issue_labeled(ctx))
    return CONFIG_BROKEN if ctx.config_error else POSTMORTEM_DONE


# --- job 3 -------------------------------------------------------------------------------------


def action_items(ctx: JobContext, pace: WritePace) -> str:
    """Job 3: an approved or merged PR's items become issues; a closed or reopened action-item
    issue updates the status lists."""
    if ctx.config_error is not None:
        return CONFIG_BROKEN
    if ctx.event.name == "issues":
        return _refresh_status(ctx, pace)
    return _sync(ctx, pace)


def _sync(ctx: JobContext, pace: WritePace) -> str:
    from app.jobs.action_items import sync_action_items, trigger_sha

    # pull_request_target carries the same pull request; job 3 reads it through the API only.
    name = "pull_request" if ctx.event.name == "pull_request_target" else ctx.event.name
    sha = trigger_sha(name, ctx.payload, ctx.config)
    if sha is None:
        return NOT_THE_TRIGGER.format(create_on=ctx.config["action_items"]["create_on"])
    pacer = pace.pacer()
    result = pace.retrying(
        lambda: sync_action_items(
            ctx.github,
            ctx.config,
            ctx.payload["pull_request"],
            sha,
            run_id=ctx.event.delivery_id,
            now=ctx.now(),
            repo_url=ctx.event.repository.get("html_url"),
            pacer=pacer,
        )
    )
    if result.deferred:
        return DEFERRED
    if not result.documents:
        return NO_DOCUMENTS
    return SYNCED.format(
        documents=len(result.documents), created=len(result.created), updated=len(result.updated)
    )


def _refresh_status(ctx: JobContext, pace: WritePace) -> str:
    from app.jobs.action_items import item_marker, refresh_for_issue

    issue = ctx.payload.get("issue") or {}
    if ctx.is_own(ctx.event.sender) or item_marker(issue, ctx.github.full_name, ctx.github.bot) is None:
        return NOT_AN_ACTION_ITEM
    pacer = pace.pacer()
    plans = pace.retrying(
        lambda: refresh_for_issue(
            ctx.github,
            ctx.config,
            issue,
            today=ctx.now().date(),
            closing=ctx.event.action == "closed",
            pacer=pacer,
        )
    )
    return REFRESHED.format(documents=len(plans))


def sweep(ctx: JobContext, pace: WritePace) -> str:
    """Job 3's daily sweep: overdue items labelled once, their status lists updated."""
    from app.jobs.daily_sweep import sweep_overdue

    if ctx.config_error is not None:
        return CONFIG_BROKEN
    pacer = pace.pacer()
    flagged = pace.retrying(lambda: sweep_overdue(ctx.github, ctx.config, ctx.now().date(), pacer=pacer))
    return SWEPT.format(count=len(flagged))


def health_report(ctx: JobContext, pace: WritePace) -> str:
    """The scheduled run's culture report: the Markdown for the job summary, and the one
    "Postmortem health" issue edited in place (the scheduled workflow is the opt-in)."""
    from app.jobs.culture_report import publish_health

    markdown, _ = pace.retrying(
        lambda: publish_health(ctx.github, ctx.config, ctx.now().date(), keep_issue=True)
    )
    return markdown
