"""Job 1: an incident label on an issue opens exactly one postmortem issue, linked both ways.

Exactly one, whatever happens (redeliveries, the label removed and re-added, two incident labels at
once, two workers on two deliveries at the same moment, a worker dying half-way), with all state
in GitHub:

1. Look: a link comment on the incident names its postmortem; failing that, the postmortem
   issues (listed by label, never searched: search lags) carry a marker naming their incident.
   Found → only repair what is missing (link comment, sub-issue, draft PR) and stop.
2. Claim: post a claim comment on the incident, then list the comments again. Of the live
   claims, the one with the lowest id wins (GitHub gives comment ids in creation order, so every
   worker that sees the same comments picks the same winner); the others delete theirs and stop.
   A claim older than CLAIM_LEASE with no postmortem behind it belongs to a dead worker and is
   removed; a retry of the same delivery takes its own claim up again.
3. The winner looks once more (someone may have finished between 1 and 2), opens the issue, and
   turns its claim comment into the link comment.
4. Reconcile: should two postmortems exist all the same (claims deleted by hand, a lagging read),
   the lowest number is the postmortem and the others are closed as its duplicates. Every later
   delivery converges on the same survivor, because the rule has no state of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from app.github import markers
from app.github.client import GitHubClient, GitHubError, NotFound, TransientGitHubError
from app.github.context import DOCS_URL, JobContext
from app.github.leases import github_now, live
from app.github.markers import BotIdentity
from app.github.repo_config import problems_markdown
from app.github.router import Router
from app.jobs.open_postmortem.draft_pr import ensure_draft_pr
from app.jobs.open_postmortem.plan import (
    POSTMORTEM_FOR,
    PostmortemPlan,
    plan_postmortem,
    postmortem_kind,
    postmortem_labels,
)
from checks.config import Config, ConfigError

log = logging.getLogger(__name__)
router = Router()

CLAIM_LEASE = timedelta(minutes=10)
CLAIM_RECHECK = 30.0  # seconds before a delivery that met another's claim looks again
POSTMORTEM_LABEL_COLOR = "5319e7"
POSTMORTEM_LABEL_DESCRIPTION = "A blameless postmortem for an incident"

# Markers (see app/github/markers.py).
POSTMORTEM_LINK = "postmortem-link"  # in the incident comment: postmortem
POSTMORTEM_CLAIM = "postmortem-claim"  # the same comment while the issue is being opened
CONFIG_PROBLEM = "config-problem"  # the comment that shows a broken config on an incident

# User-facing text.
CLAIM_TEXT = "Opening a postmortem issue for this {kind_word}…"
LINK_TEXT = (
    "The postmortem for this {kind_word} is tracked in #{postmortem} (due {due}).\n\n"
    "It may help to note there what in the system allowed this, rather than who. "
    "[How blameless postmortems work]({docs}#writing-a-postmortem)"
)
DUPLICATE_TEXT = "Duplicate of #{winner}: this {kind_word} already had a postmortem."
CONFIG_PROBLEM_TEXT = (
    "No postmortem was opened for this issue, because the postmortem bot's configuration "
    "seems to have a problem:\n\n{problems}\n\nOnce it is fixed, removing and adding the label "
    "again should open the postmortem. [Configuration reference]({docs}#configuration)"
)


# --- the handler ------------------------------------------------------------------------------


@router.register("issues.labeled")
def on_issue_labeled(ctx: JobContext) -> None:
    issue = ctx.payload.get("issue") or {}
    kind = postmortem_kind(ctx.payload, ctx.config, ctx.github.bot)
    if kind is None:
        return
    if ctx.config_error is not None:
        report_config_problem(ctx, issue["number"], ctx.config_error)
        return
    template = repository_template(ctx.github, ctx.config)
    plan = plan_postmortem(ctx.payload, ctx.config, kind, ctx.now().date(), template)
    if ctx.dry_run:
        log.info("dry run: would open a postmortem", extra={"title": plan.title})
        return
    ensure_postmortem(ctx, plan)


def repository_template(github: GitHubClient, config: Config) -> str | None:
    """The repository's own template (config `incidents.template`), read from the default branch."""
    path = config["incidents"]["template"]
    if not path:
        return None
    text = github.get_file(path)
    if text is None:
        log.warning("template not found, using the built-in one", extra={"path": path})
    return text


# --- finding what exists ----------------------------------------------------------------------


def find_postmortem(github: GitHubClient, incident_number: int, config: Config) -> dict | None:
    """The incident's postmortem issue, by its link comment or else by the issues' markers."""
    return _find_postmortem(github, incident_number, config, github.list_comments(incident_number))


def _find_postmortem(
    github: GitHubClient, incident_number: int, config: Config, comments: list[dict]
) -> dict | None:
    linked = _linked_number(comments, github.bot)
    if linked is not None:
        try:
            return github.get_issue(linked)
        except NotFound:
            pass  # the linked issue was deleted: fall back to the markers
    candidates = postmortems_for(github, incident_number, config)
    return candidates[0] if candidates else None


def postmortems_for(github: GitHubClient, incident_number: int, config: Config) -> list[dict]:
    """Every issue whose marker names this incident, lowest number (the survivor) first."""
    label = postmortem_labels(config)[0]
    found = [
        issue
        for issue in github.list_issues(labels=label, state="all")
        if markers.holds(issue, POSTMORTEM_FOR, github.bot, repo=github.full_name, issue=incident_number)
    ]
    return sorted(found, key=lambda issue: issue["number"])


def _linked_number(comments: list[dict], bot: BotIdentity | None) -> int | None:
    for comment in comments:
        fields = markers.read(comment, POSTMORTEM_LINK, bot)
        if fields and fields.get("postmortem", "").isdigit():
            return int(fields["postmortem"])
    return None


# --- exactly once -----------------------------------------------------------------------------


class PostmortemBusy(TransientGitHubError):
    """Another delivery holds the claim on this incident: look again shortly.

    Not a silent success: in the App the repository lock means the holder is not running now
    (it is waiting to retry, or it died), so this delivery must come back until the postmortem
    exists or the holder's claim goes stale and this one takes over.
    """

    def __init__(self, incident: int):
        super().__init__(
            None, f"incident #{incident} is claimed by another delivery", retry_after=CLAIM_RECHECK
        )


def ensure_postmortem(ctx: JobContext, plan: PostmortemPlan) -> dict:
    """The incident's one postmortem issue: found, or opened by the worker that wins the claim.

    Raises PostmortemBusy (transient: the worker retries) while another delivery holds the claim.
    """
    github, number = ctx.github, plan.incident_number
    comments = github.list_comments(number)
    existing = _find_postmortem(github, number, ctx.config, comments)
    if existing is not None:
        return finish(ctx, plan, existing, comments=comments)
    claim, comments = take_claim(ctx, plan, comments)
    if claim is None:
        raise PostmortemBusy(number)
    existing = _find_postmortem(github, number, ctx.config, comments)
    if existing is not None:  # finished by another worker between our first look and our claim
        return finish(ctx, plan, existing, claim=claim, comments=comments)
    created = create_postmortem(github, plan)
    survivor = reconcile(github, plan, ctx.config) or created
    return finish(ctx, plan, survivor, claim=claim)


def take_claim(ctx: JobContext, plan: PostmortemPlan, comments: list[dict]) -> tuple[dict | None, list[dict]]:
    """Our claim comment if we won it (else None), and the incident's comments as read after
    claiming, for the caller's second look. See the module docstring for the rules."""
    github, number, delivery = ctx.github, plan.incident_number, ctx.event.delivery_id
    now = github_now(github, ctx.now())  # GitHub's clock, as of the listing of `comments`
    claims = _claims(comments, github.bot)
    live = [c for c in claims if not _stale(c, now)]
    mine = next((c for c in live if _claim_delivery(c) == delivery), None)
    if mine is None and live:
        return None, comments  # another worker is on it; if it dies, its claim goes stale
    for stale in (c for c in claims if _stale(c, now)):
        github.delete_comment(stale["id"])
    claim = mine or github.create_comment(number, _claim_body(plan, delivery))
    after = github.list_comments(number)
    now = github_now(github, now)
    contenders = [c for c in _claims(after, github.bot) if not _stale(c, now)]
    winner = min(contenders, key=lambda c: c["id"], default=claim)
    if winner["id"] != claim["id"]:
        github.delete_comment(claim["id"])
        return None, after
    return claim, after


def _claims(comments: list[dict], bot: BotIdentity | None) -> list[dict]:
    """The bot's own claim comments: a claim anyone else posts blocks nothing."""
    return [c for c in comments if markers.read(c, POSTMORTEM_CLAIM, bot) is not None]


def _claim_body(plan: PostmortemPlan, delivery: str) -> str:
    marker = markers.render(POSTMORTEM_CLAIM, delivery=delivery)
    return f"{marker}\n{CLAIM_TEXT.format(kind_word=plan.kind_word)}"


def _claim_delivery(comment: dict) -> str | None:
    return (markers.find(comment.get("body"), POSTMORTEM_CLAIM) or {}).get("delivery")


def _stale(comment: dict, now: datetime) -> bool:
    return not live(comment, now, CLAIM_LEASE)


def create_postmortem(github: GitHubClient, plan: PostmortemPlan) -> dict:
    for label in plan.labels:
        github.ensure_label(label, POSTMORTEM_LABEL_COLOR, POSTMORTEM_LABEL_DESCRIPTION)
    issue = github.create_issue(plan.title, plan.body, labels=plan.labels)
    log.info("postmortem opened", extra={"incident": plan.incident_number, "issue": issue["number"]})
    return issue


def reconcile(github: GitHubClient, plan: PostmortemPlan, config: Config) -> dict | None:
    """Keep the lowest-numbered postmortem of the incident; close the others as its duplicates."""
    found = postmortems_for(github, plan.incident_number, config)
    if not found:
        return None
    survivor, extras = found[0], found[1:]
    for extra in extras:
        if extra["state"] == "open":
            text = DUPLICATE_TEXT.format(winner=survivor["number"], kind_word=plan.kind_word)
            github.create_comment(extra["number"], text)
            github.update_issue(extra["number"], state="closed", state_reason="not_planned")
    return survivor


# --- links and repairs (idempotent) -----------------------------------------------------------


def finish(
    ctx: JobContext,
    plan: PostmortemPlan,
    postmortem: dict,
    *,
    claim: dict | None = None,
    comments: Sequence[dict] = (),
) -> dict:
    """Make sure every link exists: the link comment, the sub-issue, the optional draft PR.

    Once the postmortem exists every claim comment is obsolete: ours becomes the link comment
    (unless there is one already), any other is removed, so no "opening…" note is left behind.
    """
    github = ctx.github
    ensure_link_comment(github, plan, postmortem, claim, comments)
    for comment in _claims(comments, github.bot):
        if comment["id"] != (claim or {}).get("id"):
            github.delete_comment(comment["id"])
    link_sub_issue(github, plan.incident_number, postmortem)
    if ctx.config["incidents"]["draft_pr"]:
        ensure_draft_pr(ctx, plan, postmortem)
    return postmortem


def ensure_link_comment(
    github: GitHubClient,
    plan: PostmortemPlan,
    postmortem: dict,
    claim: dict | None,
    comments: Sequence[dict],
) -> None:
    marker, body = _link_marker(postmortem), _link_body(plan, postmortem, github.bot)
    link = next((c for c in markers.own(comments, github.bot) if marker in (c.get("body") or "")), None)
    if link is None and claim is not None:
        try:
            github.update_comment(claim["id"], body)
            return
        except NotFound:
            pass  # another worker cleared our claim meanwhile: write the link afresh
    elif claim is not None:
        github.delete_comment(claim["id"])
    if link is not None and link.get("body") == body:
        return  # nothing changed: no write, no notification
    github.upsert_comment(plan.incident_number, marker, body)


def _link_marker(postmortem: dict) -> str:
    return markers.render(POSTMORTEM_LINK, postmortem=postmortem["number"])


def _link_body(plan: PostmortemPlan, postmortem: dict, bot: BotIdentity | None) -> str:
    due = (markers.read(postmortem, POSTMORTEM_FOR, bot) or {}).get("due", plan.due)
    text = LINK_TEXT.format(kind_word=plan.kind_word, postmortem=postmortem["number"], due=due, docs=DOCS_URL)
    return f"{_link_marker(postmortem)}\n{text}"


def link_sub_issue(github: GitHubClient, incident_number: int, postmortem: dict) -> None:
    """The postmortem as a sub-issue of the incident, where the server has sub-issues.

    Best effort: the markers and the link comment already tie the two together, so a refusal
    (GHES without the endpoint, 100 children, another parent) is logged, not fatal.
    """
    try:
        linked = github.add_sub_issue(incident_number, postmortem["id"])
    except TransientGitHubError:
        raise  # the worker retries the job; everything before this point is idempotent
    except GitHubError as exc:
        log.warning("sub-issue link refused", extra={"status": exc.status, "error": exc.message})
        return
    if not linked:
        log.info("no sub-issues on this server; markers link the issues")


# --- a broken config --------------------------------------------------------------------------


def report_config_problem(ctx: JobContext, incident_number: int, error: ConfigError) -> None:
    """One comment on the incident (updated, not repeated) naming file, line and key."""
    marker = markers.render(CONFIG_PROBLEM)
    text = CONFIG_PROBLEM_TEXT.format(problems=problems_markdown(error), docs=DOCS_URL)
    if ctx.dry_run:
        log.info("dry run: would report a config problem", extra={"issue": incident_number})
        return
    ctx.github.upsert_comment(incident_number, marker, f"{marker}\n{text}")
