"""Planning: the PR's postmortem documents, their items, each item's owner and postmortem issue."""

from __future__ import annotations

import re
from urllib.parse import quote

from app.github import markers
from app.github.attempt import remembered
from app.github.client import GitHubClient, NotFound
from app.jobs.action_items.model import DocPlan, Owner, Planned
from app.jobs.open_postmortem.draft_pr import DRAFT_PR
from app.jobs.open_postmortem.issue import find_postmortem
from checks.config import Config, selects
from checks.document.model import ActionItem, Document
from checks.engine import Result, check_text
from checks.findings import Level
from checks.output.safe_markdown import code, inline

_ISSUE_REF = re.compile(
    r"^\s*(?:(?:https?://[^/\s]+/)(?P<url_repo>[^/\s]+/[^/\s]+)/issues/(?P<url_n>\d+)"
    r"|(?:(?P<repo>[\w.-]+/[\w.-]+))?#?(?P<n>\d+))\s*$"
)

# User-facing text.
DUPLICATE_ID = "it has the same id ({id}) as an earlier item, so it would share that issue"
PLACEHOLDER_ITEM = (
    "it still holds a template placeholder (`structure.placeholder`): its action, owner or due "
    "date is to be filled in"
)


def plan_documents(
    github: GitHubClient, config: Config, pull: dict, sha: str, repo_url: str | None = None
) -> list[DocPlan]:
    """The PR's postmortem documents at `sha`, checked, each item planned."""
    # What cannot change at a commit is kept for the worker's next attempt of this delivery
    # (a retry after a 502 goes straight to the writes still missing, not back through every read).
    listed = remembered(
        "pull-files", f"{pull['number']}@{sha}", lambda: github.list_pull_files(pull["number"])
    )
    files = [f for f in listed if f.get("status") != "removed" and selects(config, f["filename"])]
    if not files:
        return []
    base_url = repo_url or _repo_url(github, pull)
    resolver = PostmortemResolver(github, config, pull)
    plans = []
    for entry in files:
        path = entry["filename"]
        text = remembered("files", f"{sha}:{path}", lambda path=path: github.get_file(path, ref=sha))
        if text is not None:
            plans.append(plan_document(text, entry, sha, pull["number"], base_url, config, resolver))
    return plans


def _changed_files(github: GitHubClient, number: int) -> list[dict]:
    fields = ("filename", "status", "previous_filename")
    return [{k: f[k] for k in fields if k in f} for f in github.list_pull_files(number)]


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
    blocking = [f for f in result.findings if f.family == "action-items" and f.level >= Level.ERROR]
    planned, seen = [], set()
    for item in doc.action_items:
        first, last = _lines(doc, item)
        # Markdown for the status lists: the messages quote the document, so they go in safe.
        problems = [f"{code(f.rule)}: {inline(f.message)}" for f in blocking if first <= f.line <= last]
        if is_placeholder(doc, item):
            # An unfilled template row gets no issue, and says so in the status lists.
            problems.insert(0, PLACEHOLDER_ITEM)
        if item.id in seen:
            problems.append(DUPLICATE_ID.format(id=code(item.id)))
        seen.add(item.id)
        owner = None if problems else resolve_owner(item, config)
        planned.append(Planned(item, problems, owner, factor_text(doc, item.addresses)))
    return planned


def _lines(doc: Document, item: ActionItem) -> tuple[int, int]:
    first = doc.position(item.span.start)[0]
    return first, doc.position(max(item.span.start, item.span.end - 1))[0]


def is_placeholder(doc: Document, item: ActionItem) -> bool:
    """A template row still holding a placeholder in its action, owner or due field: the whole
    field a template token (`TODO`, `@owner`, `YYYY-MM-DD`), never a login or a sentence that
    merely contains one (`@owner-ops`, "remove the TODO from the runbook")."""
    return doc.in_placeholder(item.text_span, item.owner_span, item.due_span)


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
        # Only a PR the bot opened (job 1's draft) can say which postmortem it is for.
        self.draft = markers.read(pull, DRAFT_PR, github.bot) or {}
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
            # Kept once found: a postmortem not there yet may be opened before the next attempt.
            self._found[incident] = remembered(
                "postmortems", str(incident), lambda: self._find(incident), keep=lambda n: n is not None
            )
        return self._found[incident]

    def _find(self, incident: int) -> int | None:
        try:
            issue = find_postmortem(self.github, incident, self.config)
        except NotFound:
            issue = None
        return issue["number"] if issue else None


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
