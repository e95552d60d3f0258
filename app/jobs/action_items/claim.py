"""The claim: one run at a time opens a pull request's issues, with all its state in a PR comment."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import quote, unquote

from app.github import markers
from app.github.client import GitHubError, NotFound, TransientGitHubError
from app.github.leases import github_now, live
from app.github.markers import BotIdentity
from app.jobs.action_items.model import Run

log = logging.getLogger(__name__)

# The marker of the claim comment (see app/github/markers.py).
CLAIM = "action-items-claim"  # the PR comment while issues are being opened: run, sha

CLAIM_LEASE = timedelta(minutes=15)
BUSY_RETRY = 30.0  # seconds before a run that lost the claim to another SHA tries again

# User-facing text.
CLAIM_TEXT = "Opening issues for the action items of this pull request…"


class ActionItemsBusy(TransientGitHubError):
    """Another run is opening this PR's issues for another SHA: try again once it is done."""

    def __init__(self, holder_sha: str):
        super().__init__(None, f"another run holds the claim for {holder_sha}", retry_after=BUSY_RETRY)


def take_claim(run: Run, number: int, sha: str, run_id: str, now: datetime) -> dict | None:
    """Our claim comment on the PR if we hold it; None if a live claim for the same SHA does
    (its run does this very work). Raises ActionItemsBusy if one for another SHA does.

    A claim of this same run is an earlier attempt (the worker retries only after an attempt
    has ended) and is replaced; should that attempt still be running after all (a redelivery
    processed twice at once), it notices before its next write (`holding`) and stops.
    """
    github = run.github
    comments = github.list_comments(number)
    now = github_now(github, now)  # the lease runs on GitHub's clock: `now` is only the fallback
    for claim in claims(comments, github.bot):
        if not _live(claim, now) or claim_run(claim) == run_id:
            github.delete_comment(claim["id"])  # a dead run's claim, or our earlier attempt
            comments.remove(claim)
    holder = _holder(comments, now, github.bot)
    if holder is not None:
        return _stand_back(run, holder, None, sha)
    run.write()
    claim = github.create_comment(number, _claim_body(run_id, sha))
    after = github.list_comments(number)
    holder = _holder(after, github_now(github, now), github.bot)
    if holder is not None and holder["id"] != claim["id"]:
        return _stand_back(run, holder, claim, sha)
    return claim


def holding(run: Run, number: int, claim: dict, now: datetime) -> bool:
    """Our claim still exists and is still the oldest live one."""
    comments = run.github.list_comments(number)
    holder = _holder(comments, github_now(run.github, now), run.github.bot)
    return holder is not None and holder["id"] == claim["id"]


def release(run: Run, claim: dict | None) -> None:
    """Best effort, on the way out of a failed run: the retry, or another run, need not wait
    for the lease (a retry of the same run would replace it anyway)."""
    if claim is None:
        return
    try:
        run.github.delete_comment(claim["id"])
    except GitHubError:
        log.info("claim left for the lease to expire", extra={"comment": claim["id"]})


def _stand_back(run: Run, holder: dict, mine: dict | None, sha: str) -> None:
    if mine is not None:
        run.github.delete_comment(mine["id"])
    holder_sha = (markers.find(holder.get("body"), CLAIM) or {}).get("sha", "")
    if holder_sha == sha:
        log.info("another run is opening these issues", extra={"sha": sha})
        return None
    raise ActionItemsBusy(holder_sha)


def write_claim(run: Run, number: int, mine: dict, body: str) -> dict:
    """Turn our claim into `body` (the status comment), or post it if the claim is gone."""
    run.write()
    try:
        return run.github.update_comment(mine["id"], body)
    except NotFound:
        return run.github.create_comment(number, body)


def _claim_body(run_id: str, sha: str) -> str:
    marker = markers.render(CLAIM, run=quote(run_id, safe=""), sha=sha)
    return f"{marker}\n{CLAIM_TEXT}"


def claims(comments: list[dict], bot: BotIdentity | None) -> list[dict]:
    """The bot's own claim comments: a claim anyone else posts holds nothing."""
    return [c for c in comments if markers.read(c, CLAIM, bot) is not None]


def _live_claims(comments: list[dict], now: datetime, bot: BotIdentity | None) -> list[dict]:
    return [c for c in claims(comments, bot) if _live(c, now)]


def _holder(comments: list[dict], now: datetime, bot: BotIdentity | None) -> dict | None:
    return min(_live_claims(comments, now, bot), key=lambda c: c["id"], default=None)


def claim_run(comment: dict) -> str:
    # The run named in a claim (a delivery id, or the Action's run id).
    return unquote((markers.find(comment.get("body"), CLAIM) or {}).get("run", ""))


def _live(comment: dict, now: datetime) -> bool:
    return live(comment, now, CLAIM_LEASE)
