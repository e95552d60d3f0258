"""Action-item markers, and the index of the repository's action-item issues by key."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from urllib.parse import quote, unquote

from app.github import markers
from app.github.client import GitHubClient, NotFound
from app.github.markers import BotIdentity
from app.jobs.action_items.labels import tracking_labels
from app.jobs.action_items.model import DocPlan, ItemMarker, Planned
from checks.config import Config

# The marker in an issue's body (see app/github/markers.py).
ACTION_ITEM = "action-item"  # issue body: repo, doc, id (the key); pr, sha, postmortem, owner, due
_ITEM_MARKER = re.compile(r"<!--\s*blameless-bot:action-item(?:\s+[a-z_]+=\S*?)*\s*-->")


def item_marker(issue: dict, repo: str, bot: BotIdentity | None) -> ItemMarker | None:
    """The action-item marker of `issue`, when the bot opened it and it belongs to `repo`."""
    fields = markers.read(issue, ACTION_ITEM, bot)
    if not fields or fields.get("repo", "").lower() != repo.lower():
        return None
    if not fields.get("doc") or not fields.get("id"):
        return None
    return ItemMarker(
        repo=fields["repo"],
        doc=unquote(fields["doc"]),
        id=unquote(fields["id"]),
        pr=parse_int(fields.get("pr")),
        sha=fields.get("sha") or None,
        postmortem=parse_int(fields.get("postmortem")),
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


def parse_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


_DERIVED_ID = re.compile(r"ai-[0-9a-f]{8}")  # checks.document.items.derived_id: the words' hash


class Index:
    """Every action-item issue of the repository by key (doc, id), lowest number first."""

    def __init__(
        self,
        repo: str,
        issues: Iterable[dict],
        children: dict[int, set[int]],
        bot: BotIdentity | None,
    ):
        self.repo = repo
        self.bot = bot
        self.children = children  # postmortem number -> ids of its sub-issues
        self.by_key: dict[tuple[str, str], list[dict]] = {}
        seen: set[int] = set()
        for issue in sorted(issues, key=lambda i: i["number"]):
            found = item_marker(issue, repo, bot)
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

    def follow_edits(self, docs: list[DocPlan]) -> None:
        """Re-key the issue of an item whose words were edited.

        An item without an explicit id (`AI-3`) is keyed by its words, so fixing a typo changes
        its key. When, in one document, exactly one such item is new and exactly one such issue
        lost its item, they are the same item edited: its issue follows it, and no second one
        opens. With more than one on either side the pairing would be a guess, so none is made.
        """
        for doc in docs:
            present = {p.item.id for p in doc.items}
            new = [p for p in doc.items if not p.item.explicit_id and self.find(doc, p.item.id) is None]
            gone = [
                key
                for key, issues in self.by_key.items()
                if key[0] in doc.paths
                and key[1] not in present
                and _DERIVED_ID.fullmatch(key[1])
                and not self.marker(issues[0]).removed
            ]
            if len(new) == 1 and len(gone) == 1:
                self.by_key[(doc.path, new[0].item.id)] = self.by_key.pop(gone[0])

    def marker(self, issue: dict) -> ItemMarker:
        """The marker of an indexed issue (every indexed issue has one)."""
        return item_marker(issue, self.repo, self.bot)

    def for_doc(self, doc: DocPlan) -> list[dict]:
        return [issues[0] for (path, _), issues in self.by_key.items() if path in doc.paths and issues]

    def duplicates(self, docs: list[DocPlan]) -> list[tuple[dict, dict]]:
        """(survivor, duplicate) pairs among the documents' keys."""
        paths = {path for doc in docs for path in doc.paths}
        return [
            (issues[0], extra)
            for (path, _), issues in self.by_key.items()
            if path in paths
            for extra in issues[1:]
        ]


def load_index(github: GitHubClient, config: Config, postmortems: Iterable[int]) -> Index:
    """Issues by the tracking label, plus the postmortems' sub-issues: never by search."""
    issues = github.list_issues(labels=tracking_labels(config)[0], state="all")
    children: dict[int, set[int]] = {}
    for number in sorted(set(postmortems)):
        subs = sub_issues(github, number)
        if subs is not None:
            children[number] = {child["id"] for child in subs}
            issues += subs
    return Index(github.full_name, issues, children, github.bot)


def sub_issues(github: GitHubClient, parent: int) -> list[dict] | None:
    """The parent's sub-issues; None when the server has none (GHES) or the parent is gone."""
    try:
        return github.list_sub_issues(parent)
    except NotFound:
        return None


def postmortems_of(plans: list[DocPlan]) -> set[int]:
    return {doc.postmortem for doc in plans if doc.postmortem is not None}


def with_removed_flag(body: str, sha: str) -> str:
    match = _ITEM_MARKER.search(body)
    if match is None:
        return body
    return body[: match.end() - 3].rstrip() + f" removed={sha} -->" + body[match.end() :]
