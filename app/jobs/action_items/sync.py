"""The job: open the issues still missing, close duplicates, converge every issue on its item."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from app.github import markers
from app.github.client import GitHubClient, GitHubError, TransientGitHubError
from app.github.context import DOCS_URL, utc_now
from app.jobs.action_items.claim import holding, release, take_claim
from app.jobs.action_items.index import (
    Index,
    load_index,
    postmortems_of,
    with_removed_flag,
)
from app.jobs.action_items.labels import OVERDUE_LABEL, TYPE_LABELS, ensure_labels, issue_labels
from app.jobs.action_items.markdown import SHORT_SHA
from app.jobs.action_items.model import DocPlan, ItemMarker, Planned, Run, SyncResult
from app.jobs.action_items.pacing import Pacer
from app.jobs.action_items.plan import plan_documents
from app.jobs.action_items.status import publish_status
from app.jobs.action_items.text import render_issue
from app.jobs.action_items.unfinished import clear_unfinished
from checks.config import Config
from checks.output.safe_markdown import code

log = logging.getLogger(__name__)

# Markers (see app/github/markers.py).
REMOVED = "action-item-removed"  # the one comment on the issue of an item that left the document
DUPLICATE = "action-item-duplicate"  # the comment on an issue closed as a duplicate

# User-facing text.
REMOVED_TEXT = (
    "{marker}\nThis action item is no longer in {path} as of `{short_sha}` (#{pr}). If the "
    "work is no longer planned, closing this issue as not planned keeps the postmortem's list "
    "accurate; if it is still worth doing, it can stay open. "
    "[How action items become issues]({docs}#from-action-items-to-issues)"
)
DUPLICATE_TEXT = (
    "{marker}\nClosing as a duplicate of #{winner}, which tracks the same action item ({item_id} in "
    "{path}): two runs opened it at the same moment."
)


def sync_action_items(
    github: GitHubClient,
    config: Config,
    pull: dict,
    sha: str,
    *,
    run_id: str,
    now: datetime | None = None,
    repo_url: str | None = None,
    pacer: Pacer | None = None,
) -> SyncResult:
    """Turn the PR's action items at `sha` into issues and bring them up to date.

    `pull` is the pull request as GitHub gives it (number and body are read); `run_id` names
    this run for the claim (the delivery id; in the Action, the workflow run id, the same for
    every attempt). Safe to call again with the same arguments after any failure: it finishes
    what is missing and duplicates nothing.
    """
    now = now or utc_now()
    if superseded_approval(github, config, pull, sha):
        log.info("an approval of an older commit: left to the newer one", extra={"pull": pull["number"]})
        return SyncResult([])
    run = Run(github, config, now.date(), pacer or Pacer())
    plans = plan_documents(github, config, pull, sha, repo_url)
    result = SyncResult(plans)
    if not plans:
        return result
    index = load_index(github, config, postmortems_of(plans))
    index.follow_edits(plans)
    claim = None
    if _missing(plans, index):
        claim = take_claim(run, pull["number"], sha, run_id, now)
        if claim is None:
            result.deferred = True
            return result
    try:
        if claim is not None:
            index = _create_under_claim(run, pull["number"], plans, claim, now, result)
        index = reconcile(run, plans, index)  # no request unless duplicates exist
        result.updated = converge(run, plans, index)
        note_removed(run, plans, index)
        publish_status(run, pull["number"], sha, plans, index, claim=claim, run_id=run_id)
        clear_unfinished(run, pull["number"], plans)
    except LostClaim:
        # Taken over mid-way: the taker finishes. An issue we opened in the instant between
        # our last check and the takeover is a duplicate; the lowest number stays.
        release(run, claim)
        reconcile(run, plans, load_index(github, config, postmortems_of(plans)))
        result.deferred = True
    except Exception:
        release(run, claim)
        raise
    return result


def superseded_approval(github: GitHubClient, config: Config, pull: dict, sha: str) -> bool:
    """An approval of a commit that is no longer the PR's head (a late retry, a redelivery, a
    re-run workflow): syncing it would roll the issues back to older text. A merge is final."""
    if config["action_items"]["create_on"] != "approval":
        return False
    current = github.get_pull(pull["number"])
    return not current.get("merged") and (current.get("head") or {}).get("sha") != sha


class LostClaim(Exception):
    """Another attempt took the claim over while this one was creating: it finishes the job."""


def _create_under_claim(
    run: Run, number: int, plans: list[DocPlan], claim: dict, now: datetime, result: SyncResult
) -> Index:
    def guard() -> None:
        if not holding(run, number, claim, now):
            raise LostClaim

    index = load_index(run.github, run.config, postmortems_of(plans))
    result.created = create_missing(run, plans, index, guard)
    if result.created:  # list again: a run racing us past the claim shows up here
        index = load_index(run.github, run.config, postmortems_of(plans))
    return index


def _missing(plans: list[DocPlan], index: Index) -> list[tuple[DocPlan, Planned]]:
    """Items that should have an issue and have none. An item whose row already names an
    issue (`Issue: #45`) is tracked there: the bot opens no second one."""
    return [
        (doc, p)
        for doc in plans
        for p in doc.items
        if p.creatable and not p.item.issue and index.find(doc, p.item.id) is None
    ]


def create_missing(
    run: Run, plans: list[DocPlan], index: Index, guard: Callable[[], None] = lambda: None
) -> list[dict]:
    """Open an issue for each creatable item without one: labelled, unassigned, marked.
    `guard` raises LostClaim when the claim is no longer ours (checked before each create)."""
    created = []
    for doc, planned in _missing(plans, index):
        labels = issue_labels(run.config, planned.item.type)
        ensure_labels(run, labels)
        title, body = render_issue(run, doc, planned, sha=doc.sha, pr=doc.pr)
        guard()
        run.write()
        issue = run.github.create_issue(title, body, labels=labels)
        created.append(issue)
        log.info("action-item issue opened", extra={"item": planned.item.id, "issue": issue["number"]})
    return created


def reconcile(run: Run, plans: list[DocPlan], index: Index) -> Index:
    """Keep the lowest number per key; close the others as its duplicates (they stay indexed
    as extras, never as the item's issue)."""
    for survivor, extra in index.duplicates(plans):
        if extra["state"] != "open":
            continue
        found = index.marker(extra)
        marker = markers.render(DUPLICATE)
        text = DUPLICATE_TEXT.format(
            marker=marker, winner=survivor["number"], item_id=code(found.id), path=code(found.doc)
        )
        run.write()
        run.github.upsert_comment(extra["number"], marker, text)  # once, even on a retry
        run.write()
        extra.update(run.github.update_issue(extra["number"], state="closed", state_reason="not_planned"))
    return index


def converge(run: Run, plans: list[DocPlan], index: Index) -> list[int]:
    """Assignee, labels, title and body, and sub-issue link of every item's issue; returns the
    numbers whose title or body changed.

    The body goes last: its marker remembers the owner the bot assigned, so a run that stops
    half-way still knows, when it comes back, whom to unassign.
    """
    updated = []
    for doc in plans:
        for planned in doc.items:
            issue = index.find(doc, planned.item.id)
            if issue is None or not planned.creatable:
                continue  # no issue, or an item the checks refuse: leave its issue as it was
            before = index.marker(issue)
            update_assignee(run, planned, issue, before.owner if before else None)
            update_labels(run, planned, issue)
            if update_text(run, doc, planned, issue, before):
                updated.append(issue["number"])
            link_to_postmortem(run, doc, issue, index)
    return updated


def update_text(run: Run, doc: DocPlan, planned: Planned, issue: dict, before: ItemMarker | None) -> bool:
    """PATCH title and body when the item changed. An unchanged item keeps its issue as it is,
    link to the SHA included: only edits move it to the new SHA."""
    old_sha = before.sha if before and before.sha else doc.sha
    old_pr = before.pr if before and before.pr else doc.pr
    title, body = render_issue(run, doc, planned, sha=old_sha, pr=old_pr)
    current = (issue.get("body") or "").replace("\r\n", "\n")  # the web editor writes CRLF
    if title == issue.get("title") and body == current:
        return False
    title, body = render_issue(run, doc, planned, sha=doc.sha, pr=doc.pr)
    run.write()
    issue.update(run.github.update_issue(issue["number"], title=title, body=body))
    return True


def update_labels(run: Run, planned: Planned, issue: dict) -> None:
    have = {label["name"].lower() for label in issue.get("labels") or []}
    wanted = issue_labels(run.config, planned.item.type)
    missing = [name for name in wanted if name.lower() not in have]
    if missing:
        ensure_labels(run, missing)
        run.write()
        issue["labels"] = run.github.add_labels(issue["number"], missing)
    stale = [t for t in TYPE_LABELS if t in have and t not in wanted]
    due = planned.item.due
    if OVERDUE_LABEL in have and (due is None or due >= run.today):
        stale.append(OVERDUE_LABEL)  # the due date moved: no longer overdue
    for name in stale:
        run.write()
        run.github.remove_label(issue["number"], name)
        issue["labels"] = [lb for lb in issue.get("labels") or [] if lb["name"].lower() != name]


def update_assignee(run: Run, planned: Planned, issue: dict, previous: str | None) -> None:
    """Assign the owner when GitHub accepts them; unassign the owner the bot assigned before
    when the document names another one. People added by hand stay."""
    login = planned.owner.login if planned.owner else None
    assigned = {a["login"].lower() for a in issue.get("assignees") or []}
    if login and login.lower() not in assigned and run.assignable(login):
        run.write()
        got = run.github.add_assignees(issue["number"], [login])
        issue["assignees"] = [{"login": name} for name in got]
    if previous and previous.lower() != (login or "").lower() and previous.lower() in assigned:
        run.write()
        run.github.remove_assignees(issue["number"], [previous])
        issue["assignees"] = [
            a for a in issue.get("assignees") or [] if a["login"].lower() != previous.lower()
        ]


def link_to_postmortem(run: Run, doc: DocPlan, issue: dict, index: Index) -> None:
    """The issue as a sub-issue of the postmortem. Best effort: the body links them already,
    and GHES, another parent or the 100-children limit are not worth failing the job over."""
    linked = index.children.get(doc.postmortem) if doc.postmortem else None
    if linked is None or issue["id"] in linked:
        return
    run.write()
    try:
        if run.github.add_sub_issue(doc.postmortem, issue["id"]):
            linked.add(issue["id"])
    except TransientGitHubError:
        raise
    except GitHubError as exc:
        log.warning("sub-issue link refused", extra={"status": exc.status, "error": exc.message})


def note_removed(run: Run, plans: list[DocPlan], index: Index) -> None:
    """One comment on the open issue of each item that left its document, once."""
    for doc in plans:
        present = {p.item.id for p in doc.items}
        for issue in index.for_doc(doc):
            found = index.marker(issue)
            if found.id in present or found.removed:
                continue
            if issue["state"] == "open":
                marker = markers.render(REMOVED)
                text = REMOVED_TEXT.format(
                    marker=marker,
                    path=code(doc.path),
                    short_sha=doc.sha[:SHORT_SHA],
                    pr=doc.pr,
                    docs=DOCS_URL,
                )
                run.write()
                run.github.upsert_comment(issue["number"], marker, text)
            body = with_removed_flag(issue.get("body") or "", doc.sha)
            run.write()
            issue.update(run.github.update_issue(issue["number"], body=body))
