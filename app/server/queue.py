"""The durable queue: huey on SQLite (default) or Redis over the delivery store, leases and retries.

The web process only `submit()`s: it claims the delivery id in the store (keeping the event) and
enqueues it. A worker takes the delivery under a lease and its repository's lock under the same
lease, renews both while the job runs (`Heartbeat`), runs `app.server.worker.process_delivery`
in a thread it can abandon after BLAMELESS_JOB_TIMEOUT, and marks the delivery done. huey drops a
message once a worker takes it; the store is what survives a dead worker: its lease runs out and
the recovery pass (`recover`, at worker start and every third of a lease) queues the delivery
again. On a transient GitHub error another attempt is scheduled: soon after an attempt that wrote
something, with a doubling backoff only while attempts change nothing (never less than GitHub's
`retry-after`), until BLAMELESS_RETRIES or BLAMELESS_GIVE_UP_AFTER: then the delivery fails where
people can see it, and the daily sweep takes it up again. A redelivery of a done delivery is
skipped; one of a failed delivery, or of one whose lease ran out, is processed again.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.exceptions import RetryTask

from app.github.attempt import CURRENT as attempt_var
from app.github.attempt import Attempt
from app.github.events import Event
from app.github.router import Router
from app.server.delivery_store import DONE, FAILED, RETRYING, RedisDeliveryStore, SqliteDeliveryStore, Taken
from app.server.settings import Settings
from app.server.worker import ClientFactory, process_delivery, report_failure, transient_delay

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_WAIT = 5.0  # how long a worker thread waits for a busy repository before rescheduling
LOCK_POLL = 0.05
LOCK_BUSY_DELAY = 1.0  # plus jitter, so rescheduled deliveries do not all return at once
MAX_RETRY_DELAY = 5 * 60
IDLE_POLL_MAX = 1.0  # an idle worker looks at the queue at least this often (huey's default: 10 s)
SWEEP_EVENT = "schedule"  # internal event name: never accepted from the webhook
SWEEP_ACTION = "daily"


class QueueUnavailable(RuntimeError):
    """The store or queue cannot take a delivery now: answer 503 so GitHub can redeliver it."""


class JobTimedOut(RuntimeError):
    """An attempt ran over BLAMELESS_JOB_TIMEOUT: the worker stopped waiting for it."""


@dataclass(frozen=True)
class Submission:
    enqueued: bool
    reason: str


# ---------------------------------------------------------------- huey


def make_huey(settings: Settings) -> Huey:
    """SqliteHuey at the configured path, or RedisHuey when REDIS_URL is set."""
    if settings.redis_url:
        return RedisHuey(settings.queue_name, url=settings.redis_url, results=False)
    settings.queue_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(settings.queue_name, filename=str(settings.queue_path), results=False)


def make_store(settings: Settings, huey: Huey):
    if settings.redis_url:
        return RedisDeliveryStore(huey.storage.conn, prefix=f"{settings.queue_name}")
    return SqliteDeliveryStore(settings.queue_path)


class DeliveryQueue:
    """Deliveries in, work out: what `create_app` enqueues to and `blameless-bot worker` runs."""

    def __init__(
        self,
        settings: Settings,
        *,
        router: Router | None = None,
        client_factory: ClientFactory | None = None,
        installations: Callable[[], Iterable[tuple[int, str, str]]] | None = None,
        redeliver: Callable[[], list] | None = None,
        huey: Huey | None = None,
        store=None,
    ):
        self.settings = settings
        self.huey = huey or make_huey(settings)
        self.store = store or make_store(settings, self.huey)
        self._router = router
        self._client_factory = client_factory
        self._installations = installations
        self._redeliver = redeliver
        self._auth = None  # the AppAuth, built on first use: the web process never needs one
        # Named explicitly: the web and the worker must agree on the task name whatever the module.
        self.process = self.huey.task(retries=2, retry_delay=30, name="process_delivery")(self._process)
        # A backstop to the recovery thread of each worker: huey's scheduler runs it every minute.
        self.recovery = self.huey.periodic_task(crontab(minute="*"), name="recover_deliveries")(self.recover)
        self.sweep = self.huey.periodic_task(
            crontab(minute="0", hour=str(settings.sweep_hour)), name="daily_sweep"
        )(self.daily_sweep)

    # -- wiring, resolved lazily so the web process never needs to build an App client

    @property
    def router(self) -> Router:
        if self._router is None:
            from app.jobs.routes import ROUTER

            self._router = ROUTER
        return self._router

    @property
    def client_factory(self) -> ClientFactory:
        if self._client_factory is None:
            self._client_factory = self._app_auth()  # callable: AppAuth.client_for
        return self._client_factory

    def _app_auth(self):
        from app.github.auth import AppAuth

        if self._auth is None:
            self._auth = AppAuth(self.settings)
        return self._auth

    # -- web side

    def submit(self, event: Event) -> Submission:
        """Claim the delivery id and enqueue it; raise QueueUnavailable if that cannot be done."""
        try:
            claimed, previous = self.store.claim(event.delivery_id, event.key, event.name, event.payload)
        except Exception as exc:
            raise QueueUnavailable(f"delivery store unreachable ({type(exc).__name__})") from exc
        if not claimed:
            return Submission(False, f"delivery already {previous}")
        try:
            self.process(event.delivery_id, event.name, event.payload)
        except Exception as exc:
            self._mark_quietly(event.delivery_id, FAILED, "enqueue failed")
            raise QueueUnavailable(f"queue unreachable ({type(exc).__name__})") from exc
        again = f" (previously {previous})" if previous else ""
        return Submission(True, f"queued{again}")

    def ping(self) -> None:
        """Raise if the queue's storage cannot be reached (for /readyz)."""
        self.store.ping()
        self.huey.storage.queue_size()

    # -- worker side

    def _process(self, delivery_id: str, name: str, payload: dict) -> None:
        event = Event(name=name, delivery_id=delivery_id, payload=payload)
        extra = {"delivery_id": delivery_id, "event": event.key}
        lock, owner = f"repo:{event.owner}/{event.repo}".lower(), uuid.uuid4().hex
        # One delivery per repository at a time: two deliveries for one incident must not race.
        self.store.defer(delivery_id, LOCK_WAIT + self.settings.lease)  # not lost while it waits
        if not self._acquire(lock, owner):
            log.info("repository busy, delivery rescheduled", extra=extra)
            delay = LOCK_BUSY_DELAY + random.random()
            self.store.defer(delivery_id, delay + self.settings.lease)
            raise RetryTask(delay=delay)
        try:
            taken = self.store.take(delivery_id, owner, self.settings.lease)
            if not isinstance(taken, Taken):
                # A copy queued again by recovery or a redelivery while another one ran.
                log.info("delivery %s, copy skipped", taken, extra=extra)
                return
            with Heartbeat(self.store, self.settings.lease, delivery_id, lock, owner):
                self._run(event, taken, owner, extra)
        finally:
            self.store.release(lock, owner)

    def _acquire(self, lock: str, owner: str) -> bool:
        """Wait a little for a busy repository: a burst of events for one issue is common, and
        rescheduling each loser would cost it a scheduler round (a second or more)."""
        deadline = time.monotonic() + LOCK_WAIT
        while not self.store.acquire(lock, owner, self.settings.lease):
            if time.monotonic() >= deadline:
                return False
            time.sleep(LOCK_POLL)
        return True

    def _run(self, event: Event, taken: Taken, owner: str, extra: dict) -> None:
        started = time.monotonic()
        current = Attempt(state=taken.state)
        try:
            outcome = run_with_time_limit(
                current,
                self.settings.job_timeout,
                lambda: process_delivery(event, self.settings, self.client_factory, self.router),
            )
        except Exception as exc:
            self._failed(event, exc, taken, current, owner, extra)
            return
        self.store.settle(event.delivery_id, owner, DONE)
        log.info(
            "delivery %s",
            outcome.status,
            extra={
                **extra,
                "reason": outcome.reason,
                "attempt": taken.attempts,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )

    def _failed(
        self, event: Event, exc: Exception, taken: Taken, current: Attempt, owner: str, extra: dict
    ) -> None:
        wait = transient_delay(exc)
        if isinstance(exc, JobTimedOut) and current.writes:
            wait = 0.0  # slow but moving: another attempt finishes the rest
        if wait is None and taken.attempts == 1 and self._forget_token(event, exc):
            wait = 0.0  # one more try with a fresh token
        error = type(exc).__name__
        # Attempts that wrote something made progress: the backoff starts over after them, so a
        # bad hour of GitHub slows a job down without stopping it.
        failures = 0 if current.writes else taken.failures + 1
        elapsed = self.store.clock() - taken.first_at
        if wait is not None and failures <= self.settings.retries and elapsed < self.settings.give_up_after:
            delay = retry_delay(failures, self.settings.retry_delay, wait)
            self.store.settle(
                event.delivery_id,
                owner,
                RETRYING,
                error=error,
                hold_for=delay + self.settings.lease,
                failures=failures,
                state=current.state,
            )
            log.warning(
                "transient GitHub error, delivery retried",
                extra={**extra, "error": error, "attempt": taken.attempts, "retry_in": round(delay, 2)},
            )
            # RetryTask reschedules the same message at now + delay, outside any request thread.
            raise RetryTask(delay=delay)
        # FAILED, not DONE: GitHub's redelivery of this id (or the daily sweep's) runs it again.
        self.store.settle(
            event.delivery_id, owner, FAILED, error=error, failures=failures, state=current.state
        )
        log.error(
            "delivery failed; the daily sweep redelivers it",
            exc_info=exc,
            extra={**extra, "error": error, "attempt": taken.attempts, "elapsed_s": round(elapsed)},
        )
        report_failure(event, self.settings, self.client_factory, self.router, exc)

    def _forget_token(self, event: Event, exc: Exception) -> bool:
        """A 401 from a cached installation token means it was revoked: drop it, try again."""
        forget = getattr(self.client_factory, "forget", None)
        if getattr(exc, "status", None) != 401 or forget is None or event.installation_id is None:
            return False
        forget(event.installation_id, event.repo)
        return True

    def _mark_quietly(self, delivery_id: str, status: str, error: str) -> None:
        try:
            self.store.mark(delivery_id, status, error)
        except Exception:
            log.warning("could not record delivery status", extra={"delivery_id": delivery_id})

    # -- recovery

    def recover(self) -> int:
        """Queue again every delivery whose worker stopped renewing its lease (it died)."""
        lost = self.store.recover()
        for delivery in lost:
            self.process(delivery.delivery_id, delivery.name, delivery.payload)
            log.warning(
                "delivery recovered from a worker that stopped", extra={"delivery_id": delivery.delivery_id}
            )
        return len(lost)

    def start_recovery(self) -> threading.Thread:
        """A recovery pass now, then every third of a lease: a dead worker's deliveries go on
        about one lease after it stopped renewing them."""

        def loop() -> None:
            while True:
                try:
                    self.recover()
                except Exception as exc:  # the store may be down for a moment: try next time
                    log.warning("recovery pass failed", extra={"error": type(exc).__name__})
                time.sleep(self.settings.lease / 3)

        thread = threading.Thread(target=loop, name="recovery", daemon=True)
        thread.start()
        return thread

    # -- the daily sweep

    def daily_sweep(self) -> int:
        """Enqueue one `schedule.daily` event per installed repository, if anything handles it.

        The delivery id carries the date, so two consumers firing the same periodic task (or a
        restart) still give each repository one sweep a day.
        """
        self.store.prune()
        self.redeliver_failed()
        self.requeue_failed()
        probe = Event(SWEEP_EVENT, "", {"action": SWEEP_ACTION})
        if not self.router.handles(probe):
            return 0
        today = datetime.now(UTC).date().isoformat()
        count = 0
        for installation_id, owner, repo in self._list_installations():
            event = sweep_event(installation_id, owner, repo, today)
            count += self.submit(event).enqueued
        log.info("daily sweep enqueued", extra={"repositories": count})
        return count

    def redeliver_failed(self) -> int:
        """Deliveries GitHub could not hand over (this server down or refusing) are asked for
        again through the App API, so that nobody has to press "Redeliver"."""
        try:
            if self._redeliver is not None:
                sent = self._redeliver()
            else:
                from app.server.redeliver import redeliver_failed

                sent = redeliver_failed(self._app_auth())
        except Exception as exc:  # GitHub down, or no App credentials (dry run): next sweep
            log.warning("failed deliveries not redelivered", extra={"error": type(exc).__name__})
            return 0
        if sent:
            log.info("failed deliveries redelivered", extra={"count": len(sent)})
        return len(sent)

    def requeue_failed(self) -> int:
        """Deliveries the worker gave up on (GitHub down for long) are queued again, daily,
        for three days: nobody has to redeliver them by hand."""
        count = 0
        for delivery in self.store.failed():
            count += self.submit(Event(delivery.name, delivery.delivery_id, delivery.payload)).enqueued
        if count:
            log.info("failed deliveries queued again", extra={"count": count})
        return count

    def _list_installations(self) -> Iterable[tuple[int, str, str]]:
        if self._installations is not None:
            return self._installations()
        return self._app_auth().installations()

    # -- running

    def consumer(self, workers: int | None = None, periodic: bool = True):
        return self.huey.create_consumer(
            workers=workers or self.settings.workers,
            worker_type="thread",
            periodic=periodic,
            check_worker_health=True,
            max_delay=IDLE_POLL_MAX,
        )


def retry_delay(failures: int, base: float, at_least: float) -> float:
    """Backoff from `base`, doubling with each attempt in a row that changed nothing, capped and
    jittered downwards (retries do not all return at once), never shorter than GitHub asked."""
    # failures == 0: the attempt got somewhere before it failed, a blip: come back soon.
    backoff = base / 4 if failures == 0 else min(MAX_RETRY_DELAY, base * 2 ** (failures - 1))
    return max(backoff * random.uniform(0.75, 1.0), at_least)


def run_with_time_limit(current: Attempt, limit: float, job: Callable[[], T]) -> T:
    """Run `job` in a thread of its own with `current` as its attempt, waiting `limit` seconds.

    Past the limit the attempt is abandoned and JobTimedOut raised: the worker thread is free
    again, and the job's thread can send nothing more to GitHub (the session refuses every
    request of an abandoned attempt), so another attempt can take over without doubling effects.
    """
    context = contextvars.copy_context()
    context.run(attempt_var.set, current)
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = context.run(job)
        except BaseException as exc:  # handed to the worker thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="job", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        current.abandoned = True
        raise JobTimedOut(f"the job ran over its time limit of {limit:g} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


class Heartbeat:
    """Renews a delivery's lease and its repository lock every third of the lease while a job
    runs: should the worker die, both run out within one lease and recovery takes over."""

    def __init__(self, store, lease: float, delivery_id: str, lock: str, owner: str):
        self.store, self.lease = store, lease
        self.delivery_id, self.lock, self.owner = delivery_id, lock, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.store.renew(self.delivery_id, self.owner, self.lease)
                self.store.renew_lock(self.lock, self.owner, self.lease)
            except Exception as exc:  # the store may be down for a moment: try next beat
                log.warning("lease not renewed", extra={"error": type(exc).__name__})


def sweep_event(installation_id: int, owner: str, repo: str, day: str) -> Event:
    payload = {
        "action": SWEEP_ACTION,
        "installation": {"id": installation_id},
        "repository": {"name": repo, "full_name": f"{owner}/{repo}", "owner": {"login": owner}},
    }
    return Event(SWEEP_EVENT, f"sweep:{day}:{installation_id}:{owner}/{repo}", payload)
