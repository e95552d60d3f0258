"""A history seeded on the shared fake GitHub the way the bot leaves it: incidents with their
labels, postmortem issues with job 1's marker, pull requests with the draft marker, reviews,
comments, and action-item issues with job 3's marker. Used by the culture-report tests and bench.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote

from app.github import markers
from app.jobs.action_items.index import ACTION_ITEM
from app.jobs.open_postmortem.draft_pr import DRAFT_PR
from app.jobs.open_postmortem.plan import POSTMORTEM_FOR
from checks.document.parse import parse
from tests.fake_github import FakeGitHub, _iso


@dataclass
class SeedItem:
    created: datetime
    closed: datetime | None = None
    not_planned: bool = False


@dataclass
class SeedIncident:
    kind: str  # incident | near-miss
    opened: datetime
    reporter: str = "octo-reporter"
    postmortem: datetime | None = None
    due: date | None = None
    pr: datetime | None = None
    merged: datetime | None = None
    author: str = "octo-author"
    document: str | None = None  # the postmortem's text; its action items become issues
    path: str | None = None
    commenters: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    items: list[SeedItem] = field(default_factory=list)  # one per action item of the document


def seed(fake: FakeGitHub, owner: str, name: str, incidents: list[SeedIncident]) -> None:
    repo = f"{owner}/{name}"
    for index, spec in enumerate(incidents):
        label = "incident" if spec.kind == "incident" else "near-miss"
        incident = fake.add_issue(
            owner,
            name,
            f"Outage {index}",
            "What happened.",
            labels=[label],
            user=spec.reporter,
            created_at=spec.opened,
        )
        if spec.postmortem is None:
            continue
        fields = {"repo": repo, "issue": incident["number"], "kind": spec.kind}
        if spec.due:
            fields["due"] = spec.due.isoformat()
        postmortem = fake.add_issue(
            owner,
            name,
            f"Postmortem: Outage {index} (#{incident['number']})",
            markers.render(POSTMORTEM_FOR, **fields) + "\nThe postmortem.",
            labels=["postmortem"],
            user="blameless-bot[bot]",
            created_at=spec.postmortem,
        )
        postmortem["user"]["type"] = "Bot"
        for login in spec.commenters:
            fake.add_comment(
                owner, name, postmortem["number"], "A thought.", user=login, created_at=spec.postmortem
            )
        if spec.pr is None:
            continue
        path = spec.path or f"docs/postmortems/{spec.opened.date()}-outage-{index}.md"
        sha = hashlib.sha1(f"{repo}:{index}".encode()).hexdigest()
        body = markers.render(DRAFT_PR, incident=incident["number"], postmortem=postmortem["number"])
        pull = fake.add_pull(
            owner,
            name,
            head_sha=sha,
            files={path: spec.document or "# Postmortem\n"},
            body=body,
            head_ref=f"blameless/postmortem-{incident['number']}",
            user=spec.author,
            created_at=spec.pr,
        )
        for login in spec.reviewers:
            fake.add_review(owner, name, pull["number"], user=login, submitted_at=spec.pr)
        if spec.merged is not None:
            fake.merge(owner, name, pull["number"], at=spec.merged)
        _items(fake, owner, name, spec, path, sha, pull["number"], postmortem["number"])


def _items(
    fake: FakeGitHub, owner: str, name: str, spec: SeedIncident, path: str, sha: str, pr: int, postmortem: int
) -> None:
    repo = f"{owner}/{name}"
    items = parse(spec.document or "", path).action_items
    for item, seeded in zip(items, spec.items, strict=False):
        fields = {
            "repo": repo,
            "doc": quote(path),
            "id": quote(item.id, safe=""),
            "pr": pr,
            "sha": sha,
            "postmortem": postmortem,
        }
        if item.owners:
            fields["owner"] = item.owners[0]
        if item.due:
            fields["due"] = item.due.isoformat()
        labels = ["action-item", *([item.type] if item.type else [])]
        issue = fake.add_issue(
            owner,
            name,
            item.text[:80],
            markers.render(ACTION_ITEM, **fields) + f"\n{item.text}",
            labels=labels,
            user="blameless-bot[bot]",
            created_at=seeded.created,
        )
        issue["assignees"] = [{"login": o, "type": "User"} for o in item.owners]
        if seeded.closed is not None:
            issue.update(
                state="closed",
                closed_at=_iso(seeded.closed),
                state_reason="not_planned" if seeded.not_planned else "completed",
            )
