"""A year of history through the culture report: how long, and how many requests.

Run: python bench/culture_report.py [--incidents 300] [--items-per-postmortem 3] [--latency 0.15]

Seeds the shared fake GitHub (tests/fake_github.py) with a year of incidents and near misses, their
postmortem issues, pull requests (reviews, merges), comments and action-item issues, written the way
the bot writes them, then runs what the scheduled job runs: collect the history, build the report,
render Markdown and HTML. Each request waits `--latency` seconds, as a round trip to GitHub would
(0.15 s by default). Prints the wall time of each step and the requests made (the primary rate
limit counts every request but a 304; GITHUB_TOKEN allows 1,000 an hour per repository, an App
installation at least 5,000). A second collection with the ETag cache warm shows what the App's
daily sweep spends on documents that did not change.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.github.repo_config import ETagCache
from app.jobs.culture_report import collect_history
from checks.config import Config
from checks.report import build_report, render_html, render_markdown
from tests.fake_github import FakeGitHub
from tests.report_history import SeedIncident, SeedItem, seed

OWNER, REPO = "octo", "shop"
START = datetime(2025, 5, 1, tzinfo=UTC)
TODAY = date(2026, 4, 30)
ACTIONS = [
    "[guardrail] Add a canary stage for configuration changes",
    "[constraint] Cap client retries at three with jitter",
    "[decision-policy] Page on error budget burn, not on raw error rate",
    "[guardrail] Block deploys while the error budget is exhausted",
    "Remind the team to double-check the pool limits",
    "Train the on-call engineers on failovers",
    "Look into the dashboards",
]
FACTORS = [
    "Retry storm: clients retried without backoff.",
    "Config rollout: the change reached every region at once.",
    "Alert delay: the alert needed ten minutes of data.",
    "Capacity: the pool limit was computed from average load.",
    "Runbook gap: the failover steps were out of date.",
]


def document(rng: random.Random, day: date, items: int) -> str:
    timeline = "\n".join(
        f"- {day} {10 + i:02d}:{rng.randrange(60):02d} Step {i} of the response."
        for i in range(rng.randint(4, 12))
    )
    factors = "\n".join(f"- {f}" for f in rng.sample(FACTORS, rng.randint(2, 4)))
    actions = "\n".join(
        f"- {rng.choice(ACTIONS)} (item {i}) — owner @octo-{rng.randrange(40)} — due {day + timedelta(30)}"
        for i in range(items)
    )
    summary = " ".join("The service slowed down while the cache refilled." for _ in range(rng.randint(3, 30)))
    return (
        f"---\ndate: {day}\n---\n# Postmortem\n\n## Summary\n\n{summary}\n\n"
        "## Impact\n\nSome requests failed.\n\n"
        f"## Timeline\n\nAll times UTC.\n\n{timeline}\n\n## Contributing factors\n\n{factors}\n\n"
        f"## Action items\n\n{actions}\n"
    )


def history_spec(incidents: int, items: int, seed_value: int = 13) -> list[SeedIncident]:
    rng = random.Random(seed_value)
    specs = []
    for _ in range(incidents):
        opened = START + timedelta(minutes=rng.randrange(365 * 24 * 60))
        postmortem = opened + timedelta(hours=rng.uniform(1, 72))
        pr = postmortem + timedelta(days=rng.uniform(1, 10))
        merged = pr + timedelta(days=rng.uniform(1, 10))
        done = merged.date() < TODAY
        seeded_items = []
        for _ in range(items):
            closed = merged + timedelta(days=rng.uniform(2, 60))
            seeded_items.append(
                SeedItem(merged, closed if closed.date() < TODAY and rng.random() < 0.7 else None)
            )
        specs.append(
            SeedIncident(
                "near-miss" if rng.random() < 0.3 else "incident",
                opened,
                reporter=f"octo-{rng.randrange(40)}",
                postmortem=postmortem,
                due=(postmortem + timedelta(days=14)).date(),
                pr=pr if pr.date() < TODAY else None,
                merged=merged if done else None,
                author=f"octo-{rng.randrange(40)}",
                document=document(rng, opened.date(), items),
                commenters=[f"octo-{rng.randrange(40)}" for _ in range(rng.randint(0, 5))],
                reviewers=[f"octo-{rng.randrange(40)}" for _ in range(rng.randint(1, 3))],
                items=seeded_items,
            )
        )
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--items-per-postmortem", type=int, default=3)
    parser.add_argument(
        "--latency", type=float, default=0.15, help="seconds each request takes, as GitHub's would (0: none)"
    )
    args = parser.parse_args()

    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO)
    seed(fake, OWNER, REPO, history_spec(args.incidents, args.items_per_postmortem))
    if args.latency:  # hooks run outside the fake's lock: concurrent requests wait side by side
        fake.before(None, ".", lambda call: time.sleep(args.latency))
    github = fake.client(OWNER, REPO)
    repo = fake.repo(OWNER, REPO)
    items = sum(1 for i in repo.issues.values() if "action-item" in {lb["name"] for lb in i["labels"]})
    print(
        f"seeded: {args.incidents} incidents, {len(repo.pulls)} pull requests, {items} action-item issues, "
        f"{len(repo.comments)} comments"
    )

    cache = ETagCache()
    started = time.perf_counter()
    history = collect_history(github, Config(), cache=cache)
    collected = time.perf_counter()
    report = build_report(history, TODAY, repository=f"{OWNER}/{REPO}")
    built = time.perf_counter()
    markdown = render_markdown(report)
    rendered = time.perf_counter()
    html = render_html(report)
    drawn = time.perf_counter()
    requests = len(fake.calls)
    print(f"collect:  {collected - started:6.2f} s  ({requests} requests)")
    print(f"report:   {built - collected:6.2f} s  ({len(history.documents)} documents checked)")
    print(f"markdown: {rendered - built:6.2f} s  ({len(markdown):,} characters)")
    print(f"html:     {drawn - rendered:6.2f} s  ({len(html):,} characters)")
    print(f"total:    {drawn - started:6.2f} s")

    before = len(fake.calls)
    collect_history(github, Config(), cache=cache)
    again = fake.calls[before:]
    not_modified = sum(1 for c in again if c.status == 304)
    print(
        f"second collection with the ETag cache: {len(again)} requests, {not_modified} answered 304 "
        f"(free): {len(again) - not_modified} count against the rate limit"
    )


if __name__ == "__main__":
    main()
