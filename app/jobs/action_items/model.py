"""The model of a run: documents, their planned items and owners, issue markers, what a run did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from app.github.attempt import remembered
from app.github.client import GitHubClient
from app.jobs.action_items.markdown import cut
from app.jobs.action_items.pacing import Pacer
from checks.config import Config
from checks.document.model import ActionItem
from checks.output import safe_markdown

STATUS_TEXT_MAX = 80  # characters of an item's text in status lists


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
        text = safe_markdown.inline(cut(self.item.text, STATUS_TEXT_MAX))
        return f"**{safe_markdown.inline(self.item.id)}** {text}" if self.item.explicit_id else text


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
        if key not in self._assignable:  # kept for the next attempt of the same delivery too
            self._assignable[key] = remembered("assignable", key, lambda: self.github.is_assignable(login))
        return self._assignable[key]

    def write(self) -> None:
        self.pacer.wait()
