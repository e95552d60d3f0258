"""The culture report from GitHub: the history collected through the bot's labels and markers,
and one "Postmortem health" issue kept up to date with it.

What is read, in a fixed number of listings (each paginated, 100 per page) plus one review listing
per postmortem pull request:
- incidents and near misses: issues with the configured labels (a glob label lists every issue
  once and matches names here, since GitHub lists by exact label only);
- postmortem issues: the postmortem label, tied to their incident by job 1's `postmortem-for`
  marker; their pull requests by job 1's `draft-postmortem` marker, by job 3's action-item
  markers (pr, postmortem) and by a closing keyword ("Closes #12") in the pull request body;
- action items: job 3's tracking label and `action-item` markers; an item's kind comes from its
  document at the default branch, classified by the engine (`checks.report.kinds`);
- participation: the repository's comments in one listing, and each postmortem PR's reviews,
  reduced at once to the number of distinct people (bots left out);
- documents: the config's paths at the default branch.

Documents and reviews are read conditionally by ETag (an unchanged one costs a 304, which does not
count against the rate limit), through the same bounded cache as the config: the App's daily
sweep pays for what changed since yesterday.

Logins are seen here and nowhere after: the history holds counts, and the logins go to the
report only as words to take out of any text it quotes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from app.github import markers
from app.github.client import GitHubClient, GitHubError
from app.github.markers import BotIdentity
from app.github.repo_config import CACHE, ETagCache, read_cached
from app.jobs.action_items.index import item_marker
from app.jobs.action_items.labels import tracking_labels
from app.jobs.open_postmortem.draft_pr import DRAFT_PR
from app.jobs.open_postmortem.plan import POSTMORTEM_FOR, incident_kind, is_postmortem, postmortem_labels
from checks.config import Config, selects
from checks.document.items import TYPES
from checks.document.parse import parse
from checks.report import History, build_report, render_markdown
from checks.report.history import DocumentRecord, Incident, ItemRecord, parse_time
from checks.report.kinds import item_kind

T = TypeVar("T")
R = TypeVar("R")

# Reads that are one request per thing (a document, a pull request's reviews) run a few at a time:
# a year of history is ~600 of them, a minute or two one after another at GitHub's latency. Four
# concurrent GETs stay far below the secondary limits (100 concurrent, 900 points a minute).
READ_WORKERS = 4

HEALTH = "postmortem-health"  # the marker in the health issue's body: repo
HEALTH_TITLE = "Postmortem health"
HEALTH_LABEL = "postmortem-health"
HEALTH_LABEL_COLOR = "0e8a16"
HEALTH_LABEL_DESCRIPTION = "Team-level culture signals, updated by Blameless Bot"
HEALTH_FOOTER = (
    "\n---\n<sub>Updated by Blameless Bot from this repository's incidents, postmortems and action "
    "items. Edited in place on every run; closing it does not stop the updates — turn off "
    "`report.health_issue` for that.</sub>\n"
)
_GLOB = re.compile(r"[*?\[]")
_CLOSES = re.compile(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?|postmortem)\s*:?\s+#(\d+)\b")


def _each(function: Callable[[T], R], things: Iterable[T]) -> list[R]:
    """`function` over `things`, READ_WORKERS at a time, results in order."""
    things = list(things)
    if len(things) < 2:
        return [function(thing) for thing in things]
    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        return list(pool.map(function, things))


def _is_bot(user: Mapping | None) -> bool:
    user = user or {}
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


@dataclass
class _Seen:
    """Logins met while collecting: for redaction only, never stored in the history."""

    logins: set[str] = field(default_factory=set)

    def add(self, *users: Mapping | None) -> None:
        for user in users:
            login = (user or {}).get("login")
            if login and not _is_bot(user):
                self.logins.add(str(login))


# --- collection ----------------------------------------------------------------------------


def incident_issues(github: GitHubClient, config: Config) -> list[tuple[dict, str]]:
    """(issue, kind) for every incident and near miss; postmortem issues left out."""
    patterns = [*config["incidents"]["labels"], *config["incidents"]["near_miss_labels"]]
    if any(_GLOB.search(p) for p in patterns):
        listings = [github.list_issues(state="all")]
    else:
        listings = [github.list_issues(labels=name, state="all") for name in patterns]
    found: dict[int, tuple[dict, str]] = {}
    for issue in (i for listing in listings for i in listing):
        if issue["number"] in found or is_postmortem(issue, github.bot):
            continue
        kinds = [incident_kind(label.get("name"), config) for label in issue.get("labels") or []]
        kind = "incident" if "incident" in kinds else ("near-miss" if "near-miss" in kinds else None)
        if kind:
            found[issue["number"]] = (issue, kind)
    return list(found.values())


def postmortem_issues(github: GitHubClient, config: Config) -> dict[int, dict]:
    """Incident number -> its postmortem issue (the lowest number, job 1's survivor)."""
    by_incident: dict[int, dict] = {}
    for issue in sorted(
        github.list_issues(labels=postmortem_labels(config)[0], state="all"), key=lambda i: i["number"]
    ):
        fields = markers.read(issue, POSTMORTEM_FOR, github.bot) or {}
        if (
            fields.get("repo", "").lower() != github.full_name.lower()
            or not fields.get("issue", "").isdigit()
        ):
            continue
        by_incident.setdefault(int(fields["issue"]), issue)
    return by_incident


def postmortem_pulls(
    pulls: list[dict], items: list[dict], repo: str, bot: BotIdentity | None
) -> dict[int, list[dict]]:
    """Postmortem issue number -> the pull requests that add its document (a draft marker counts
    only in a pull request the bot opened)."""
    by_number = {pull["number"]: pull for pull in pulls}
    found: dict[int, dict[int, dict]] = defaultdict(dict)
    for pull in pulls:
        draft = markers.read(pull, DRAFT_PR, bot) or {}
        numbers = {int(n) for n in _CLOSES.findall(pull.get("body") or "")}
        if draft.get("postmortem", "").isdigit():
            numbers.add(int(draft["postmortem"]))
        for number in numbers:
            found[number][pull["number"]] = pull
    for issue in items:
        marker = item_marker(issue, repo, bot)
        if marker and marker.postmortem and marker.pr in by_number:
            found[marker.postmortem][marker.pr] = by_number[marker.pr]
    return {number: list(pulls.values()) for number, pulls in found.items()}


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def _date(value: str | None) -> date | None:
    return parse_time(value).date() if value else None


def _due(issue: dict, bot: BotIdentity | None) -> date | None:
    value = (markers.read(issue, POSTMORTEM_FOR, bot) or {}).get("due")
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def commenters_by_issue(comments: Iterable[dict], seen: _Seen) -> dict[int, int]:
    """Issue number -> how many distinct people commented (bots left out)."""
    people: dict[int, set[str]] = defaultdict(set)
    for comment in comments:
        user = comment.get("user")
        seen.add(user)
        number = str(comment.get("issue_url", "")).rsplit("/", 1)[-1]
        if number.isdigit() and not _is_bot(user) and (user or {}).get("login"):
            people[int(number)].add(user["login"].lower())
    return {number: len(logins) for number, logins in people.items()}


def reviews(github: GitHubClient, number: int, cache: ETagCache) -> list[dict]:
    """A pull request's reviews, revalidated by ETag (a merged PR's reviews seldom change)."""
    key = (github.base_url, github.owner.lower(), github.repo.lower(), f"reviews:{number}", None)
    entry = cache.get(key)
    fetch = github.list_reviews_if_changed(number, entry.etag if entry else None)
    if fetch.not_modified and entry is not None:
        return json.loads(entry.text)
    cache.put(key, fetch.etag, json.dumps(fetch.items) if fetch.etag else None)
    return fetch.items or []


def reviewers_of(github: GitHubClient, pulls: list[dict], seen: _Seen, cache: ETagCache) -> int:
    people = set()
    for pull in pulls:
        for review in reviews(github, pull["number"], cache):
            seen.add(review.get("user"))
            user = review.get("user") or {}
            if not _is_bot(user) and user.get("login") and review.get("state") != "PENDING":
                people.add(user["login"].lower())
    return len(people)


def _incident(
    issue: dict,
    kind: str,
    postmortem: dict | None,
    pulls: list[dict],
    commenters: dict[int, int],
    reviewers: int | None,
    bot: BotIdentity | None,
) -> Incident:
    opened = [p["created_at"] for p in pulls if p.get("created_at")]
    merged = [p["merged_at"] for p in pulls if p.get("merged_at")]
    return Incident(
        kind=kind,
        opened=parse_time(issue["created_at"]),
        postmortem_opened=_time(postmortem["created_at"]) if postmortem else None,
        pr_opened=_time(min(opened)) if opened else None,
        merged=_time(min(merged)) if merged else None,
        due=_due(postmortem, bot) if postmortem else None,
        commenters=commenters.get(postmortem["number"], 0) if postmortem else None,
        reviewers=reviewers,
    )


def documents_at_default_branch(
    github: GitHubClient, config: Config, cache: ETagCache = CACHE
) -> dict[str, str]:
    branch = github.get_repository().get("default_branch") or "main"
    paths = [p for p in github.list_paths(branch) if p.endswith(".md") and selects(config, p)]
    texts = _each(lambda path: read_cached(github, path, cache), paths)
    return {path: text for path, text in zip(paths, texts, strict=True) if text is not None}


def _item_kinds(documents: dict[str, str], config: Config) -> dict[tuple[str, str], str]:
    """(document path, item id) -> the item's kind, for every item of every document."""
    kinds = {}
    for path, text in documents.items():
        for item in parse(text, path, config).action_items:
            kinds[(path, item.id)] = item_kind(item)
    return kinds


def _item_record(
    issue: dict, repo: str, bot: BotIdentity | None, kinds: dict[tuple[str, str], str]
) -> ItemRecord | None:
    marker = item_marker(issue, repo, bot)
    if marker is None or marker.removed or issue.get("state_reason") == "not_planned":
        return None  # not an item, an item that left its document, or a duplicate closed unplanned
    labels = {(label.get("name") or "").lower() for label in issue.get("labels") or []}
    declared = next((t for t in TYPES if t in labels), None)
    closed = _date(issue.get("closed_at")) if issue.get("state") == "closed" else None
    return ItemRecord(
        created=parse_time(issue["created_at"]).date(),
        closed=closed,
        due=marker.due,
        kind=kinds.get((marker.doc, marker.id)) or declared,
    )


def collect_history(
    github: GitHubClient, config: Config, since: date | None = None, cache: ETagCache = CACHE
) -> History:
    """The repository's incidents, action items and documents since `since`, counts only."""
    seen = _Seen()
    incidents = [(i, k) for i, k in incident_issues(github, config) if _in_period(i, since)]
    postmortems = postmortem_issues(github, config)
    items = github.list_issues(labels=tracking_labels(config)[0], state="all")
    pulls = postmortem_pulls(github.list_pulls(state="all"), items, github.full_name, github.bot)
    first = min((i["created_at"] for i, _ in incidents), default=None)
    comments = github.list_repo_comments(since=first) if incidents else []
    commenters = commenters_by_issue(comments, seen)
    documents = documents_at_default_branch(github, config, cache)
    kinds = _item_kinds(documents, config)
    merged_docs = _merge_dates(items, pulls, github.full_name, github.bot)
    linked = [
        pulls.get(postmortems[i["number"]]["number"], []) if i["number"] in postmortems else []
        for i, _ in incidents
    ]
    reviewers = _each(lambda prs: reviewers_of(github, prs, seen, cache) if prs else None, linked)
    records = []
    for (issue, kind), prs, reviewed in zip(incidents, linked, reviewers, strict=True):
        seen.add(issue.get("user"), *(issue.get("assignees") or []))
        postmortem = postmortems.get(issue["number"])
        records.append(_incident(issue, kind, postmortem, prs, commenters, reviewed, github.bot))
    item_records = []
    for issue in items:
        seen.add(issue.get("user"), *(issue.get("assignees") or []))
        record = _item_record(issue, github.full_name, github.bot, kinds)
        if record is not None and (since is None or record.created >= since):
            item_records.append(record)
    for marker_owner in (item_marker(i, github.full_name, github.bot) for i in items):
        if marker_owner and marker_owner.owner:
            seen.logins.add(marker_owner.owner)
    return History(
        incidents=records,
        items=item_records,
        documents=[
            DocumentRecord(path, text, merged_docs.get(path)) for path, text in sorted(documents.items())
        ],
        has_incidents=True,
        has_items=True,
        private_terms=frozenset(seen.logins),
    )


def _in_period(issue: dict, since: date | None) -> bool:
    return since is None or parse_time(issue["created_at"]).date() >= since


def _merge_dates(
    items: list[dict], pulls: dict[int, list[dict]], repo: str, bot: BotIdentity | None
) -> dict[str, date]:
    """Document path -> the day its pull request merged, from the action-item markers (doc, pr)."""
    merged_at = {p["number"]: p.get("merged_at") for linked in pulls.values() for p in linked}
    dates: dict[str, date] = {}
    for issue in items:
        marker = item_marker(issue, repo, bot)
        when = merged_at.get(marker.pr) if marker else None
        if marker and when:
            dates.setdefault(marker.doc, parse_time(when).date())
    return dates


# --- the health issue ----------------------------------------------------------------------


def health_body(github: GitHubClient, markdown: str) -> str:
    return f"{markers.render(HEALTH, repo=github.full_name)}\n{markdown}{HEALTH_FOOTER}"


def find_health_issue(github: GitHubClient) -> dict | None:
    """The one health issue: by its label, then its marker (the lowest number if there are two)."""
    found = [
        issue
        for issue in github.list_issues(labels=HEALTH_LABEL, state="all")
        if markers.holds(issue, HEALTH, github.bot, repo=github.full_name)
    ]
    return min(found, key=lambda i: i["number"]) if found else None


def keep_health_issue(github: GitHubClient, markdown: str) -> dict:
    """Edit the health issue in place (no write when nothing changed), or open it the first time."""
    body = health_body(github, markdown)
    existing = find_health_issue(github)
    if existing is None:
        github.ensure_label(HEALTH_LABEL, HEALTH_LABEL_COLOR, HEALTH_LABEL_DESCRIPTION)
        return github.create_issue(HEALTH_TITLE, body, labels=[HEALTH_LABEL])
    if existing.get("body") == body:
        return existing
    return github.update_issue(existing["number"], body=body)


def report_since(today: date, months: int) -> date:
    """The first day of the month `months - 1` months before today's."""
    index = today.year * 12 + today.month - 1 - (max(months, 1) - 1)
    return date(index // 12, index % 12 + 1, 1)


def health_markdown(github: GitHubClient, config: Config, today: date, cache: ETagCache = CACHE) -> str:
    since = report_since(today, config["report"]["months"])
    history = collect_history(github, config, since, cache)
    report = build_report(history, today, since=since, config=config, repository=github.full_name)
    return render_markdown(report)


def publish_health(
    github: GitHubClient, config: Config, today: date, *, keep_issue: bool, cache: ETagCache = CACHE
) -> tuple[str, dict | None]:
    """The report's Markdown, and the health issue when `keep_issue` (edited in place)."""
    markdown = health_markdown(github, config, today, cache)
    return markdown, keep_health_issue(github, markdown) if keep_issue else None


# --- the `blameless report --repo` source ------------------------------------------------------


def report_history(
    repository: str, *, since: date | None, config: Config, environ: Mapping[str, str]
) -> History:
    """The entry point `blameless.report_sources: github`: a token from GITHUB_TOKEN (or GH_TOKEN),
    the API at GITHUB_API_URL (GitHub Enterprise Server) or api.github.com."""
    from checks.report.history import HistoryError

    token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN")
    if not token:
        raise HistoryError(
            "--repo needs a token in GITHUB_TOKEN (read access to issues, pull requests and contents); "
            "without one, run `blameless report` in a clone for the documents' signals"
        )
    owner, name = repository.split("/")
    github = GitHubClient.for_token(token, owner, name, base_url=environ.get("GITHUB_API_URL") or None)
    try:
        return collect_history(github, config, since)
    except GitHubError as exc:  # the CLI reports it as a usage problem: no traceback, no token
        raise HistoryError(f"{repository}: GitHub refused a request ({exc})") from None
