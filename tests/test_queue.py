"""The durable queue on SQLite and on a real Redis: statuses per delivery, retries, locks, sweep.

Tasks are run synchronously with `drain()` (huey's own dequeue/execute) so each step can be
inspected; two tests run huey's real consumer threads end to end.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from app.github.auth import AppAuth
from app.github.router import Router
from app.server.delivery_store import (
    DONE,
    FAILED,
    QUEUED,
    RETRYING,
    RUNNING,
    STALE_AFTER,
    SqliteDeliveryStore,
)
from app.server.queue import MAX_RETRY_DELAY, DeliveryQueue, QueueUnavailable, retry_delay
from app.server.settings import Settings
from tests.fake_github import FakeGitHub
from tests.test_settings import app_env
from tests.test_worker import CONFIG, OWNER, REPO, FakeApp, labeled_event


@pytest.fixture(params=["sqlite", "redis"])
def backend_env(request, tmp_path) -> dict:
    """The environment of each queue backend: SQLite in tmp_path, or the real redis-server."""
    env = app_env(tmp_path, BLAMELESS_RETRY_DELAY="1", BLAMELESS_RETRIES="3")
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_clean_url")
    return env


@pytest.fixture
def github() -> FakeGitHub:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, files={".github/blameless.yml": CONFIG})
    fake.add_issue(OWNER, REPO, "Checkout down")
    return fake


class Recorder:
    """A router whose handler comments once per run, and can be told to fail."""

    def __init__(self, key: str = "issues.labeled", pause: float = 0.0):
        self.runs: list[str] = []
        self.active = 0
        self.overlaps = 0
        self.fail_with: list[Exception] = []
        self.pause = pause
        self._lock = threading.Lock()
        self.router = Router()
        self.router.register(key)(self.handle)

    def handle(self, context) -> None:
        with self._lock:
            self.active += 1
            self.overlaps += self.active > 1
        try:
            time.sleep(self.pause)
            if self.fail_with:
                raise self.fail_with.pop(0)
            context.github.create_comment(1, f"run for {context.event.delivery_id}")
            self.runs.append(context.event.delivery_id)
        finally:
            with self._lock:
                self.active -= 1


def make_queue(env: dict, github: FakeGitHub, recorder: Recorder, **kwargs) -> DeliveryQueue:
    settings = Settings.from_env(env)
    auth = AppAuth(settings, transport=FakeApp(github).transport)
    kwargs.setdefault("redeliver", list)  # the App API's deliveries: tests/test_redeliver.py
    return DeliveryQueue(settings, router=recorder.router, client_factory=auth, **kwargs)


def drain(queue: DeliveryQueue, later: float = 0.0, rounds: int = 20) -> int:
    """Run every pending task, and every scheduled one due within `later` seconds, until idle."""
    huey, ran = queue.huey, 0
    for _ in range(rounds):
        when = huey._get_timestamp() + timedelta(seconds=later)
        tasks = []
        while huey.pending_count():  # not dequeue() until None: on Redis that blocks for 1 s
            tasks.append(huey.dequeue())
        tasks += huey.read_schedule(when)
        if not tasks:
            break
        for task in tasks:
            huey.execute(task, when)
            ran += 1
    return ran


def scheduled_in(queue: DeliveryQueue) -> list[float]:
    now = queue.huey._get_timestamp()
    return [(task.eta - now).total_seconds() for task in queue.huey.scheduled()]


# ---------------------------------------------------------------- the delivery store


def test_the_store_decides_who_may_claim_a_delivery(backend_env):
    clock = [1000.0]
    queue = make_queue(backend_env, FakeGitHub(), Recorder())
    store = queue.store
    store.clock = lambda: clock[0]
    assert store.claim("a", "issues.labeled") == (True, None)
    assert store.claim("a", "issues.labeled") == (False, QUEUED)  # in flight: a duplicate
    assert store.take("a", "worker-1", lease=30).attempts == 1
    assert store.claim("a", "issues.labeled") == (False, RUNNING)  # its lease is live
    store.settle("a", "worker-1", DONE)
    assert store.claim("a", "issues.labeled") == (False, DONE)  # done: never again
    store.mark("b", FAILED, "GitHubError")
    assert store.claim("b", "issues.labeled") == (True, FAILED)  # failed part-way: again
    store.claim("c", "issues.labeled")
    store.take("c", "worker-1", lease=30)
    clock[0] += 31  # the worker died holding it: its lease ran out, not an hour
    assert store.claim("c", "issues.labeled") == (True, RUNNING)
    assert store.get("c")["status"] == QUEUED
    store.claim("d", "issues.labeled")
    assert store.claim("d", "issues.labeled") == (False, QUEUED)
    clock[0] += STALE_AFTER  # queued, but no worker ever took it
    assert store.claim("d", "issues.labeled") == (True, QUEUED)


def test_a_lease_is_held_by_one_worker_and_renewed_while_it_works(backend_env):
    clock = [1000.0]
    store = make_queue(backend_env, FakeGitHub(), Recorder()).store
    store.clock = lambda: clock[0]
    store.claim("a", "issues.labeled", "issues", {"action": "labeled"})
    assert store.take("a", "w1", lease=30).attempts == 1
    assert store.take("a", "w2", lease=30) == "held"
    clock[0] += 20
    assert store.renew("a", "w1", lease=30)
    assert not store.renew("a", "w2", lease=30)
    clock[0] += 20
    assert store.take("a", "w2", lease=30) == "held"  # renewed: still w1's
    assert store.recover() == []
    clock[0] += 31
    [lost] = store.recover()  # w1 died: recovery queues it again, with its payload
    assert (lost.delivery_id, lost.name, lost.payload) == ("a", "issues", {"action": "labeled"})
    assert store.recover() == []  # once
    assert store.take("a", "w2", lease=30).attempts == 2
    store.settle("a", "w2", DONE)
    assert store.take("a", "w3", lease=30) == "done"


def test_repository_locks_exclude_and_expire(backend_env):
    store = make_queue(backend_env, FakeGitHub(), Recorder()).store
    assert store.acquire("repo:o/r", "w1", ttl=0.2)
    assert store.locks() == ["repo:o/r"]
    assert store.renew_lock("repo:o/r", "w1", ttl=0.2) and not store.renew_lock("repo:o/r", "w2", ttl=0.2)
    assert not store.acquire("repo:o/r", "w2", ttl=0.2)
    store.release("repo:o/r", "w2")  # not the owner: no effect
    assert not store.acquire("repo:o/r", "w2", ttl=0.2)
    store.release("repo:o/r", "w1")
    assert store.acquire("repo:o/r", "w2", ttl=0.2)
    time.sleep(0.3)  # a crashed worker's lock runs out
    assert store.acquire("repo:o/r", "w3", ttl=0.2)


def test_old_records_are_pruned(tmp_path):
    clock = [0.0]
    store = SqliteDeliveryStore(tmp_path / "q.sqlite3", clock=lambda: clock[0])
    store.claim("old", "issues.labeled")
    clock[0] += 9 * 24 * 3600
    store.claim("new", "issues.labeled")
    assert store.prune() == 1
    assert store.get("old") is None and store.get("new") is not None


# ---------------------------------------------------------------- processing


def test_a_delivery_is_processed_once_and_its_redelivery_is_skipped(backend_env, github):
    recorder = Recorder()
    queue = make_queue(backend_env, github, recorder)
    assert queue.submit(labeled_event("d-1")).enqueued
    assert queue.huey.pending_count() == 1
    assert drain(queue) == 1
    assert recorder.runs == ["d-1"]
    assert queue.store.get("d-1")["status"] == DONE
    again = queue.submit(labeled_event("d-1"))
    assert (again.enqueued, again.reason) == (False, "delivery already done")
    assert drain(queue) == 0
    assert len(github.comments_on(OWNER, REPO, 1)) == 1


def test_a_5xx_is_retried_later_with_backoff_not_slept_on(backend_env, github):
    recorder = Recorder()
    queue = make_queue(backend_env, github, recorder)
    github.fail_next(502, method="POST", path="/comments", count=2)
    queue.submit(labeled_event("d-5xx"))
    started = time.monotonic()
    drain(queue)
    assert time.monotonic() - started < 1.0  # the worker did not sleep through the backoff
    assert queue.store.get("d-5xx")["status"] == RETRYING
    [first] = scheduled_in(queue)
    assert 0.5 < first <= 1.0  # BLAMELESS_RETRY_DELAY=1
    drain(queue, later=1.5, rounds=1)
    [second] = scheduled_in(queue)
    assert 1.5 < second <= 2.0  # doubled
    drain(queue, later=5)
    assert queue.store.get("d-5xx") | {"updated": None} == {
        "status": DONE,
        "event": "issues.labeled",
        "attempts": 3,
        "updated": None,
        "error": None,
    }
    assert recorder.runs == ["d-5xx"]
    assert len(github.comments_on(OWNER, REPO, 1)) == 1


def test_a_secondary_rate_limit_waits_at_least_githubs_retry_after(backend_env):
    limited = FakeGitHub(secondary_limit=0)
    limited.add_repo(OWNER, REPO, files={".github/blameless.yml": CONFIG})
    limited.add_issue(OWNER, REPO, "Checkout down")
    queue = make_queue(backend_env, limited, Recorder())
    queue.submit(labeled_event("d-limited"))
    drain(queue)
    [delay] = scheduled_in(queue)
    assert 59 < delay <= 60  # retry-after: 60, though the backoff alone would be 1 s
    limited.secondary_limit = None
    drain(queue, later=61)
    assert queue.store.get("d-limited")["status"] == DONE


def test_a_5xx_while_minting_the_token_is_retried_too(backend_env, github):
    recorder = Recorder()
    queue = make_queue(backend_env, github, recorder)
    auth = queue.client_factory  # the AppAuth itself
    original = auth._mint
    failures = [1]

    def flaky(*args):
        if failures:
            failures.pop()
            from app.github.client import TransientGitHubError

            raise TransientGitHubError(503, "Service Unavailable", retry_after=5)
        return original(*args)

    auth._mint = flaky
    queue.submit(labeled_event("d-token"))
    drain(queue)
    assert queue.store.get("d-token")["status"] == RETRYING
    assert 4 < scheduled_in(queue)[0] <= 5
    drain(queue, later=6)
    assert recorder.runs == ["d-token"]


def test_retries_run_out_then_a_redelivery_processes_it_again(backend_env, github):
    recorder = Recorder()
    queue = make_queue(backend_env, github, recorder)  # BLAMELESS_RETRIES=3
    github.fail_next(502, method="POST", path="/comments", count=4)
    queue.submit(labeled_event("d-down"))
    drain(queue, later=3600)
    record = queue.store.get("d-down")
    assert (record["status"], record["attempts"], record["error"]) == (
        FAILED,
        4,
        "TransientGitHubError",
    )
    assert queue.huey.scheduled_count() == 0
    again = queue.submit(labeled_event("d-down"))
    assert (again.enqueued, again.reason) == (True, "queued (previously failed)")
    drain(queue)
    assert recorder.runs == ["d-down"]


def test_a_permanent_error_fails_at_once(backend_env, github):
    recorder = Recorder()
    recorder.fail_with.append(KeyError("issue"))
    queue = make_queue(backend_env, github, recorder)
    queue.submit(labeled_event("d-bug"))
    drain(queue, later=3600)
    record = queue.store.get("d-bug")
    assert (record["status"], record["attempts"], record["error"]) == (FAILED, 1, "KeyError")


def test_a_busy_repository_reschedules_the_delivery(backend_env, github, monkeypatch):
    recorder = Recorder()
    queue = make_queue(backend_env, github, recorder)
    assert queue.store.acquire(f"repo:{OWNER}/{REPO}", "someone-else", ttl=60)
    queue.submit(labeled_event("d-wait"))
    monkeypatch.setattr("app.server.queue.LOCK_WAIT", 0.1)
    drain(queue)
    assert recorder.runs == [] and queue.huey.scheduled_count() == 1
    queue.store.release(f"repo:{OWNER}/{REPO}", "someone-else")
    drain(queue, later=3)
    assert recorder.runs == ["d-wait"]


def test_the_queue_being_down_is_reported_as_unavailable(tmp_path):
    env = app_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    queue = make_queue(env, FakeGitHub(), Recorder())
    with pytest.raises(QueueUnavailable):
        queue.submit(labeled_event())
    with pytest.raises(Exception):  # noqa: B017 - any connection error will do
        queue.ping()


# ---------------------------------------------------------------- huey's real consumer


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_the_real_consumer_processes_deliveries_one_repository_at_a_time(backend_env, github):
    recorder = Recorder(pause=0.05)
    queue = make_queue(backend_env, github, recorder)
    consumer = queue.consumer(workers=4, periodic=False)
    consumer.start()
    try:
        for n in range(6):
            queue.submit(labeled_event(f"d-{n}"))
        done = wait_for(
            lambda: all((queue.store.get(f"d-{n}") or {}).get("status") == DONE for n in range(6))
        )
    finally:
        consumer.stop(graceful=True)
    assert done
    assert sorted(recorder.runs) == [f"d-{n}" for n in range(6)]
    assert recorder.overlaps == 0  # the repository lock kept the handlers apart


# ---------------------------------------------------------------- the daily sweep


def test_the_daily_sweep_enqueues_each_repository_once_a_day(backend_env, github):
    github.add_repo(OWNER, "api", files={".github/blameless.yml": CONFIG})
    github.add_issue(OWNER, "api", "Latency")
    recorder = Recorder(key="schedule.daily")
    queue = make_queue(
        backend_env,
        github,
        recorder,
        installations=lambda: [(7, OWNER, REPO), (7, OWNER, "api")],
    )
    assert queue.daily_sweep() == 2
    assert queue.daily_sweep() == 0  # a second consumer firing the same periodic task
    drain(queue)
    assert sorted(r.split(":")[-1] for r in recorder.runs) == [f"{OWNER}/api", f"{OWNER}/{REPO}"]


def test_no_sweep_handler_means_no_listing(backend_env, github):
    listed = []
    queue = make_queue(
        backend_env,
        github,
        Recorder(),
        installations=lambda: listed.append(1) or [],
    )
    assert queue.daily_sweep() == 0
    assert listed == []


def test_the_sweep_is_a_periodic_task_at_the_configured_hour(tmp_path):
    from datetime import datetime

    env = app_env(tmp_path, BLAMELESS_SWEEP_HOUR="4")
    queue = make_queue(env, FakeGitHub(), Recorder())
    periodic = queue.huey._registry.periodic_tasks
    [sweep] = [p for p in periodic if p.name == "daily_sweep"]
    assert sweep.validate_datetime(datetime(2026, 5, 4, 4, 0))
    assert not sweep.validate_datetime(datetime(2026, 5, 4, 5, 0))


def test_backoff_doubles_only_without_progress_capped_and_never_under_githubs_wait():
    for n, full in ((0, 2.5), (1, 10), (2, 20), (3, 40)):  # 0: the attempt made progress
        assert 0.75 * full <= retry_delay(n, 10, 0) <= full  # jittered downwards
    assert 0.75 * MAX_RETRY_DELAY <= retry_delay(20, 10, 0) <= MAX_RETRY_DELAY
    assert retry_delay(1, 10, 120) == 120  # retry-after, to the second


def test_the_queued_message_holds_the_delivery_and_nothing_else(backend_env, github):
    """State lives in GitHub: the queue keeps the delivery in flight, no secret, no token."""
    queue = make_queue(backend_env, github, Recorder())
    event = labeled_event("d-msg")
    queue.submit(event)
    [task] = queue.huey.pending()
    assert task.name == "process_delivery"
    assert task.args == (event.delivery_id, event.name, event.payload)
    assert task.kwargs == {}


def test_a_revoked_cached_token_is_dropped_and_the_delivery_retried(backend_env, github):
    recorder = Recorder()
    queue = make_queue(backend_env, github, recorder)
    queue.client_factory.installation_token(7, REPO)  # cached
    for token in [t for t in github.tokens if t.startswith("ghs_minted")]:
        del github.tokens[token]  # revoked at GitHub's end
    queue.submit(labeled_event("d-revoked"))
    drain(queue, later=5)
    assert recorder.runs == ["d-revoked"]
    assert queue.store.get("d-revoked")["attempts"] == 2
