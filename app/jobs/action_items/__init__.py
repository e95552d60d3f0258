"""Job 3: approved action items become owned, linked issues, and their status flows back.

Trigger: the postmortem PR approved (`pull_request_review.submitted`, state approved) or merged
(`pull_request.closed`, merged), whichever `action_items.create_on` names (default: merge). Only
the postmortem documents the PR changes, read at the approved or merged SHA, with the base
branch's config. Items with error-level `action-items.*` findings get no issue; one PR comment
says which and why.

Each item is one issue, found again by a hidden marker holding its key (repository, document
path, item id), never by title. Exactly once, with all state in GitHub:

1. Look: the issues carrying the tracking label, plus the postmortem issue's sub-issues (a label
   removed by hand does not hide an issue), indexed by marker. Found → update, never re-create.
2. Claim (only when something must be created): a claim comment on the PR, then the comments
   listed again; the live claim with the lowest id wins (comment ids grow with creation, so every
   run that sees the same comments picks the same winner). A loser with the same SHA stops: the
   winner does the same work. A loser with another SHA raises `ActionItemsBusy` (transient), so
   the worker, or `with_retries` in the Action, tries again once the winner is done. A claim older
   than CLAIM_LEASE belongs to a dead run; a retry of the same run takes its own up again.
3. Create what is still missing (labels first, no assignees: one unassignable login would make
   GitHub refuse the whole issue), then list again and keep the lowest number per key, closing
   any other as its duplicate, before anyone is assigned: owners are never notified twice.
4. Converge every issue on its item: title, body, labels, assignee, sub-issue link. Each step
   compares with what GitHub holds first, so a re-run after any failure finishes the rest.

Status flows back: one PR comment (the claim becomes it) and a section per document in the
postmortem issue's body list every item with its issue and live state. `issues.closed` and
`issues.reopened` on an action-item issue re-render both; a daily sweep labels open past-due
items `overdue` once, without comments (`app.jobs.daily_sweep`).

Writes are paced (WRITE_INTERVAL between content-creating requests, as GitHub asks). A secondary
rate limit or a 5xx surfaces as TransientGitHubError: the App's worker retries the whole job,
which resumes where it stopped. The Action calls the same plain functions (see `with_retries`).

The package, one module per concern (each module's docstring says which):
`plan` (documents, items, owners, postmortems), `index` (markers, existing issues), `sync` (the
job), `text` (the issue's title and body), `claim`, `status` (PR comment, postmortem sections),
`refresh` (status flowing back), `labels`, `model`, `markdown`, `pacing`.
This module holds the triggers and re-exports the names the App, the Action and the tests use.
"""

from __future__ import annotations

import logging

from app.github.context import JobContext
from app.github.router import Router
from app.jobs.action_items.claim import CLAIM, CLAIM_LEASE, ActionItemsBusy, holding, release, take_claim
from app.jobs.action_items.index import (
    ACTION_ITEM,
    Index,
    item_marker,
    load_index,
    render_item_marker,
    sub_issues,
)
from app.jobs.action_items.labels import (
    DEFAULT_LABEL,
    OVERDUE_LABEL,
    TYPE_LABELS,
    ensure_labels,
    issue_labels,
    tracking_labels,
)
from app.jobs.action_items.model import DocPlan, ItemMarker, Owner, Planned, Run, SyncResult
from app.jobs.action_items.pacing import WRITE_INTERVAL, Pacer, with_retries
from app.jobs.action_items.plan import (
    PostmortemResolver,
    factor_text,
    is_placeholder,
    issue_number,
    plan_document,
    plan_documents,
    plan_items,
    resolve_owner,
)
from app.jobs.action_items.refresh import (
    DONE,
    latest_sync,
    note_all_closed,
    refresh_for_issue,
    refresh_status,
)
from app.jobs.action_items.status import (
    SECTION_BEGIN,
    SECTION_END,
    STATUS,
    issue_state,
    publish_status,
    render_pr_comment,
    render_section,
    render_table,
    replace_section,
    section_fields,
    write_postmortem_sections,
    write_status_comment,
)
from app.jobs.action_items.sync import (
    DUPLICATE,
    REMOVED,
    LostClaim,
    converge,
    create_missing,
    reconcile,
    sync_action_items,
)
from app.jobs.action_items.text import issue_title, owner_text, render_issue
from app.jobs.action_items.unfinished import UNFINISHED, clear_unfinished, report_unfinished
from checks.config import Config

__all__ = [
    "ACTION_ITEM",
    "CLAIM",
    "CLAIM_LEASE",
    "DEFAULT_LABEL",
    "DONE",
    "DUPLICATE",
    "OVERDUE_LABEL",
    "REMOVED",
    "SECTION_BEGIN",
    "SECTION_END",
    "STATUS",
    "TYPE_LABELS",
    "UNFINISHED",
    "WRITE_INTERVAL",
    "ActionItemsBusy",
    "DocPlan",
    "Index",
    "ItemMarker",
    "LostClaim",
    "Owner",
    "Pacer",
    "Planned",
    "PostmortemResolver",
    "Run",
    "SyncResult",
    "clear_unfinished",
    "converge",
    "create_missing",
    "ensure_labels",
    "factor_text",
    "holding",
    "is_placeholder",
    "issue_labels",
    "issue_number",
    "issue_state",
    "issue_title",
    "item_marker",
    "latest_sync",
    "load_index",
    "note_all_closed",
    "on_approved_or_merged",
    "on_issue_state",
    "owner_text",
    "plan_document",
    "plan_documents",
    "plan_items",
    "publish_status",
    "reconcile",
    "refresh_for_issue",
    "refresh_status",
    "release",
    "render_issue",
    "render_item_marker",
    "render_pr_comment",
    "render_section",
    "render_table",
    "replace_section",
    "report_unfinished",
    "resolve_owner",
    "router",
    "section_fields",
    "sub_issues",
    "sync_action_items",
    "take_claim",
    "tracking_labels",
    "trigger_sha",
    "with_retries",
    "write_postmortem_sections",
    "write_status_comment",
]

log = logging.getLogger(__name__)
router = Router()


# --- triggers ----------------------------------------------------------------------------------


@router.register("pull_request_review.submitted", "pull_request.closed")
def on_approved_or_merged(ctx: JobContext) -> None:
    sha = trigger_sha(ctx.event.name, ctx.payload, ctx.config)
    if sha is None:
        return
    if ctx.config_error is not None:
        log.info("config problem: action items left alone (the checks report it)")
        return
    pull = ctx.payload["pull_request"]
    repo_url = ctx.event.repository.get("html_url")
    if ctx.dry_run:
        plans = plan_documents(ctx.github, ctx.config, pull, sha, repo_url)
        count = sum(1 for doc in plans for p in doc.items if p.creatable)
        log.info("dry run: would sync action items", extra={"items": count})
        return
    sync_action_items(
        ctx.github,
        ctx.config,
        pull,
        sha,
        run_id=ctx.event.delivery_id,
        now=ctx.now(),
        repo_url=repo_url,
    )


# When the worker gives up on the delivery (a long GitHub outage), the PR says what is left.
on_approved_or_merged.on_give_up = report_unfinished  # type: ignore[attr-defined]


@router.register("issues.closed", "issues.reopened")
def on_issue_state(ctx: JobContext) -> None:
    issue = ctx.payload.get("issue") or {}
    if ctx.config_error is not None or ctx.is_own(ctx.event.sender) or ctx.dry_run:
        return
    if item_marker(issue, ctx.github.full_name, ctx.github.bot) is None:
        return
    closing = ctx.event.action == "closed"
    refresh_for_issue(ctx.github, ctx.config, issue, today=ctx.now().date(), closing=closing)


def trigger_sha(event_name: str, payload: dict, config: Config) -> str | None:
    """The SHA whose documents become issues, when this event is the configured trigger."""
    create_on = config["action_items"]["create_on"]
    pull = payload.get("pull_request") or {}
    head = (pull.get("head") or {}).get("sha")
    action = payload.get("action")
    if event_name == "pull_request_review" and action == "submitted":
        review = payload.get("review") or {}
        approved = (review.get("state") or "").lower() == "approved"  # REST says "APPROVED"
        return (review.get("commit_id") or head) if approved and create_on == "approval" else None
    if event_name == "pull_request" and action == "closed" and pull.get("merged"):
        return (pull.get("merge_commit_sha") or head) if create_on == "merge" else None
    return None
