"""When the worker gives up on a pull request's issues, a PR comment says what is left, and goes
once they are all open.

A long GitHub outage ends the delivery as failed after a bounded time (BLAMELESS_GIVE_UP_AFTER or
BLAMELESS_RETRIES); the claim comment of this run is replaced by this note, listing the items that
have no issue yet. The next run that finishes the job (the daily sweep queues failed deliveries
again, or a new approval or merge event) removes the note.
"""

from __future__ import annotations

import logging

from app.github import markers
from app.github.context import JobContext
from app.jobs.action_items.claim import claim_run, claims
from app.jobs.action_items.index import load_index, postmortems_of
from app.jobs.action_items.model import DocPlan, Run
from app.jobs.action_items.plan import plan_documents
from checks.output.safe_markdown import code

log = logging.getLogger(__name__)

UNFINISHED = "action-items-unfinished"  # the PR comment after the worker gave up

# User-facing text.
UNFINISHED_TEXT = (
    "{marker}\n**Not all issues could be opened yet.** GitHub kept failing ({error}), so the bot "
    "stopped for now and will try again (the daily sweep picks the delivery up again).\n\n"
    "{left}"
)
LEFT_HEADING = "Items still without an issue:\n\n"
NOTHING_LEFT = "Every item has its issue; the status list will follow."


def report_unfinished(ctx: JobContext, error: BaseException) -> None:
    """Replace this run's claim with a note that names the items without an issue."""
    github, pull = ctx.github, ctx.payload["pull_request"]
    # The SHA the failed run worked on (see `trigger_sha`): the approved commit, or the merge.
    review = ctx.payload.get("review") or {}
    sha = review.get("commit_id") or pull.get("merge_commit_sha") or (pull.get("head") or {}).get("sha")
    if sha is None or ctx.dry_run:
        return
    plans = plan_documents(github, ctx.config, pull, sha, ctx.event.repository.get("html_url"))
    index = load_index(github, ctx.config, postmortems_of(plans))
    left = [
        f"- {code(doc.path)}: {planned.label}"
        for doc in plans
        for planned in doc.items
        if planned.creatable and not planned.item.issue and index.find(doc, planned.item.id) is None
    ]
    marker = markers.render(UNFINISHED, pr=pull["number"])
    body = UNFINISHED_TEXT.format(
        marker=marker,
        error=type(error).__name__,
        left=LEFT_HEADING + "\n".join(left) if left else NOTHING_LEFT,
    )
    github.upsert_comment(pull["number"], marker, body)
    for claim in claims(github.list_comments(pull["number"]), github.bot):
        if claim_run(claim) == ctx.event.delivery_id:
            github.delete_comment(claim["id"])  # the note says it all: no "Opening issues…" left
    log.warning("action items unfinished; reported on the pull request", extra={"left": len(left)})


def clear_unfinished(run: Run, number: int, plans: list[DocPlan]) -> None:
    """The job finished: a note from an earlier run that gave up goes."""
    note = run.github.find_comment(number, markers.render(UNFINISHED, pr=number))
    if note is not None and plans:
        run.write()
        run.github.delete_comment(note["id"])
