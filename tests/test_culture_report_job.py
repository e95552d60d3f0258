"""The culture report from GitHub: the history found through labels and markers on the shared
fake, the health issue kept in place, and the daily sweep's opt-in."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from app.github.events import Event
from app.github.repo_config import ETagCache
from app.jobs.culture_report import (
    HEALTH_LABEL,
    collect_history,
    find_health_issue,
    publish_health,
    report_history,
    report_since,
)
from app.jobs.daily_sweep import on_daily_sweep
from checks.config import Config, parse_config
from checks.report import build_report, render_html, render_json, render_markdown
from tests.report_history import SeedIncident, SeedItem, seed

OWNER, REPO = "octo", "shop"
TODAY = date(2026, 4, 15)

DOCUMENT = """---
date: {day}
---
# Postmortem

## Summary

The cache stampeded.

## Timeline

All times UTC.

- {day} 10:00 Alert fired.
- {day} 10:05 Cache flushed.
- {day} 10:30 Recovered.

## Contributing factors

- Retry storm: clients retried without backoff; octo-dana saw it first.
- Dana's dashboard lagged.

## Action items

- [guardrail] Add jittered backoff to the client — owner @octo-dana — due {due}
- Remind everyone to be careful with retries — owner @octo-lee — due {due}
"""


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def seeded(fake) -> None:
    fake.add_repo(OWNER, REPO)
    seed(
        fake,
        OWNER,
        REPO,
        [
            SeedIncident(
                "incident",
                at("2026-01-10"),
                reporter="octo-dana",
                postmortem=at("2026-01-11"),
                due=date(2026, 1, 25),
                pr=at("2026-01-13"),
                merged=at("2026-01-20"),
                document=DOCUMENT.format(day="2026-01-10", due="2026-02-03"),
                path="docs/postmortems/2026-01-10-cache.md",
                commenters=["octo-dana", "octo-lee", "Octo-Lee", "octo-sam"],  # 3 people (logins ignore case)
                reviewers=["octo-lee", "octo-sam"],
                items=[SeedItem(at("2026-01-20"), at("2026-01-30")), SeedItem(at("2026-01-20"))],
            ),
            SeedIncident("near-miss", at("2026-02-02"), postmortem=at("2026-02-05"), due=date(2026, 2, 16)),
            SeedIncident(
                "incident",
                at("2026-03-01"),
                postmortem=at("2026-03-01", 12),
                due=date(2026, 3, 15),
                pr=at("2026-03-03"),
                merged=at("2026-03-04"),
                author="octo-kim",
                document=DOCUMENT.format(day="2026-03-01", due="2026-04-01"),
                path="docs/postmortems/2026-03-01-cache-again.md",
                commenters=["octo-kim"],
                reviewers=["octo-dana", "blameless-bot[bot]"],
                items=[
                    SeedItem(at("2026-03-04"), at("2026-03-20")),
                    SeedItem(at("2026-03-04"), at("2026-03-05"), not_planned=True),
                ],
            ),
            SeedIncident("incident", at("2026-04-03")),
        ],
    )


def test_the_history_comes_from_labels_and_markers(fake_github):
    seeded(fake_github)
    github = fake_github.client(OWNER, REPO)
    history = collect_history(github, Config(), cache=ETagCache())

    opened = sorted(history.incidents, key=lambda i: i.opened)
    assert [i.kind for i in opened] == ["incident", "near-miss", "incident", "incident"]
    first = opened[0]
    assert (first.postmortem_opened, first.pr_opened, first.merged) == (
        at("2026-01-11"),
        at("2026-01-13"),
        at("2026-01-20"),
    )
    assert (first.commenters, first.reviewers, first.due) == (3, 2, date(2026, 1, 25))
    assert (opened[1].pr_opened, opened[1].commenters, opened[1].reviewers) == (None, 0, None)
    assert opened[2].reviewers == 1  # the bot's review is not participation
    assert opened[3].postmortem_opened is None

    items = sorted(history.items, key=lambda i: (i.created, i.kind))
    # the duplicate closed as not planned is not an item; kinds come from the documents
    assert [(i.created, i.closed, i.kind) for i in items] == [
        (date(2026, 1, 20), date(2026, 1, 30), "guardrail"),
        (date(2026, 1, 20), None, "reminder"),
        (date(2026, 3, 4), date(2026, 3, 20), "guardrail"),
    ]
    assert items[1].due == date(2026, 2, 3)
    assert sorted((d.path, d.merged) for d in history.documents) == [
        ("docs/postmortems/2026-01-10-cache.md", date(2026, 1, 20)),
        ("docs/postmortems/2026-03-01-cache-again.md", date(2026, 3, 4)),
    ]


def test_documents_and_reviews_are_read_again_by_etag(fake_github):
    seeded(fake_github)
    github = fake_github.client(OWNER, REPO)
    cache = ETagCache()
    first = collect_history(github, Config(), cache=cache)
    before = len(fake_github.calls)
    again = collect_history(github, Config(), cache=cache)
    calls = fake_github.calls[before:]
    contents = [c for c in calls if "/contents/" in c.path]
    assert len(contents) == 2 and all(c.status == 304 for c in contents)
    reviews = [c for c in calls if c.path.endswith("/reviews")]
    assert len(reviews) == 2 and all(c.status == 304 for c in reviews)
    assert again.incidents == first.incidents and again.documents == first.documents

    pull = next(p for p in fake_github.repo(OWNER, REPO).pulls.values() if p["merged"])
    fake_github.add_review(OWNER, REPO, pull["number"], user="octo-new")
    changed = collect_history(github, Config(), cache=cache)
    assert sorted(i.reviewers or 0 for i in changed.incidents) != sorted(
        i.reviewers or 0 for i in first.incidents
    )


def test_no_output_names_anyone_from_the_github_history(fake_github):
    seeded(fake_github)
    github = fake_github.client(OWNER, REPO)
    config = parse_config("language:\n  people: [Dana]\n", "blameless.yml")
    history = collect_history(github, config, cache=ETagCache())
    report = build_report(history, TODAY, config=config, repository=f"{OWNER}/{REPO}")
    assert report.recurring  # "Retry storm" recurs, quoted without the login in it
    logins = {"octo-dana", "octo-lee", "octo-sam", "octo-kim", "octo-reporter", "octo-author", "dana"}
    for output in (render_markdown(report), render_json(report), render_html(report)):
        found = {login for login in logins if re.search(rf"(?<![\w-]){login}(?![\w-])", output, re.I)}
        assert found == set()


def test_the_health_issue_is_edited_in_place(fake_github):
    seeded(fake_github)
    github = fake_github.client(OWNER, REPO)
    markdown, issue = publish_health(github, Config(), TODAY, keep_issue=True, cache=ETagCache())
    assert issue["title"] == "Postmortem health" and "## Postmortem health" in markdown
    assert HEALTH_LABEL in {label["name"] for label in issue["labels"]}

    _, again = publish_health(github, Config(), TODAY, keep_issue=True, cache=ETagCache())
    assert again["number"] == issue["number"]
    assert fake_github.calls_to("PATCH", r"/issues/\d+$") == []  # unchanged: no write

    fake_github.add_issue(OWNER, REPO, "Incident", labels=["incident"], created_at=at("2026-04-10"))
    _, changed = publish_health(github, Config(), TODAY, keep_issue=True, cache=ETagCache())
    assert changed["number"] == issue["number"]
    assert len(fake_github.calls_to("PATCH", r"/issues/\d+$")) == 1
    health = [i for i in fake_github.issues(OWNER, REPO) if i["title"] == "Postmortem health"]
    assert len(health) == 1 and find_health_issue(github)["number"] == issue["number"]


def test_the_daily_sweep_keeps_the_issue_only_when_the_config_says_so(fake_github):
    seeded(fake_github)
    event = Event("schedule.daily", "d-1", {"repository": {"full_name": f"{OWNER}/{REPO}"}})
    on_daily_sweep(fake_github.job_context(OWNER, REPO, event))
    assert not [i for i in fake_github.issues(OWNER, REPO) if i["title"] == "Postmortem health"]

    config = parse_config("report:\n  health_issue: true\n  months: 3\n", "blameless.yml")
    on_daily_sweep(fake_github.job_context(OWNER, REPO, event, config=config))
    [health] = [i for i in fake_github.issues(OWNER, REPO) if i["title"] == "Postmortem health"]
    assert "2026-03 to 2026-05" in health["body"]  # the fake's clock is 2026-05-04: three months


def test_report_since_counts_whole_months_back():
    assert report_since(date(2026, 4, 15), 12) == date(2025, 5, 1)
    assert report_since(date(2026, 1, 31), 1) == date(2026, 1, 1)


def test_the_source_plugin_needs_a_token():
    import pytest

    from checks.report import HistoryError

    with pytest.raises(HistoryError, match="GITHUB_TOKEN"):
        report_history("octo/shop", since=None, config=Config(), environ={})
