"""The durable queue: huey on SQLite (default) or Redis, a status per delivery, and the retries.

The web process only `submit()`s: it claims the delivery id in the store and enqueues the
payload. The worker runs `app.server.worker.process_delivery` under a per-repository lock, marks the
delivery done, and on a transient GitHub error schedules another attempt with exponential backoff
(never less than GitHub's `retry-after`). A redelivery of a done delivery is skipped; one of a
failed delivery, or of one stuck in flight after a crash, is processed again.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.exceptions import RetryTask

from app.github.events import Event
from app.github.router import Router
from app.server.settings import Settings
from app.server.worker import ClientFactory, process_delivery, transient_delay

log = logging.getLogger(__name__)

RECEIVED, QUEUED, RUNNING, RETRYING, DONE, FAILED = (
    "received",
    "queued",
    "running",
    "retrying",
    "done",
    "failed",
)
STALE_AFTER = 60 * 60  # a delivery in flight this long is taken as lost (a worker died)
KEEP_FOR = 8 * 24 * 3600  # GitHub lets a delivery be redelivered for 3 days (7 on GHES)
LOCK_TTL = 10 * 60  # a repository lock outlives any sane job, and a crashed worker's lock expires
LOCK_WAIT = 5.0  # how long a worker thread waits for a busy repository before rescheduling
LOCK_POLL = 0.05
LOCK_BUSY_DELAY = 1.0  # plus jitter, so rescheduled deliveries do not all return at once
MAX_RETRY_DELAY = 30 * 60
SWEEP_EVENT = "schedule"  # internal event name: never accepted from the webhook
SWEEP_ACTION = "daily"


class QueueUnavailable(RuntimeError):
    """The store or queue cannot take a delivery now: answer 503 so GitHub can redeliver it."""


@dataclass(frozen=True)
class Submission:
    enqueued: bool
    reason: str


# ---------------------------------------------------------------- delivery store


class SqliteDeliveryStore:
    """Delivery statuses and repository locks in the queue's SQLite file (a table of our own)."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time):
        self.path = str(path)
        self.clock = clock
        with self._connect() as conn:
            conn.execute(
                "create table if not exists blameless_delivery (id text primary key, "
                "status text not null, event text, attempts integer not null default 0, "
                "updated real not null, error text)"
            )
            conn.execute(
                "create table if not exists blameless_lock (name text primary key, "
                "owner text not null, expires real not null)"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per call: Flask and huey threads never share one.
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            conn.execute("pragma journal_mode=wal")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("begin immediate")  # take the write lock first: check-then-set is atomic
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")

    def claim(self, delivery_id: str, event_key: str) -> tuple[bool, str | None]:
        now = self.clock()
        with self._transaction() as conn:
            row = conn.execute(
                "select status, updated from blameless_delivery where id = ?", (delivery_id,)
            ).fetchone()
            if row and not claimable(row[0], row[1], now):
                return False, row[0]
            conn.execute(
                "insert or replace into blameless_delivery (id, status, event, attempts, updated) "
                "values (?, ?, ?, 0, ?)",
                (delivery_id, QUEUED, event_key, now),
            )
            return True, row[0] if row else None

    def mark(self, delivery_id: str, status: str, error: str | None = None) -> int:
        """Set the status; a RUNNING mark counts an attempt. Returns the attempts so far."""
        bump = 1 if status == RUNNING else 0
        with self._transaction() as conn:
            conn.execute(
                "insert into blameless_delivery (id, status, attempts, updated, error) "
                "values (?, ?, ?, ?, ?) on conflict (id) do update set status = excluded.status, "
                "attempts = attempts + ?, updated = excluded.updated, error = excluded.error",
                (delivery_id, status, bump, self.clock(), error, bump),
            )
            row = conn.execute(
                "select attempts from blameless_delivery where id = ?", (delivery_id,)
            ).fetchone()
            return row[0]

    def get(self, delivery_id: str) -> dict | None:
        with self._connect() as conn:
            row = conn.execute(
                "select status, event, attempts, updated, error from blameless_delivery where id = ?",
                (delivery_id,),
            ).fetchone()
        if row is None:
            return None
        return dict(zip(("status", "event", "attempts", "updated", "error"), row, strict=True))

    def acquire(self, name: str, owner: str, ttl: float = LOCK_TTL) -> bool:
        now = self.clock()
        with self._transaction() as conn:
            conn.execute("delete from blameless_lock where name = ? and expires < ?", (name, now))
            cursor = conn.execute(
                "insert or ignore into blameless_lock (name, owner, expires) values (?, ?, ?)",
                (name, owner, now + ttl),
            )
            return cursor.rowcount == 1

    def release(self, name: str, owner: str) -> None:
        with self._transaction() as conn:
            conn.execute("delete from blameless_lock where name = ? and owner = ?", (name, owner))

    def prune(self, older_than: float = KEEP_FOR) -> int:
        with self._transaction() as conn:
            cursor = conn.execute(
                "delete from blameless_delivery where updated < ?", (self.clock() - older_than,)
            )
            return cursor.rowcount

    def ping(self) -> None:
        with self._connect() as conn:
            conn.execute("select 1 from blameless_delivery limit 1")


# Atomic claim in one round trip: Redis runs a script without interleaving other commands.
_REDIS_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  local rec = cjson.decode(current)
  if rec.status == 'done' then return rec.status end
  if rec.status ~= 'failed' and (tonumber(ARGV[2]) - rec.updated) < tonumber(ARGV[3]) then
    return rec.status
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
if current then return {cjson.decode(current).status} end
return {}
"""

_REDIS_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisDeliveryStore:
    """Delivery statuses as JSON strings with a TTL, locks as SET NX PX keys."""

    def __init__(self, client, prefix: str, clock: Callable[[], float] = time.time):
        self.redis = client
        self.prefix = prefix
        self.clock = clock
        self._claim = client.register_script(_REDIS_CLAIM)
        self._release = client.register_script(_REDIS_RELEASE)

    def _key(self, delivery_id: str) -> str:
        return f"{self.prefix}:delivery:{delivery_id}"

    def claim(self, delivery_id: str, event_key: str) -> tuple[bool, str | None]:
        now = self.clock()
        record = json.dumps({"status": QUEUED, "event": event_key, "attempts": 0, "updated": now})
        result = self._claim(keys=[self._key(delivery_id)], args=[record, now, STALE_AFTER, KEEP_FOR])
        if isinstance(result, list):  # claimed; the list holds the previous status, if any
            return True, _text(result[0]) if result else None
        return False, _text(result)

    def mark(self, delivery_id: str, status: str, error: str | None = None) -> int:
        key = self._key(delivery_id)
        # Only the worker working on a delivery marks it, so read-modify-write is safe here.
        record = self.get(delivery_id) or {"event": None, "attempts": 0}
        record.update(status=status, updated=self.clock(), error=error)
        record["attempts"] += 1 if status == RUNNING else 0
        self.redis.set(key, json.dumps(record), ex=KEEP_FOR)
        return record["attempts"]

    def get(self, delivery_id: str) -> dict | None:
        raw = self.redis.get(self._key(delivery_id))
        return json.loads(raw) if raw else None

    def acquire(self, name: str, owner: str, ttl: float = LOCK_TTL) -> bool:
        return bool(self.redis.set(f"{self.prefix}:lock:{name}", owner, nx=True, px=int(ttl * 1000)))

    def release(self, name: str, owner: str) -> None:
        self._release(keys=[f"{self.prefix}:lock:{name}"], args=[owner])

    def prune(self, older_than: float = KEEP_FOR) -> int:
        return 0  # records carry a TTL: Redis prunes them itself

    def ping(self) -> None:
        self.redis.ping()


def claimable(status: str, updated: float, now: float) -> bool:
    """Who may claim a delivery again: a failed one, or one in flight so long it was lost."""
    if status == DONE:
        return False
    return status == FAILED or now - updated >= STALE_AFTER


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


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
        huey: Huey | None = None,
        store=None,
    ):
        self.settings = settings
        self.huey = huey or make_huey(settings)
        self.store = store or make_store(settings, self.huey)
        self._router = router
        self._client_factory = client_factory
        self._installations = installations
        self._auth = None  # the AppAuth, built on first use: the web process never needs one
        # Named explicitly: the web and the worker must agree on the task name whatever the module.
        self.process = self.huey.task(retries=2, retry_delay=30, name="process_delivery")(self._process)
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
            claimed, previous = self.store.claim(event.delivery_id, event.key)
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
        if not self._acquire(lock, owner):
            log.info("repository busy, delivery rescheduled", extra=extra)
            raise RetryTask(delay=LOCK_BUSY_DELAY + random.random())
        try:
            if (self.store.get(delivery_id) or {}).get("status") == DONE:
                # A copy re-enqueued after a stale claim, while the first one finished.
                log.info("delivery already done, copy skipped", extra=extra)
                return
            attempt = self.store.mark(delivery_id, RUNNING)
            self._run(event, attempt, extra)
        finally:
            self.store.release(lock, owner)

    def _acquire(self, lock: str, owner: str) -> bool:
        """Wait a little for a busy repository: a burst of events for one issue is common, and
        rescheduling each loser would cost it a scheduler round (a second or more)."""
        deadline = time.monotonic() + LOCK_WAIT
        while not self.store.acquire(lock, owner):
            if time.monotonic() >= deadline:
                return False
            time.sleep(LOCK_POLL)
        return True

    def _run(self, event: Event, attempt: int, extra: dict) -> None:
        started = time.monotonic()
        try:
            outcome = process_delivery(event, self.settings, self.client_factory, self.router)
        except Exception as exc:
            self._failed(event, exc, attempt, extra)
            return
        self.store.mark(event.delivery_id, DONE)
        log.info(
            "delivery %s",
            outcome.status,
            extra={
                **extra,
                "reason": outcome.reason,
                "attempt": attempt,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )

    def _failed(self, event: Event, exc: Exception, attempt: int, extra: dict) -> None:
        wait = transient_delay(exc)
        if wait is None and attempt == 1 and self._forget_token(event, exc):
            wait = 0.0  # one more try with a fresh token
        error = type(exc).__name__
        if wait is not None and attempt <= self.settings.retries:
            delay = retry_delay(attempt, self.settings.retry_delay, wait)
            self.store.mark(event.delivery_id, RETRYING, error)
            log.warning(
                "transient GitHub error, delivery retried",
                extra={**extra, "error": error, "attempt": attempt, "retry_in": delay},
            )
            # RetryTask reschedules the same message at now + delay, outside any request thread.
            raise RetryTask(delay=delay)
        # FAILED, not DONE: GitHub's redelivery of this id will be processed again.
        self.store.mark(event.delivery_id, FAILED, error)
        log.error(
            "delivery failed; redeliver it from the App's advanced settings once fixed",
            exc_info=exc,
            extra={**extra, "error": error, "attempt": attempt},
        )

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

    # -- the daily sweep

    def daily_sweep(self) -> int:
        """Enqueue one `schedule.daily` event per installed repository, if anything handles it.

        The delivery id carries the date, so two consumers firing the same periodic task (or a
        restart) still give each repository one sweep a day.
        """
        self.store.prune()
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
        )


def retry_delay(attempt: int, base: float, at_least: float) -> float:
    """Exponential backoff from `base`, capped, but never shorter than GitHub asked for."""
    backoff = min(MAX_RETRY_DELAY, base * 2 ** (attempt - 1))
    return max(backoff, at_least)


def sweep_event(installation_id: int, owner: str, repo: str, day: str) -> Event:
    payload = {
        "action": SWEEP_ACTION,
        "installation": {"id": installation_id},
        "repository": {"name": repo, "full_name": f"{owner}/{repo}", "owner": {"login": owner}},
    }
    return Event(SWEEP_EVENT, f"sweep:{day}:{installation_id}:{owner}/{repo}", payload)
