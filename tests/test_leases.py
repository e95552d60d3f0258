"""A delivery stays recoverable until done: leases, recovery, time limits, giving up visibly.

In process, on SQLite and on a real Redis, with huey's own dequeue/execute (`drain`); the same
behaviours across real processes and kill -9 are in tests/test_crash_recovery.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from app.github.attempt import AttemptAbandoned
from app.github.client import TransientGitHubError
from app.github.events import Event
from app.github.router import Router
from app.server.delivery_store import DONE, FAILED, RETRYING, RUNNING
from tests.test_queue import Recorder, drain, make_queue, scheduled_in
from tests.test_settings import app_env
from tests.test_worker import CONFIG, OWNER, REPO, labeled_event


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    """Job 3 paces writes with real sleeps; these tests need no pacing."""
    from app.jobs.action_items import pacing

    monkeypatch.setattr(pacing, "WRITE_INTERVAL", 0.0)


@pytest.fixture(params=["sqlite", "redis"])
def env(request, tmp_path) -> dict:
    env = app_env(tmp_path, BLAMELESS_RETRY_DELAY="1", BLAMELESS_RETRIES="3", BLAMELESS_LEASE="1")
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_clean_url")
    return env


@pytest.fixture
def github():
    from tests.fake_github import FakeGitHub

    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, files={".github/blameless.yml": CONFIG})
    fake.add_issue(OWNER, REPO, "Checkout down")
    return fake


def take_and_die(queue, delivery: str) -> None:
    """What a worker killed mid-job leaves: huey's message gone, the delivery held by its lease."""
    [task] = [queue.huey.dequeue() for _ in range(queue.huey.pending_count())]
    assert task.args[0] == delivery
    assert queue.store.take(delivery, "dead-worker", lease=1).attempts == 1
    assert queue.store.acquire(f"repo:{OWNER}/{REPO}".lower(), "dead-worker", ttl=1)


def test_a_dead_workers_delivery_is_recovered_once_its_lease_runs_out(env, github):
    recorder = Recorder()
    queue = make_queue(env, github, recorder)
    queue.submit(labeled_event("d-1"))
    take_and_die(queue, "d-1")
    assert queue.recover() == 0  # the lease is live: the worker may only be slow
    time.sleep(1.1)
    assert queue.recover() == 1 and queue.recover() == 0
    drain(queue)
    assert recorder.runs == ["d-1"]
    assert queue.store.get("d-1")["status"] == DONE and queue.store.get("d-1")["attempts"] == 2
    assert queue.store.locks() == []  # the dead worker's lock ran out with its lease


def test_githubs_redelivery_is_accepted_once_the_lease_ran_out_not_before(env, github):
    recorder = Recorder()
    queue = make_queue(env, github, recorder)
    queue.submit(labeled_event("d-1"))
    take_and_die(queue, "d-1")
    assert queue.submit(labeled_event("d-1")).reason == "delivery already running"
    time.sleep(1.1)
    again = queue.submit(labeled_event("d-1"))
    assert (again.enqueued, again.reason) == (True, "queued (previously running)")
    assert queue.recover() == 0  # queued again already: recovery adds no second copy
    drain(queue)
    assert recorder.runs == ["d-1"]


def test_the_lease_and_the_lock_are_renewed_while_a_long_job_runs(env, github):
    recorder = Recorder(pause=2.5)  # longer than two leases
    queue = make_queue(env, github, recorder)
    queue.submit(labeled_event("d-1"))
    seen = []

    def watch() -> None:
        time.sleep(1.8)
        seen.append((queue.store.get("d-1")["status"], queue.recover(), queue.store.locks()))

    watcher = threading.Thread(target=watch)
    watcher.start()
    drain(queue)
    watcher.join()
    assert seen == [(RUNNING, 0, [f"repo:{OWNER}/{REPO}".lower()])]  # alive: not taken for lost
    assert recorder.runs == ["d-1"] and queue.store.get("d-1")["status"] == DONE


def hanging_router(wrote: list, *, write_first: bool) -> tuple[Router, threading.Event]:
    router, wake = Router(), threading.Event()

    @router.register("issues.labeled")
    def handler(context):
        if write_first:
            context.github.create_comment(1, "first")
        wake.wait(10)  # stuck (a pathological document, a hung socket)
        try:
            context.github.create_comment(1, "after the limit")
        except AttemptAbandoned:
            wrote.append("refused")
            raise
        wrote.append("written")

    return router, wake


def test_a_job_over_its_time_limit_frees_the_worker_fails_visibly_and_writes_nothing_more(env, github):
    env = {**env, "BLAMELESS_JOB_TIMEOUT": "1"}
    wrote: list = []
    router, wake = hanging_router(wrote, write_first=False)
    queue = make_queue(env, github, Recorder())
    queue._router = router
    queue.submit(labeled_event("d-1"))
    started = time.monotonic()
    drain(queue)
    assert time.monotonic() - started < 3  # the worker thread is free again
    record = queue.store.get("d-1")
    assert (record["status"], record["error"]) == (FAILED, "JobTimedOut")  # nothing done: stuck
    wake.set()
    deadline = time.monotonic() + 5
    while not wrote and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wrote == ["refused"]  # the abandoned run could not write any more
    assert [c["body"] for c in github.comments_on(OWNER, REPO, 1)] == []
    assert queue.store.locks() == []


def test_a_slow_job_that_made_progress_is_retried_after_its_time_limit(env, github):
    env = {**env, "BLAMELESS_JOB_TIMEOUT": "1"}
    wrote: list = []
    router, wake = hanging_router(wrote, write_first=True)
    queue = make_queue(env, github, Recorder())
    queue._router = router
    queue.submit(labeled_event("d-1"))
    drain(queue)
    wake.set()
    assert queue.store.get("d-1")["status"] == RETRYING
    assert scheduled_in(queue)


def test_the_backoff_starts_over_after_an_attempt_that_wrote(env, github):
    calls = []
    router = Router()

    @router.register("issues.labeled")
    def handler(context):
        calls.append(1)
        context.github.create_comment(1, f"step {len(calls)}")  # progress every time
        raise TransientGitHubError(502, "Bad Gateway")

    queue = make_queue({**env, "BLAMELESS_RETRIES": "2"}, github, Recorder())
    queue._router = router
    queue.submit(labeled_event("d-1"))
    drain(queue, later=1, rounds=6)
    # More attempts than BLAMELESS_RETRIES: each one got somewhere, so none counts against it,
    # and each comes back soon (a quarter of the first delay), never doubling.
    assert len(calls) >= 5 and queue.store.get("d-1")["status"] == RETRYING
    assert all(delay <= 0.25 for delay in scheduled_in(queue))


def test_an_outage_ends_as_a_failure_after_the_bounded_time(env, github):
    queue = make_queue({**env, "BLAMELESS_GIVE_UP_AFTER": "1"}, github, Recorder())
    github.fail_next(502, method="POST", path="/comments", count=100)
    queue.submit(labeled_event("d-1"))
    drain(queue)
    assert queue.store.get("d-1")["status"] == RETRYING
    time.sleep(1.1)
    drain(queue, later=5)
    assert queue.store.get("d-1")["status"] == FAILED  # within the retries, but past the time


def test_the_daily_sweep_queues_failed_deliveries_again(env, github):
    recorder = Recorder()
    recorder.fail_with.append(TransientGitHubError(502, "down"))
    queue = make_queue({**env, "BLAMELESS_RETRIES": "0"}, github, recorder)
    queue.submit(labeled_event("d-1"))
    drain(queue)
    assert queue.store.get("d-1")["status"] == FAILED
    assert queue.requeue_failed() == 1
    drain(queue)
    assert recorder.runs == ["d-1"] and queue.store.get("d-1")["status"] == DONE
    assert queue.requeue_failed() == 0


def test_a_gave_up_job_three_says_what_is_left_on_the_pull_request(tmp_path):
    """The visible end of a long outage: the claim goes, a note lists the items without issue."""
    from app.jobs.action_items import UNFINISHED, on_approved_or_merged, report_unfinished
    from tests.test_action_items_job import (
        APPROVAL,
        HEAD,
        ITEMS,
        approval,
        context,
        default_rows,
        document,
        make_world,
        open_pull,
    )

    world = make_world()
    pull = open_pull(world, document(default_rows()))
    event = approval(world, pull, HEAD, "d-9")
    world.fake.fail_next(502, method="POST", path=r"/issues$", count=1)
    with pytest.raises(TransientGitHubError):
        on_approved_or_merged(context(world, event, APPROVAL))
    assert on_approved_or_merged.on_give_up is report_unfinished  # what the worker calls
    report_unfinished(context(world, event, APPROVAL), TransientGitHubError(502, "Bad Gateway"))
    [note] = [c for c in world.comments(pull["number"]) if UNFINISHED in c["body"]]
    assert "Items still without an issue" in note["body"] and "TransientGitHubError" in note["body"]
    assert all(text[:40] in note["body"] for _, text, _ in ITEMS)
    assert not world.claims(pull)  # no "Opening issues…" left behind
    on_approved_or_merged(context(world, event, APPROVAL))  # the sweep's retry finishes
    assert not [c for c in world.comments(pull["number"]) if UNFINISHED in c["body"]]
    assert sorted(world.items()) == ["AI-1", "AI-2", "AI-3"]


def test_an_event_with_its_payload_is_what_recovery_requeues(env, github):
    queue = make_queue(env, github, Recorder())
    event = Event("issues", "d-7", labeled_event("d-7").payload)
    queue.submit(event)
    record = queue.store.record("d-7")
    assert record["status"] == "queued" and record["name"] == "issues"


def test_the_lease_time_limit_and_give_up_settings_are_read_and_checked(tmp_path):
    from app.server.settings import Settings, SettingsError

    settings = Settings.from_env(
        app_env(tmp_path, BLAMELESS_LEASE="5", BLAMELESS_JOB_TIMEOUT="60", BLAMELESS_GIVE_UP_AFTER="120")
    )
    assert (settings.lease, settings.job_timeout, settings.give_up_after) == (5, 60, 120)
    defaults = Settings.from_env(app_env(tmp_path))
    assert (defaults.lease, defaults.retry_delay, defaults.retries) == (30, 2, 8)
    with pytest.raises(SettingsError) as error:
        Settings.from_env(app_env(tmp_path, BLAMELESS_LEASE="0", BLAMELESS_JOB_TIMEOUT="soon"))
    assert any("BLAMELESS_LEASE" in p for p in error.value.problems)
    assert any("BLAMELESS_JOB_TIMEOUT" in p for p in error.value.problems)
