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
   the worker, or `with_retries` in the Action, tries again once the winner is done. A claim not
   renewed for CLAIM_LEASE belongs to a dead run; a retry of the same run takes its own up again.
3. Create what is still missing (labels first, no assignees: one unassignable login would make
   GitHub refuse the whole issue), then list again and keep the lowest number per key, closing
   any other as its duplicate, before anyone is assigned: owners are never notified twice.
4. Converge every issue on its item: title, body, labels, assignee, sub-issue link. Each step
   compares with what GitHub holds first, so a re-run after any failure finishes the rest.

Status flows back: one PR comment (the claim becomes it) and a section per document in the
postmortem issue's body list every item with its issue and live state. `issues.closed` and
`issues.reopened` on an action-item issue re-render both; a daily sweep labels open past-due
items `overdue` once, without comments.

Writes are paced (WRITE_INTERVAL between content-creating requests, as GitHub asks). A secondary
rate limit or a 5xx surfaces as TransientGitHubError: the App's worker retries the whole job,
which resumes where it stopped. The Action calls the same plain functions (see `with_retries`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote, unquote

from app import markers
from app.context import DOCS_URL, JobContext, quiet_mentions, utc_now
from app.draft_pr import DRAFT_PR
from app.github_client import GitHubClient, GitHubError, NotFound, TransientGitHubError
from app.postmortem_issue import find_postmortem
from app.router import Router
from checks.config import Config, selects
from checks.document import ActionItem, Document
from checks.engine import Result, check_text
from checks.findings import Level

log = logging.getLogger(__name__)
router = Router()
T = TypeVar("T")

# Markers (see app/markers.py).
ACTION_ITEM = "action-item"  # issue body: repo, doc, id (the key); pr, sha, postmortem, owner, due
STATUS = "action-items-status"  # the PR comment: pr, sha
CLAIM = "action-items-claim"  # the PR comment while issues are being opened: run, sha, at
SECTION_BEGIN = "action-items-begin"  # postmortem body, one section per document: doc, pr, sha
SECTION_END = "action-items-end"  # doc
REMOVED = "action-item-removed"  # the one comment on the issue of an item that left the document
DONE = "action-items-done"  # the postmortem comment once every item is closed
DUPLICATE = "action-item-duplicate"  # the comment on an issue closed as a duplicate

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
CLAIM_LEASE = timedelta(minutes=15)
WRITE_INTERVAL = 1.0  # seconds between content-creating requests (GitHub's best practices)
BUSY_RETRY = 30.0  # seconds before a run that lost the claim to another SHA tries again
STATUS_TEXT_MAX = 80
TITLE_MAX = 256
_SHORT_SHA = 7
_ISSUE_REF = re.compile(
    r"^\s*(?:(?:https?://[^/\s]+/)(?P<url_repo>[^/\s]+/[^/\s]+)/issues/(?P<url_n>\d+)"
    r"|(?:(?P<repo>[\w.-]+/[\w.-]+))?#?(?P<n>\d+))\s*$"
)
_ITEM_MARKER = re.compile(r"<!--\s*blameless-bot:action-item(?:\s+[a-z_]+=\S*?)*\s*-->")

# User-facing text.
TYPE_WORDS = {
    "guardrail": "guardrail",
    "constraint": "constraint",
    "decision-policy": "decision-policy change",
}
DONE_MEANS = {
    "guardrail": (
        "the system blocks or catches this failure on its own, with no step that depends on "
        "someone's memory, and the guardrail has been seen to work once (in a test, a drill or "
        "a real event)."
    ),
    "constraint": (
        "the limit is enforced by the system (code, configuration or policy as code) rather "
        "than by agreement, and a change that would break it is refused."
    ),
    "decision-policy": (
        "the new rule for who decides what, and when, is written where that decision is made "
        "(runbook, on-call policy, review template), and the people who make it can find it."
    ),
}
ISSUE_BODY = """{marker}
A **{type_word}** from a blameless postmortem: a change to the system, so that this kind of \
incident is less likely or less harmful next time.

> {text}

| | |
|---|---|
| **Owner** | {owner} |
| **Due** | {due} |
| **Addresses** | {factor} |
| **Postmortem** | {postmortem} |
| **Incident** | {incident} |
| **Document** | [`{path}`]({url}) at `{short_sha}` (item `{item_id}`, from #{pr}) |

**Done means** {done}
{owner_note}
Edits to this item in the document (text, owner, due date) update this issue. \
[How action items become issues]({docs}#from-action-items-to-issues)
"""
OWNER_USER = "@{login}"
OWNER_FOR_TEAM = "@{login} (for the `{team}` team)"
OWNER_TEAM_ONLY = "the `{team}` team (no one assigned)"
NOT_ASSIGNABLE_NOTE = (
    "\nGitHub did not accept @{login} as an assignee in this repository (the account may not "
    "have access yet), so this issue has no assignee for now. Adding them to the repository, "
    "or naming another owner in the document, should fix that.\n"
)
TEAM_UNASSIGNED_NOTE = (
    "\nThe owner is the `{team}` team. No responsible user is set for it in "
    "`action_items.team_owners`, so this issue is unassigned; one person from the team with the "
    "authority to ship it could take it.\n"
)
NOT_STATED = "not stated in the document"
NO_POSTMORTEM = "no postmortem issue found"
NONE = "—"

CLAIM_TEXT = "Opening issues for the action items of this pull request…"
STATUS_TITLE = "### Action items"
STATUS_INTRO = (
    "Each action item of the postmortem in this pull request, with its issue and live state. "
    "This comment is kept up to date."
)
DOC_HEADING = "From [`{path}`]({url}) at `{short_sha}`{postmortem}:"
DOC_POSTMORTEM = " (postmortem #{number})"
NO_POSTMORTEM_NOTE = (
    "No postmortem issue was found for this document, so its issues are not sub-issues of one. "
    "Adding `postmortem: <issue number>` to the document's front matter should link them."
)
NO_ITEMS = "No action items were found in this document."
TABLE_HEAD = "| Item | Issue | Owner | Due | State |\n|---|---|---|---|---|"
BLOCKED_TITLE = "#### Not turned into issues"
BLOCKED_INTRO = (
    "The checks report errors on these items, so they have no issue yet (an issue that already "
    "exists is left as it was). Fixing them and {again} should open or update their issues."
)
AGAIN = {"approval": "approving again", "merge": "merging the fix"}
BLOCKED_LINE = "- {label}: {reasons}"
DUPLICATE_ID = "it has the same id (`{id}`) as an earlier item, so it would share that issue"
STATUS_FOOTER = "[How action items become issues]({docs}#from-action-items-to-issues)"
SECTION_TITLE = "### Action items from [`{path}`]({url})"
ALL_CLOSED = "All {count} action items are closed."
SOME_CLOSED = "Closed: {closed} of {count} action items."
STATE_OPEN = "open"
STATE_CLOSED = "closed"
STATE_NOT_PLANNED = "closed as not planned"
STATE_OVERDUE = "overdue"
STATE_NOT_OPENED = "not opened (the checks report errors)"
STATE_NOT_UPDATED = "not updated (the checks report errors)"
STATE_REMOVED = "no longer in the document"
STATE_NAMED = "named in the document"
STATE_PENDING = "not opened yet"
OWNER_NOT_ASSIGNED = "not assigned"
OWNER_TEAM = "`{team}` team"
REMOVED_TEXT = (
    "{marker}\nThis action item is no longer in `{path}` as of `{short_sha}` (#{pr}). If the "
    "work is no longer planned, closing this issue as not planned keeps the postmortem's list "
    "accurate; if it is still worth doing, it can stay open. "
    "[How action items become issues]({docs}#from-action-items-to-issues)"
)
DUPLICATE_TEXT = (
    "{marker}\nClosing as a duplicate of #{winner}, which tracks the same action item (`{item_id}` in "
    "`{path}`): two runs opened it at the same moment."
)
DONE_TEXT = (
    "{marker}\nEvery action item of this postmortem is now closed{closing}. "
    "[How action items become issues]({docs}#from-action-items-to-issues)"
)
DONE_CLOSING = ", so the postmortem is closed too (`action_items.close_postmortem_when_done`)"


class ActionItemsBusy(TransientGitHubError):
    """Another run is opening this PR's issues for another SHA: try again once it is done."""

    def __init__(self, holder_sha: str):
        super().__init__(None, f"another run holds the claim for {holder_sha}", retry_after=BUSY_RETRY)


# --- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """Who the issue goes to: a user, or a team's responsible user (None when there is none)."""

    login: str | None
    team: str | None = None


@dataclass
class Planned:
    """One action item of a document, and whether (and to whom) it becomes an issue."""

    item: ActionItem
    problems: list[str]  # why it gets no issue; empty when it gets one
    owner: Owner | None
    factor: str | None  # the text of the contributing factor it addresses

    @property
    def creatable(self) -> bool:
        return not self.problems and self.owner is not None

    @property
    def label(self) -> str:
        text = _cell(_cut(self.item.text, STATUS_TEXT_MAX))
        return f"**{_cell(self.item.id)}** {text}" if self.item.explicit_id else text


@dataclass
class DocPlan:
    """A postmortem document of the PR at one SHA, its issues' context, and its items."""

    path: str
    aliases: tuple[str, ...]  # the path before a rename in this PR
    sha: str
    pr: int
    url: str  # the document at the SHA
    postmortem: int | None
    incident: int | None
    items: list[Planned] = field(default_factory=list)

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path, *self.aliases)


@dataclass(frozen=True)
class ItemMarker:
    """The fields of an issue's action-item marker, decoded."""

    repo: str
    doc: str
    id: str
    pr: int | None
    sha: str | None
    postmortem: int | None
    owner: str | None
    due: date | None
    removed: bool


@dataclass
class SyncResult:
    """What a run did: the documents planned, the issues created and updated."""

    documents: list[DocPlan] = field(default_factory=list)
    created: list[dict] = field(default_factory=list)  # the issues as GitHub returned them
    updated: list[int] = field(default_factory=list)  # numbers whose title or body changed
    deferred: bool = False  # another run with the same SHA holds the claim and does the work


class Pacer:
    """At least `interval` seconds between content-creating requests.

    GitHub asks for a second between writes, and secondary limits allow about 80 a minute and
    500 an hour: a 40-item postmortem is ~130 writes, about two minutes at this pace.
    """

    def __init__(
        self,
        interval: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.interval = WRITE_INTERVAL if interval is None else interval
        self.sleep, self.clock = sleep, clock
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self._last = self.clock()


@dataclass
class Run:
    """What every step of one run shares."""

    github: GitHubClient
    config: Config
    today: date
    pacer: Pacer
    _assignable: dict[str, bool] = field(default_factory=dict)

    def assignable(self, login: str) -> bool:
        key = login.lower()
        if key not in self._assignable:
            self._assignable[key] = self.github.is_assignable(login)
        return self._assignable[key]

    def write(self) -> None:
        self.pacer.wait()


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


@router.register("issues.closed", "issues.reopened")
def on_issue_state(ctx: JobContext) -> None:
    issue = ctx.payload.get("issue") or {}
    if ctx.config_error is not None or ctx.is_own(ctx.event.sender) or ctx.dry_run:
        return
    if item_marker(issue, ctx.github.full_name) is None:
        return
    closing = ctx.event.action == "closed"
    refresh_for_issue(
        ctx.github, ctx.config, issue, today=ctx.now().date(), closing=closing
    )


@router.register("schedule.daily")
def on_daily_sweep(ctx: JobContext) -> None:
    if ctx.config_error is not None or ctx.dry_run:
        return
    sweep_overdue(ctx.github, ctx.config, ctx.now().date())


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


# --- planning: documents, items, owners, postmortems --------------------------------------------


def plan_documents(
    github: GitHubClient, config: Config, pull: dict, sha: str, repo_url: str | None = None
) -> list[DocPlan]:
    """The PR's postmortem documents at `sha`, checked, each item planned."""
    files = [
        f
        for f in github.list_pull_files(pull["number"])
        if f.get("status") != "removed" and selects(config, f["filename"])
    ]
    if not files:
        return []
    base_url = repo_url or _repo_url(github, pull)
    resolver = PostmortemResolver(github, config, pull)
    plans = []
    for entry in files:
        text = github.get_file(entry["filename"], ref=sha)
        if text is not None:
            plans.append(plan_document(text, entry, sha, pull["number"], base_url, config, resolver))
    return plans


def plan_document(
    text: str,
    entry: dict,
    sha: str,
    pr: int,
    repo_url: str,
    config: Config,
    resolver: PostmortemResolver,
) -> DocPlan:
    path = entry["filename"]
    result = check_text(text, path, config)
    postmortem, incident = resolver.resolve(result.document.metadata)
    previous = entry.get("previous_filename")
    return DocPlan(
        path=path,
        aliases=(previous,) if previous and previous != path else (),
        sha=sha,
        pr=pr,
        url=f"{repo_url.rstrip('/')}/blob/{sha}/{quote(path)}",
        postmortem=postmortem,
        incident=incident,
        items=plan_items(result, config),
    )


def plan_items(result: Result, config: Config) -> list[Planned]:
    """Every item, with the error-level action-item findings that keep it from an issue."""
    doc = result.document
    blocking = [
        f for f in result.findings if f.family == "action-items" and f.level >= Level.ERROR
    ]
    planned, seen = [], set()
    for item in doc.action_items:
        if is_placeholder(doc, item):
            continue  # an unfilled template row is not an action item
        first, last = _lines(doc, item)
        problems = [f"`{f.rule}`: {f.message}" for f in blocking if first <= f.line <= last]
        if item.id in seen:
            problems.append(DUPLICATE_ID.format(id=item.id))
        seen.add(item.id)
        owner = None if problems else resolve_owner(item, config)
        planned.append(Planned(item, problems, owner, factor_text(doc, item.addresses)))
    return planned


def _lines(doc: Document, item: ActionItem) -> tuple[int, int]:
    first = doc.position(item.span.start)[0]
    return first, doc.position(max(item.span.start, item.span.end - 1))[0]


def is_placeholder(doc: Document, item: ActionItem) -> bool:
    """A template row still holding a placeholder in its action, owner or due field."""
    spans = [s for s in (item.text_span, item.owner_span, item.due_span) if s is not None]
    return any(p.start < s.end and s.start < p.end for p in doc.placeholders for s in spans)


def resolve_owner(item: ActionItem, config: Config) -> Owner | None:
    """The single owner as a login; a team through `action_items.team_owners` (or nobody)."""
    if len(item.owners) != 1:
        return None
    login = item.owners[0].lstrip("@")
    if "/" not in login:
        return Owner(login)
    mapping = {k.lstrip("@").lower(): v for k, v in config["action_items"]["team_owners"].items()}
    responsible = mapping.get(login.lower())
    return Owner(responsible.lstrip("@") if responsible else None, team=login)


def factor_text(doc: Document, addresses: str | None) -> str | None:
    """The contributing factor an item addresses, in the document's words."""
    if not addresses:
        return None
    wanted = re.sub(r"[\s-]", "", addresses).lower()
    for factor in doc.factors:
        if factor.id and re.sub(r"[\s-]", "", factor.id).lower() == wanted:
            return factor.text
    return addresses


class PostmortemResolver:
    """Which postmortem (and incident) issue a document belongs to, in this order:

    `postmortem:` in the front matter; the draft-PR marker job 1 put in the PR body; the
    postmortem job 1 opened for the front matter's `incident:` (found by its markers).
    """

    def __init__(self, github: GitHubClient, config: Config, pull: dict):
        self.github, self.config = github, config
        self.draft = markers.find(pull.get("body"), DRAFT_PR) or {}
        self._found: dict[int, int | None] = {}

    def resolve(self, metadata: dict) -> tuple[int | None, int | None]:
        full_name = self.github.full_name
        incident = issue_number(metadata.get("incident"), full_name)
        explicit = issue_number(metadata.get("postmortem"), full_name)
        if explicit is not None:
            return explicit, incident
        drafted = issue_number(self.draft.get("postmortem"), full_name)
        if drafted is not None:
            return drafted, incident or issue_number(self.draft.get("incident"), full_name)
        if incident is None:
            return None, None
        return self._for_incident(incident), incident

    def _for_incident(self, incident: int) -> int | None:
        if incident not in self._found:
            try:
                issue = find_postmortem(self.github, incident, self.config)
            except NotFound:
                issue = None
            self._found[incident] = issue["number"] if issue else None
        return self._found[incident]


def issue_number(value, full_name: str) -> int | None:
    """12, "#12", "o/r#12" or an issue URL, in this repository; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    match = _ISSUE_REF.match(str(value))
    if not match:
        return None
    repo = match.group("url_repo") or match.group("repo")
    if repo and repo.lower() != full_name.lower():
        return None
    return int(match.group("url_n") or match.group("n"))


def _repo_url(github: GitHubClient, pull: dict) -> str:
    base_repo = (pull.get("base") or {}).get("repo") or {}
    return base_repo.get("html_url") or github.get_repository()["html_url"]


# --- markers and the index of existing issues ---------------------------------------------------


def item_marker(issue: dict, repo: str) -> ItemMarker | None:
    """The action-item marker of `issue`, when it belongs to `repo`."""
    fields = markers.find(issue.get("body"), ACTION_ITEM)
    if not fields or fields.get("repo", "").lower() != repo.lower():
        return None
    if not fields.get("doc") or not fields.get("id"):
        return None
    return ItemMarker(
        repo=fields["repo"],
        doc=unquote(fields["doc"]),
        id=unquote(fields["id"]),
        pr=_int(fields.get("pr")),
        sha=fields.get("sha") or None,
        postmortem=_int(fields.get("postmortem")),
        owner=fields.get("owner") or None,
        due=_date(fields.get("due")),
        removed=bool(fields.get("removed")),
    )


def render_item_marker(
    repo: str,
    doc: DocPlan,
    planned: Planned,
    *,
    sha: str,
    pr: int,
) -> str:
    item, owner = planned.item, planned.owner
    extra = {
        "postmortem": doc.postmortem,
        "owner": owner.login if owner else None,
        "due": item.due.isoformat() if item.due else None,
    }
    return markers.render(
        ACTION_ITEM,
        repo=repo,
        doc=quote(doc.path),
        id=quote(item.id, safe=""),
        pr=pr,
        sha=sha,
        **{k: v for k, v in extra.items() if v is not None},
    )


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class Index:
    """Every action-item issue of the repository by key (doc, id), lowest number first."""

    def __init__(self, repo: str, issues: Iterable[dict], children: dict[int, set[int]]):
        self.repo = repo
        self.children = children  # postmortem number -> ids of its sub-issues
        self.by_key: dict[tuple[str, str], list[dict]] = {}
        seen: set[int] = set()
        for issue in sorted(issues, key=lambda i: i["number"]):
            found = item_marker(issue, repo)
            if found is None or issue["number"] in seen:
                continue
            seen.add(issue["number"])
            self.by_key.setdefault((found.doc, found.id), []).append(issue)

    def find(self, doc: DocPlan, item_id: str) -> dict | None:
        """The issue of an item: the lowest number holding its key (the survivor)."""
        for path in doc.paths:
            issues = self.by_key.get((path, item_id))
            if issues:
                return issues[0]
        return None

    def for_doc(self, doc: DocPlan) -> list[dict]:
        return [
            issues[0]
            for (path, _), issues in self.by_key.items()
            if path in doc.paths and issues
        ]

    def duplicates(self, docs: list[DocPlan]) -> list[tuple[dict, dict]]:
        """(survivor, duplicate) pairs among the documents' keys."""
        paths = {path for doc in docs for path in doc.paths}
        return [
            (issues[0], extra)
            for (path, _), issues in self.by_key.items()
            if path in paths
            for extra in issues[1:]
        ]


def tracking_labels(config: Config) -> list[str]:
    """The configured labels (the first one is how the bot lists its issues again)."""
    return list(config["action_items"]["labels"]) or [DEFAULT_LABEL]


def load_index(github: GitHubClient, config: Config, postmortems: Iterable[int]) -> Index:
    """Issues by the tracking label, plus the postmortems' sub-issues: never by search."""
    issues = github.list_issues(labels=tracking_labels(config)[0], state="all")
    children: dict[int, set[int]] = {}
    for number in sorted(set(postmortems)):
        subs = sub_issues(github, number)
        if subs is not None:
            children[number] = {child["id"] for child in subs}
            issues += subs
    return Index(github.full_name, issues, children)


def sub_issues(github: GitHubClient, parent: int) -> list[dict] | None:
    """The parent's sub-issues; None when the server has none (GHES) or the parent is gone."""
    try:
        return github.list_sub_issues(parent)
    except NotFound:
        return None


def _postmortems(plans: list[DocPlan]) -> set[int]:
    return {doc.postmortem for doc in plans if doc.postmortem is not None}


# --- the job -------------------------------------------------------------------------------------


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
    run = Run(github, config, now.date(), pacer or Pacer())
    plans = plan_documents(github, config, pull, sha, repo_url)
    result = SyncResult(plans)
    if not plans:
        return result
    index = load_index(github, config, _postmortems(plans))
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
    except LostClaim:
        # Taken over mid-way: the taker finishes. An issue we opened in the instant between
        # our last check and the takeover is a duplicate; the lowest number stays.
        release(run, claim)
        reconcile(run, plans, load_index(github, config, _postmortems(plans)))
        result.deferred = True
    except Exception:
        release(run, claim)
        raise
    return result


class LostClaim(Exception):
    """Another attempt took the claim over while this one was creating: it finishes the job."""


def _create_under_claim(
    run: Run, number: int, plans: list[DocPlan], claim: dict, now: datetime, result: SyncResult
) -> Index:
    def guard() -> None:
        if not holding(run, number, claim, now):
            raise LostClaim

    index = load_index(run.github, run.config, _postmortems(plans))
    result.created = create_missing(run, plans, index, guard)
    if result.created:  # list again: a run racing us past the claim shows up here
        index = load_index(run.github, run.config, _postmortems(plans))
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
        found = item_marker(extra, run.github.full_name)
        marker = markers.render(DUPLICATE)
        text = DUPLICATE_TEXT.format(
            marker=marker, winner=survivor["number"], item_id=found.id, path=found.doc
        )
        run.write()
        run.github.upsert_comment(extra["number"], marker, text)  # once, even on a retry
        run.write()
        extra.update(
            run.github.update_issue(extra["number"], state="closed", state_reason="not_planned")
        )
    return index


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


# --- converging each issue on its item ---------------------------------------------------------


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
            before = item_marker(issue, run.github.full_name)
            update_assignee(run, planned, issue, before.owner if before else None)
            update_labels(run, planned, issue)
            if update_text(run, doc, planned, issue, before):
                updated.append(issue["number"])
            link_to_postmortem(run, doc, issue, index)
    return updated


def update_text(
    run: Run, doc: DocPlan, planned: Planned, issue: dict, before: ItemMarker | None
) -> bool:
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
            found = item_marker(issue, run.github.full_name)
            if found.id in present or found.removed:
                continue
            if issue["state"] == "open":
                marker = markers.render(REMOVED)
                text = REMOVED_TEXT.format(
                    marker=marker,
                    path=doc.path,
                    short_sha=doc.sha[:_SHORT_SHA],
                    pr=doc.pr,
                    docs=DOCS_URL,
                )
                run.write()
                run.github.upsert_comment(issue["number"], marker, text)
            body = _with_removed_flag(issue.get("body") or "", doc.sha)
            run.write()
            issue.update(run.github.update_issue(issue["number"], body=body))


def _with_removed_flag(body: str, sha: str) -> str:
    match = _ITEM_MARKER.search(body)
    if match is None:
        return body
    return body[: match.end() - 3].rstrip() + f" removed={sha} -->" + body[match.end() :]


# --- the issue's text ----------------------------------------------------------------------------


def render_issue(run: Run, doc: DocPlan, planned: Planned, *, sha: str, pr: int) -> tuple[str, str]:
    """Title and body of an item's issue, as it would be written from the document at `sha`."""
    item, owner = planned.item, planned.owner
    marker = render_item_marker(run.github.full_name, doc, planned, sha=sha, pr=pr)
    body = ISSUE_BODY.format(
        marker=marker,
        type_word=TYPE_WORDS.get(item.type or "", item.type or ""),
        text=quiet_mentions(_one_line(item.text)),
        owner=owner_text(owner),
        due=item.due.isoformat() if item.due else NONE,
        factor=_cell(quiet_mentions(planned.factor)) if planned.factor else NOT_STATED,
        postmortem=f"#{doc.postmortem}" if doc.postmortem else NO_POSTMORTEM,
        incident=f"#{doc.incident}" if doc.incident else NONE,
        path=doc.path,
        url=doc.url if sha == doc.sha else doc.url.replace(doc.sha, sha, 1),
        short_sha=sha[:_SHORT_SHA],
        item_id=item.id,
        pr=pr,
        done=DONE_MEANS.get(item.type or "", DONE_MEANS["guardrail"]),
        owner_note=owner_note(run, owner),
        docs=DOCS_URL,
    )
    return issue_title(item.text), body


def issue_title(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def owner_text(owner: Owner | None) -> str:
    """The owner as the issue names them: only an item's owner is ever @mentioned."""
    if owner is None:
        return NONE
    if owner.team and owner.login:
        return OWNER_FOR_TEAM.format(login=owner.login, team=owner.team)
    if owner.team:
        return OWNER_TEAM_ONLY.format(team=owner.team)
    return OWNER_USER.format(login=owner.login)


def owner_note(run: Run, owner: Owner | None) -> str:
    if owner is None:
        return ""
    if owner.login is None:
        return TEAM_UNASSIGNED_NOTE.format(team=owner.team)
    if not run.assignable(owner.login):
        return NOT_ASSIGNABLE_NOTE.format(login=owner.login)
    return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return _one_line(text).replace("|", "\\|")


# --- the claim: one creator per pull request at a time ----------------------------------------


def take_claim(run: Run, number: int, sha: str, run_id: str, now: datetime) -> dict | None:
    """Our claim comment on the PR if we hold it; None if a live claim for the same SHA does
    (its run does this very work). Raises ActionItemsBusy if one for another SHA does.

    A claim of this same run is an earlier attempt (the worker retries only after an attempt
    has ended) and is replaced; should that attempt still be running after all (a redelivery
    processed twice at once), it notices before its next write (`holding`) and stops.
    """
    github = run.github
    comments = github.list_comments(number)
    for claim in _claims(comments):
        if not _live(claim, now) or _claim_run(claim) == run_id:
            github.delete_comment(claim["id"])  # a dead run's claim, or our earlier attempt
            comments.remove(claim)
    holder = _holder(comments, now)
    if holder is not None:
        return _stand_back(run, holder, None, sha)
    run.write()
    claim = github.create_comment(number, _claim_body(run_id, sha, now))
    holder = _holder(github.list_comments(number), now)
    if holder is not None and holder["id"] != claim["id"]:
        return _stand_back(run, holder, claim, sha)
    return claim


def holding(run: Run, number: int, claim: dict, now: datetime) -> bool:
    """Our claim still exists and is still the oldest live one."""
    holder = _holder(run.github.list_comments(number), now)
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


def _write_claim(run: Run, number: int, mine: dict, body: str) -> dict:
    """Turn our claim into `body` (the status comment), or post it if the claim is gone."""
    run.write()
    try:
        return run.github.update_comment(mine["id"], body)
    except NotFound:
        return run.github.create_comment(number, body)


def _claim_body(run_id: str, sha: str, now: datetime) -> str:
    at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    marker = markers.render(CLAIM, run=quote(run_id, safe=""), sha=sha, at=at)
    return f"{marker}\n{CLAIM_TEXT}"


def _claims(comments: list[dict]) -> list[dict]:
    return [c for c in comments if markers.find(c.get("body"), CLAIM) is not None]


def _live_claims(comments: list[dict], now: datetime) -> list[dict]:
    return [c for c in _claims(comments) if _live(c, now)]


def _holder(comments: list[dict], now: datetime) -> dict | None:
    return min(_live_claims(comments, now), key=lambda c: c["id"], default=None)


def _claim_run(comment: dict) -> str:
    # The run named in a claim (a delivery id, or the Action's run id).
    return unquote((markers.find(comment.get("body"), CLAIM) or {}).get("run", ""))


def _live(comment: dict, now: datetime) -> bool:
    """Renewed (or posted) within the lease. `at` is the claimant's clock; GitHub's timestamps
    are the fallback."""
    fields = markers.find(comment.get("body"), CLAIM) or {}
    stamp = fields.get("at") or comment.get("updated_at") or comment.get("created_at") or ""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    return now - moment <= CLAIM_LEASE


# --- status: the PR comment and the postmortem's sections -------------------------------------


def publish_status(
    run: Run,
    number: int,
    sha: str,
    plans: list[DocPlan],
    index: Index,
    *,
    claim: dict | None = None,
    run_id: str | None = None,
) -> None:
    """Each postmortem's sections, then the one PR comment: our claim becomes it, last, so
    that a failure before then leaves a claim to release, not a status comment."""
    for postmortem in sorted(_postmortems(plans)):
        docs = [doc for doc in plans if doc.postmortem == postmortem]
        write_postmortem_sections(run, postmortem, docs, index)
    body = render_pr_comment(run, number, sha, plans, index)
    write_status_comment(run, number, body, claim, run_id)


def write_status_comment(
    run: Run, number: int, body: str, claim: dict | None, run_id: str | None = None
) -> None:
    """Update the status comment in place (the oldest, should there be two), or turn our
    claim into it. Claims an earlier attempt of this run left behind go."""
    github = run.github
    comments = github.list_comments(number)
    for leftover in _claims(comments):
        if run_id and _claim_run(leftover) == run_id and leftover["id"] != (claim or {}).get("id"):
            github.delete_comment(leftover["id"])
    statuses = sorted(
        (c for c in comments if markers.find(c.get("body"), STATUS) is not None),
        key=lambda c: c["id"],
    )
    for extra in statuses[1:]:  # two runs that each made one: keep the oldest
        github.delete_comment(extra["id"])
    keep = statuses[0] if statuses else None
    if keep is None and claim is not None:
        _write_claim(run, number, claim, body)  # the claim becomes the status comment
        return
    if claim is not None:
        github.delete_comment(claim["id"])
    if keep is None:
        run.write()
        github.create_comment(number, body)
    elif keep.get("body") != body:
        run.write()
        github.update_comment(keep["id"], body)


def render_pr_comment(
    run: Run, number: int, sha: str, plans: list[DocPlan], index: Index
) -> str:
    parts = [markers.render(STATUS, pr=number, sha=sha), STATUS_TITLE, STATUS_INTRO]
    for doc in plans:
        postmortem = DOC_POSTMORTEM.format(number=doc.postmortem) if doc.postmortem else ""
        parts.append(
            DOC_HEADING.format(
                path=doc.path, url=doc.url, short_sha=doc.sha[:_SHORT_SHA], postmortem=postmortem
            )
        )
        parts.append(render_table(run, doc, index))
        if doc.postmortem is None:
            parts.append(NO_POSTMORTEM_NOTE)
    blocked = [(doc, p) for doc in plans for p in doc.items if p.problems]
    if blocked:
        again = AGAIN[run.config["action_items"]["create_on"]]
        parts += [BLOCKED_TITLE, BLOCKED_INTRO.format(again=again)]
        parts.append("\n".join(_blocked_line(p) for _, p in blocked))
    parts.append(STATUS_FOOTER.format(docs=DOCS_URL))
    return "\n\n".join(parts) + "\n"


def _blocked_line(planned: Planned) -> str:
    reasons = "; ".join(_one_line(quiet_mentions(r)) for r in planned.problems)
    return BLOCKED_LINE.format(label=planned.label, reasons=reasons)


def render_table(run: Run, doc: DocPlan, index: Index) -> str:
    """One row per item in document order, then the issues of items that left the document,
    and a line saying how many are closed."""
    rows, issues = [], []
    for planned in doc.items:
        issue = index.find(doc, planned.item.id)
        rows.append(_item_row(run, planned, issue))
        if issue is not None:
            issues.append(issue)
    present = {p.item.id for p in doc.items}
    for issue in index.for_doc(doc):
        found = item_marker(issue, run.github.full_name)
        if found.id not in present:
            rows.append(_removed_row(run, issue, found))
            issues.append(issue)
    if not rows:
        return NO_ITEMS
    table = "\n".join([TABLE_HEAD, *rows])
    closed = sum(1 for issue in issues if issue["state"] == "closed")
    if not issues:
        return table
    total = ALL_CLOSED if closed == len(issues) else SOME_CLOSED
    return f"{table}\n\n{total.format(closed=closed, count=len(issues))}"


def _item_row(run: Run, planned: Planned, issue: dict | None) -> str:
    item = planned.item
    due = item.due.isoformat() if item.due else NONE
    if issue is None:
        named = f"{_cell(item.issue)} ({STATE_NAMED})" if item.issue else NONE
        state = STATE_NOT_OPENED if planned.problems else (NONE if item.issue else STATE_PENDING)
        return _row(planned.label, named, _owner_cell(planned, None), due, state)
    state = issue_state(issue, item.due, run.today)
    if planned.problems:
        state = f"{state} · {STATE_NOT_UPDATED}"
    return _row(planned.label, f"#{issue['number']}", _owner_cell(planned, issue), due, state)


def _removed_row(run: Run, issue: dict, found: ItemMarker) -> str:
    label = _cell(_cut(issue.get("title") or found.id, STATUS_TEXT_MAX))
    owner = f"`@{found.owner}`" if found.owner else NONE
    due = found.due.isoformat() if found.due else NONE
    state = f"{issue_state(issue, found.due, run.today)} · {STATE_REMOVED}"
    return _row(label, f"#{issue['number']}", owner, due, state)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _owner_cell(planned: Planned, issue: dict | None) -> str:
    """The owner in code, never a live @mention: status lists notify no one."""
    owner = planned.owner
    if owner is None:
        text = planned.item.owner_text
        return f"`{_cell(text)}`" if text else NONE
    cell = f"`@{owner.login}`" if owner.login else OWNER_TEAM.format(team=owner.team)
    if owner.team and owner.login:
        cell += f" ({OWNER_TEAM.format(team=owner.team)})"
    assignees = {a["login"].lower() for a in (issue or {}).get("assignees") or []}
    if issue is not None and (owner.login or "").lower() not in assignees:
        cell += f" · {OWNER_NOT_ASSIGNED}"
    return cell


def issue_state(issue: dict, due: date | None, today: date) -> str:
    if issue["state"] == "closed":
        return STATE_NOT_PLANNED if issue.get("state_reason") == "not_planned" else STATE_CLOSED
    labels = {label["name"].lower() for label in issue.get("labels") or []}
    overdue = OVERDUE_LABEL in labels or (due is not None and due < today)
    return f"{STATE_OPEN} · {STATE_OVERDUE}" if overdue else STATE_OPEN


def write_postmortem_sections(
    run: Run, postmortem: int, docs: list[DocPlan], index: Index
) -> None:
    """Replace (or append) each document's section of the postmortem issue's body."""
    try:
        issue = run.github.get_issue(postmortem)
    except NotFound:
        return
    body = issue.get("body") or ""
    new = body
    for doc in docs:
        for alias in doc.aliases:
            new = replace_section(new, alias, "")  # a renamed document: its old section goes
        new = replace_section(new, doc.path, render_section(run, doc, index))
    if new != body:
        run.write()
        run.github.update_issue(postmortem, body=new)


def render_section(run: Run, doc: DocPlan, index: Index) -> str:
    begin = markers.render(SECTION_BEGIN, doc=quote(doc.path), pr=doc.pr, sha=doc.sha)
    end = markers.render(SECTION_END, doc=quote(doc.path))
    title = SECTION_TITLE.format(path=doc.path, url=doc.url)
    return f"{begin}\n{title}\n\n{render_table(run, doc, index)}\n{end}"


def _section_pattern(path: str) -> re.Pattern[str]:
    doc = re.escape(quote(path))
    fields = r"(?:\s+[a-z_]+=\S*?)*"
    return re.compile(
        rf"<!--\s*blameless-bot:{SECTION_BEGIN}\s+doc={doc}{fields}\s*-->.*?"
        rf"<!--\s*blameless-bot:{SECTION_END}\s+doc={doc}\s*-->",
        re.DOTALL,
    )


def replace_section(body: str, path: str, section: str) -> str:
    """`body` with the document's section replaced by `section` (appended if absent; removed
    when `section` is empty). Everything outside the markers is left as people wrote it."""
    pattern = _section_pattern(path)
    if pattern.search(body):
        new = pattern.sub(lambda _: section, body, count=1)
        return re.sub(r"\n{3,}", "\n\n", new) if not section else new
    if not section:
        return body
    return f"{body.rstrip()}\n\n{section}\n" if body.strip() else f"{section}\n"


def section_fields(body: str, path: str) -> dict[str, str]:
    """The begin marker's fields of the document's section (pr, sha of its last sync)."""
    begin = re.compile(rf"<!--\s*blameless-bot:{SECTION_BEGIN}(?P<fields>(?:\s+[a-z_]+=\S*?)*)\s*-->")
    for match in begin.finditer(body or ""):
        fields = dict(re.findall(r"([a-z_]+)=(\S*)", match.group("fields")))
        if unquote(fields.get("doc", "")) == path:
            return fields
    return {}


# --- status flowing back: issues closed or reopened ----------------------------------------------


def refresh_for_issue(
    github: GitHubClient,
    config: Config,
    issue: dict,
    *,
    today: date | None = None,
    closing: bool = False,
    pacer: Pacer | None = None,
) -> list[DocPlan]:
    """Re-render the status lists an action-item issue appears in (after a close, a reopen or
    a new label), from the latest sync of its document. Creates and assigns nothing."""
    found = item_marker(issue, github.full_name)
    if found is None:
        return []
    pr, sha = latest_sync(github, found)
    if pr is None or sha is None:
        return []
    return refresh_status(github, config, pr, sha, today=today, closing=closing, pacer=pacer)


def latest_sync(github: GitHubClient, found: ItemMarker) -> tuple[int | None, str | None]:
    """The PR and SHA the document was last synced at: the postmortem's section says, since a
    later PR may have changed the document; else the issue's own marker."""
    if found.postmortem is not None:
        try:
            body = github.get_issue(found.postmortem).get("body") or ""
        except NotFound:
            body = ""
        fields = section_fields(body, found.doc)
        if _int(fields.get("pr")) and fields.get("sha"):
            return int(fields["pr"]), fields["sha"]
    return found.pr, found.sha


def refresh_status(
    github: GitHubClient,
    config: Config,
    pr: int,
    sha: str,
    *,
    today: date | None = None,
    closing: bool = False,
    pacer: Pacer | None = None,
) -> list[DocPlan]:
    run = Run(github, config, today or utc_now().date(), pacer or Pacer())
    try:
        pull = github.get_pull(pr)
    except NotFound:
        return []
    plans = plan_documents(github, config, pull, sha)
    if not plans:
        return []
    index = load_index(github, config, _postmortems(plans))
    publish_status(run, pr, sha, plans, index)
    if closing:
        for postmortem in sorted(_postmortems(plans)):
            note_all_closed(run, postmortem, index)
    return plans


def note_all_closed(run: Run, postmortem: int, index: Index) -> None:
    """When every action item of the postmortem is closed: say so once, and close the
    postmortem issue if `action_items.close_postmortem_when_done`."""
    issues = [
        issues[0]
        for issues in index.by_key.values()
        if item_marker(issues[0], index.repo).postmortem == postmortem
    ]
    if not issues or any(issue["state"] != "closed" for issue in issues):
        return
    close = run.config["action_items"]["close_postmortem_when_done"]
    marker = markers.render(DONE)
    text = DONE_TEXT.format(marker=marker, closing=DONE_CLOSING if close else "", docs=DOCS_URL)
    run.write()
    run.github.upsert_comment(postmortem, marker, text)
    if close and run.github.get_issue(postmortem)["state"] == "open":
        run.write()
        run.github.update_issue(postmortem, state="closed", state_reason="completed")


# --- the daily sweep: overdue items --------------------------------------------------------------


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
        found = item_marker(issue, github.full_name)
        if found is not None and not found.removed and flag_overdue(run, issue, found):
            flagged.append(issue)
    for issue in _one_per_document(flagged, github.full_name):
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


def _one_per_document(issues: list[dict], repo: str) -> list[dict]:
    seen, picked = set(), []
    for issue in issues:
        found = item_marker(issue, repo)
        key = (found.postmortem or found.pr, found.doc)
        if key not in seen:
            seen.add(key)
            picked.append(issue)
    return picked


# --- for the Action: retrying without a worker --------------------------------------------------


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int = 8,
    base: float = 5.0,
    cap: float = 15 * 60,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `call` again after a transient failure, as the App's worker would: exponential
    backoff, never shorter than GitHub's retry-after. Every job here resumes where it stopped."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientGitHubError as exc:
            if attempt == attempts:
                raise
            wait = max(exc.retry_after or 0.0, min(cap, base * 2 ** (attempt - 1)))
            log.warning("transient GitHub error, retrying", extra={"wait": wait})
            sleep(wait)
    raise AssertionError("unreachable")
