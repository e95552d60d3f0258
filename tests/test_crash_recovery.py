"""Nothing lost when a worker dies or GitHub misbehaves: real processes, kill -9, a faulty GitHub.

The shared fake GitHub runs as a process of its own (`tests.fake_github_server`); the App runs as
the README says (`blameless-bot web` and `blameless-bot worker`, here `python -m app.server.cli`
so that this tree's code runs) on SQLite and on a real Redis. Each job is stopped dead at a chosen
request (the fake holds it, the test kills the worker with SIGKILL), a new worker is started, and
GitHub's state is counted: every job completes with exactly its effects, and no claim comment or
repository lock is left behind. Leases are short here (BLAMELESS_LEASE), so recovery takes seconds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from app.github import markers
from app.jobs.check_postmortem import CHECK_NAMES, UNFINISHED_TITLE
from app.server.delivery_store import DONE
from app.server.queue import make_huey, make_store
from app.server.settings import Settings
from tests.fake_github_server import FakeGitHubProcess
from tests.test_cli_app import free_port
from tests.test_settings import app_env, private_key_pem
from tests.test_webhook import sign

pytestmark = pytest.mark.processes

OWNER, REPO, INSTALLATION = "octo", "ops", 7
FULL = f"{OWNER}/{REPO}"
PATH = "docs/postmortems/2026-04-20-checkout-latency.md"
HEAD = "a" * 40
CONFIG = "incidents:\n  labels: [incident]\n"
OWNERS = ("alice", "bob", "carol", "dana")
LEASE = "1.5"
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- the world


def document(items: int = 8) -> str:
    rows = "\n".join(
        f"| AI-{n} | Add guardrail number {n} to the checkout deploy pipeline | guardrail | "
        f"@{OWNERS[n % len(OWNERS)]} | 2026-06-30 | CF-1 |"
        for n in range(1, items + 1)
    )
    return f"""---
incident: https://github.com/{FULL}/issues/1
status: final
---

# Postmortem: checkout latency

## Summary

For 40 minutes checkout requests slowed down after a configuration change.

## Impact

About 5% of checkout requests failed.

## Timeline

All times UTC, 2026-04-20.

- 14:02 Deployment pipeline rolled the change out. **Impact starts**
- 14:18 Latency alert paged the on-call engineer. **Detected**
- 14:41 The on-call engineer reverted the change. **Mitigated**
- 14:55 Error rate back to baseline. **Resolved**

## Contributing factors

- CF-1: Configuration changes reached every region at once, with no canary stage.
- CF-2: The latency alert waited for ten minutes of data before paging.

## Action items

| ID | Action | Type | Owner | Due | Addresses |
|---|---|---|---|---|---|
{rows}
"""


def repository() -> dict:
    return {
        "id": 1,
        "name": REPO,
        "full_name": FULL,
        "owner": {"login": OWNER, "type": "Organization"},
        "html_url": f"https://github.com/{FULL}",
        "default_branch": "main",
    }


def envelope(action: str, **fields) -> dict:
    return {
        "action": action,
        "repository": repository(),
        "installation": {"id": INSTALLATION},
        "sender": {"login": "octocat", "type": "User"},
        **fields,
    }


@dataclass
class Delivery:
    event: str
    payload: dict
    id: str = field(default_factory=lambda: f"d-{random.getrandbits(48):012x}")


def seed(fake: FakeGitHubProcess, items: int = 8) -> dict[str, Delivery]:
    """An incident, a merged postmortem PR with `items` action items, and one delivery per job."""
    fake.call("add_repo", OWNER, REPO, files={".github/blameless.yml": CONFIG}, assignable=list(OWNERS))
    incident = fake.call("add_issue", OWNER, REPO, "Checkout latency", "Slow.", labels=["incident"])
    labeled = envelope("labeled", issue=incident, label={"name": "incident"})
    pull = fake.call("add_pull", OWNER, REPO, head_sha=HEAD, files={PATH: document(items)})
    opened = envelope("opened", number=pull["number"], pull_request=pull)
    merged = fake.call("merge", OWNER, REPO, pull["number"])
    closed = envelope("closed", number=pull["number"], pull_request=merged)
    return {
        "job1": Delivery("issues", labeled),
        "job2": Delivery("pull_request", opened),
        "job3": Delivery("pull_request", closed),
    }


# ---------------------------------------------------------------- what GitHub holds


class Effects:
    """GitHub's state, counted the way each job promises it."""

    def __init__(self, state: dict):
        self.state = state
        self.issues = [i for i in state["issues"] if not i["pull"]]

    def comments_on(self, number: int) -> list[dict]:
        return [c for c in self.state["comments"] if c["_issue"] == number]

    def with_marker(self, kind: str, number: int) -> list[dict]:
        return [c for c in self.comments_on(number) if markers.find(c["body"], kind) is not None]

    def postmortems(self) -> list[dict]:
        return [i for i in self.issues if markers.find(i["body"], "postmortem-for")]

    def item_issues(self) -> list[dict]:
        return [i for i in self.issues if markers.find(i["body"], "action-item")]

    def assert_job1_exactly_once(self) -> None:
        assert len(self.postmortems()) == 1, [i["title"] for i in self.issues]
        assert len(self.with_marker("postmortem-link", 1)) == 1
        assert self.with_marker("postmortem-claim", 1) == []  # no "opening…" note left behind

    def assert_job3_exactly_once(self, items: int, pull: int) -> None:
        issues = self.item_issues()
        keys = [markers.find(i["body"], "action-item")["id"] for i in issues]
        assert sorted(keys) == sorted(f"AI-{n}" for n in range(1, items + 1)), keys  # one each
        assert all(i["state"] == "open" and len(i["assignees"]) == 1 for i in issues)
        assert len(self.with_marker("action-items-status", pull)) == 1
        assert self.with_marker("action-items-claim", pull) == []

    def assert_job2_exactly_once(self, *, faults: bool = False) -> None:
        """One run with a result per check, the latest of its name (the one GitHub shows), and
        none left spinning. Without faults, nothing else; with them, an attempt that failed
        closes its runs as "could not finish" (never left spinning) and the retry opens new ones."""
        runs = sorted(self.state["check_runs"], key=lambda r: r["id"])
        names = sorted(CHECK_NAMES.values())
        assert all(r["status"] == "completed" for r in runs)
        counted = [r for r in runs if r["title"] != UNFINISHED_TITLE]
        assert sorted(r["name"] for r in counted) == names
        latest = {r["name"]: r for r in runs}
        assert all(latest[r["name"]]["id"] == r["id"] for r in counted)
        if not faults:
            assert len(runs) == len(names)


# ---------------------------------------------------------------- the App's processes


class App:
    """web and worker processes of the App, started as the README says."""

    def __init__(self, tmp_path: Path, fake: FakeGitHubProcess, redis_url: str | None, **settings: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "BLAMELESS_", "REDIS_"))}
        defaults = {
            "GITHUB_API_URL": fake.url,
            "BLAMELESS_LEASE": LEASE,
            "BLAMELESS_WRITE_INTERVAL": "0.02",
            "BLAMELESS_WORKERS": "2",
            "BLAMELESS_QUEUE_NAME": f"q{random.getrandbits(32):08x}",
        }
        env.update(app_env(tmp_path, **{**defaults, **settings}))  # a setting None: the default
        if redis_url:
            env["REDIS_URL"] = redis_url
        env["PYTHONPATH"] = str(ROOT)
        self.env, self.tmp_path = env, tmp_path
        self.processes: list[subprocess.Popen] = []
        self.webs: list[str] = []
        self.logs: list[Path] = []
        settings_ = Settings.from_env(env)
        self.store = make_store(settings_, make_huey(settings_))

    def start(self, command: list[str], name: str, **extra_env: str) -> subprocess.Popen:
        log = self.tmp_path / f"{name}.log"
        self.logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "app.server.cli", *command],
            env={**self.env, **extra_env},
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def web(self) -> str:
        port = free_port()
        name = f"web-{len(self.webs)}"
        self.start(["web", "--processes", "1", "--bind", f"127.0.0.1:{port}"], name)
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30), self.log_text()
        self.webs.append(base)
        return base

    def worker(self) -> subprocess.Popen:
        return self.start(["worker"], f"worker-{len(self.processes)}")

    def post(self, delivery: Delivery, web: str | None = None) -> dict:
        body = json.dumps(delivery.payload).encode()
        response = httpx.post(
            f"{web or self.webs[0]}/webhook",
            content=body,
            headers={
                "X-GitHub-Event": delivery.event,
                "X-GitHub-Delivery": delivery.id,
                "X-Hub-Signature-256": sign(body),
                "Content-Type": "application/json",
            },
            timeout=10,
        )
        assert response.status_code == 202, response.text
        return response.json()

    def status(self, delivery: Delivery) -> str | None:
        return (self.store.get(delivery.id) or {}).get("status")

    def log_text(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-4000:]}" for p in self.logs if p.exists())

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(predicate, timeout: float = 60.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(every)
    return False


@pytest.fixture(params=["sqlite", "redis"])
def backend(request) -> str | None:
    return request.getfixturevalue("redis_clean_url") if request.param == "redis" else None


@pytest.fixture
def fake(tmp_path):
    process = FakeGitHubProcess(private_key_pem(), {INSTALLATION: OWNER}, tmp_path / "fake.log")
    yield process
    process.stop()


@pytest.fixture
def app(tmp_path, fake, backend):
    app = App(tmp_path, fake, backend)
    yield app
    app.stop()


# ---------------------------------------------------------------- kill -9 at chosen points

CRASH_POINTS = {
    # job: (held request: method, path, matching requests let through first)
    "job1": ("PATCH", r"/issues/comments/\d+$", 0),  # the postmortem exists; the incident's link not yet
    "job3": ("POST", rf"/repos/{FULL}/issues$", 4),  # halfway through 8 action items
    "job2": ("PATCH", r"/check-runs/\d+$", 1),  # check runs in progress
}


@pytest.mark.parametrize("job", ["job1", "job2", "job3"])
def test_a_worker_killed_mid_job_is_recovered_with_exactly_the_expected_effects(fake, app, job):
    deliveries = seed(fake)
    delivery = deliveries[job]
    method, path, skip = CRASH_POINTS[job]
    fake.hold(method, path, skip)
    app.web()
    worker = app.worker()
    assert app.post(delivery)["outcome"] == "queued"
    assert wait_for(lambda: fake.held() == 1, 60), app.log_text()
    kill(worker)  # kill -9 while the request is in flight
    fake.release()
    killed_at = time.monotonic()
    assert app.status(delivery) == "running"
    if job == "job1":
        # GitHub's redelivery of it is accepted once the dead worker's lease ran out.
        assert app.post(delivery)["outcome"] == "duplicate"  # lease still live
        time.sleep(float(LEASE) + 0.2)
        assert app.post(delivery) == {"outcome": "queued", "reason": "queued (previously running)"}
    app.worker()
    assert wait_for(lambda: app.status(delivery) == DONE, 60), app.log_text()
    recovered_in = time.monotonic() - killed_at
    effects = Effects(fake.state(FULL))
    pull = delivery.payload.get("number")
    {
        "job1": effects.assert_job1_exactly_once,
        "job2": effects.assert_job2_exactly_once,
        "job3": lambda: effects.assert_job3_exactly_once(8, pull),
    }[job]()
    assert app.store.locks() == []  # no repository lock left behind
    assert recovered_in < 30


def test_every_job_completes_at_15_percent_502s_and_5_percent_rate_limits(fake, app):
    """With the default retry settings: the backoff starts over whenever an attempt writes."""
    deliveries = seed(fake)
    fake.faults(p502=0.15, prate=0.05, retry_after=1, seed=7)
    app.web()
    app.worker()
    started = time.monotonic()
    for job in ("job1", "job2", "job3"):
        app.post(deliveries[job])
    done = wait_for(lambda: all(app.status(d) == DONE for d in deliveries.values()), 170, every=0.5)
    took = time.monotonic() - started
    state = fake.state(FULL)
    assert done, (took, {k: app.store.get(d.id) for k, d in deliveries.items()}, state["injected"])
    assert state["injected"]["502"] > 0 and state["injected"]["rate"] > 0
    effects = Effects(state)
    effects.assert_job1_exactly_once()
    effects.assert_job2_exactly_once(faults=True)
    effects.assert_job3_exactly_once(8, deliveries["job3"].payload["number"])
    assert app.store.locks() == []


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_two_webs_and_two_workers_on_redis_do_each_job_once_whatever_the_redeliveries(fake, app):
    deliveries = seed(fake)
    webs = [app.web(), app.web()]
    app.worker()
    app.worker()
    rng = random.Random(3)
    posts = [d for d in deliveries.values() for _ in range(3)]  # each delivered three times
    rng.shuffle(posts)  # out of order: the merge before the label, duplicates interleaved
    outcomes = [app.post(d, rng.choice(webs))["outcome"] for d in posts]
    assert outcomes.count("queued") == 3  # one per delivery id; the rest were duplicates
    # And a second delivery id for the same merge (GitHub sends closed, a person redelivers).
    again = Delivery(deliveries["job3"].event, deliveries["job3"].payload)
    app.post(again, webs[1])
    every = [*deliveries.values(), again]
    assert wait_for(lambda: all(app.status(d) == DONE for d in every), 90), app.log_text()
    effects = Effects(fake.state(FULL))
    effects.assert_job1_exactly_once()
    effects.assert_job2_exactly_once()
    effects.assert_job3_exactly_once(8, deliveries["job3"].payload["number"])
    assert app.store.locks() == []
