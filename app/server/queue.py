"""The durable queue: huey on SQLite (default) or Redis, a record per delivery, leases and retries.

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
import json
import logging
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.exceptions import RetryTask

from app.github.attempt import CURRENT as attempt_var
from app.github.attempt import Attempt
from app.github.events import Event
from app.github.router import Router
from app.server.settings import Settings
from app.server.worker import ClientFactory, process_delivery, report_failure, transient_delay

log = logging.getLogger(__name__)
T = TypeVar("T")

RECEIVED, QUEUED, RUNNING, RETRYING, DONE, FAILED = (
    "received",
    "queued",
    "running",
    "retrying",
    "done",
    "failed",
)
IN_FLIGHT = (RUNNING, RETRYING)  # held by a worker's lease, or waiting for a scheduled retry
STALE_AFTER = 60 * 60  # a delivery queued this long without a worker taking it is re-queued
KEEP_FOR = 8 * 24 * 3600  # GitHub lets a delivery be redelivered for 3 days (7 on GHES)
LOCK_WAIT = 5.0  # how long a worker thread waits for a busy repository before rescheduling
LOCK_POLL = 0.05
LOCK_BUSY_DELAY = 1.0  # plus jitter, so rescheduled deliveries do not all return at once
MAX_RETRY_DELAY = 5 * 60
FAILED_REQUEUE_FOR = 3 * 24 * 3600  # the daily sweep retries a failed delivery for three days
IDLE_POLL_MAX = 1.0  # an idle worker looks at the queue at least this often (huey's default: 10 s)
SWEEP_EVENT = "schedule"  # internal event name: never accepted from the webhook
SWEEP_ACTION = "daily"
RECORD_FIELDS = ("status", "event", "attempts", "updated", "error")


class QueueUnavailable(RuntimeError):
    """The store or queue cannot take a delivery now: answer 503 so GitHub can redeliver it."""


class JobTimedOut(RuntimeError):
    """An attempt ran over BLAMELESS_JOB_TIMEOUT: the worker stopped waiting for it."""


@dataclass(frozen=True)
class Submission:
    enqueued: bool
    reason: str


@dataclass
class Taken:
    """A delivery a worker holds under a lease, with what earlier attempts left for this one."""

    delivery_id: str
    attempts: int
    first_at: float
    failures: int  # attempts in a row that changed nothing
    state: dict


@dataclass(frozen=True)
class Lost:
    """A delivery whose worker stopped renewing its lease: what it takes to queue it again."""

    delivery_id: str
    name: str
    payload: dict


# ---------------------------------------------------------------- delivery store
#
# A delivery's record: its status, the event (name and payload, so that recovery can queue it
# again without GitHub), and while a worker holds it, the worker's id and a lease the worker
# renews every third of its length. A lease that runs out means the worker died: the recovery
# pass (and a redelivery from GitHub) take the delivery up again. The repository locks are
# leases of the same length, renewed by the same heartbeat.


class SqliteDeliveryStore:
    """Delivery records and repository locks in the queue's SQLite file (tables of our own)."""

    COLUMNS: ClassVar[dict[str, str]] = {
        "name": "text",
        "payload": "text",
        "owner": "text",
        "lease_until": "real",
        "first_at": "real",
        "failures": "integer not null default 0",
        "state": "text",
    }

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time):
        self.path = str(path)
        self.clock = clock
        with self._connect() as conn:
            conn.execute(
                "create table if not exists blameless_delivery (id text primary key, "
                "status text not null, event text, attempts integer not null default 0, "
                "updated real not null, error text)"
            )
            have = {row[1] for row in conn.execute("pragma table_info(blameless_delivery)")}
            for column, kind in self.COLUMNS.items():
                if column not in have:  # a store made by an older release
                    conn.execute(f"alter table blameless_delivery add column {column} {kind}")
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

    def claim(
        self, delivery_id: str, event_key: str, name: str | None = None, payload: dict | None = None
    ) -> tuple[bool, str | None]:
        now = self.clock()
        with self._transaction() as conn:
            row = conn.execute(
                "select status, updated, lease_until from blameless_delivery where id = ?",
                (delivery_id,),
            ).fetchone()
            if row and not claimable(row[0], row[1], row[2], now):
                return False, row[0]
            body = json.dumps(payload) if payload is not None else None
            if row:  # a redelivery: what earlier attempts learned stays, the retry budget resets
                conn.execute(
                    "update blameless_delivery set status = ?, event = ?, name = ?, payload = "
                    "coalesce(?, payload), attempts = 0, updated = ?, error = null, owner = null, "
                    "lease_until = null, first_at = null, failures = 0 where id = ?",
                    (QUEUED, event_key, name, body, now, delivery_id),
                )
            else:
                conn.execute(
                    "insert into blameless_delivery (id, status, event, name, payload, attempts, "
                    "updated) values (?, ?, ?, ?, ?, 0, ?)",
                    (delivery_id, QUEUED, event_key, name, body, now),
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

    def take(self, delivery_id: str, owner: str, lease: float) -> Taken | str:
        """Hold the delivery under a lease for one attempt; or the reason it cannot be taken
        ("done", or "held": another worker's lease is live)."""
        now = self.clock()
        with self._transaction() as conn:
            row = conn.execute(
                "select status, owner, lease_until, attempts, first_at, failures, state "
                "from blameless_delivery where id = ?",
                (delivery_id,),
            ).fetchone()
            if row is None:  # enqueued without a record (or pruned): hold it all the same
                conn.execute(
                    "insert into blameless_delivery (id, status, updated) values (?, ?, ?)",
                    (delivery_id, QUEUED, now),
                )
                row = (QUEUED, None, None, 0, None, 0, None)
            status, holder, lease_until, attempts, first_at, failures, state = row
            if status == DONE:
                return "done"
            if status == RUNNING and holder != owner and (lease_until or 0) >= now:
                return "held"
            conn.execute(
                "update blameless_delivery set status = ?, owner = ?, lease_until = ?, "
                "attempts = attempts + 1, updated = ?, first_at = coalesce(first_at, ?), "
                "error = null where id = ?",
                (RUNNING, owner, now + lease, now, now, delivery_id),
            )
            return Taken(delivery_id, attempts + 1, first_at or now, failures or 0, _state(state))

    def renew(self, delivery_id: str, owner: str, lease: float) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "update blameless_delivery set lease_until = ? where id = ? and owner = ? and status = ?",
                (self.clock() + lease, delivery_id, owner, RUNNING),
            )
            return cursor.rowcount == 1

    def settle(
        self,
        delivery_id: str,
        owner: str,
        status: str,
        *,
        error: str | None = None,
        hold_for: float | None = None,
        failures: int = 0,
        state: dict | None = None,
    ) -> None:
        """End an attempt: DONE, FAILED, or RETRYING (held `hold_for` seconds, the retry's delay
        plus a lease, after which recovery queues it again should the scheduled retry be lost)."""
        now = self.clock()
        lease_until = now + hold_for if hold_for is not None else None
        with self._transaction() as conn:
            conn.execute(
                "update blameless_delivery set status = ?, error = ?, updated = ?, owner = null, "
                "lease_until = ?, failures = ?, state = coalesce(?, state) where id = ? "
                "and (owner = ? or owner is null)",
                (
                    status,
                    error,
                    now,
                    lease_until,
                    failures,
                    json.dumps(state) if state is not None else None,
                    delivery_id,
                    owner,
                ),
            )

    def defer(self, delivery_id: str, hold_for: float) -> None:
        """A delivery rescheduled before it ran (its repository was busy): keep recovery off it."""
        with self._transaction() as conn:
            conn.execute(
                "update blameless_delivery set lease_until = max(coalesce(lease_until, 0), ?) "
                "where id = ? and status != ?",
                (self.clock() + hold_for, delivery_id, RUNNING),
            )

    def recover(self, queued_grace: float = STALE_AFTER) -> list[Lost]:
        """Deliveries whose lease ran out (their worker died), marked QUEUED again, once each."""
        now = self.clock()
        with self._transaction() as conn:
            rows = conn.execute(
                "select id, name, payload from blameless_delivery where payload is not null and "
                "((status in (?, ?) and coalesce(lease_until, 0) < ?) or (status = ? and "
                "updated < ? and coalesce(lease_until, 0) < ?))",
                (*IN_FLIGHT, now, QUEUED, now - queued_grace, now),
            ).fetchall()
            for delivery_id, _, _ in rows:
                conn.execute(
                    "update blameless_delivery set status = ?, owner = null, lease_until = null, "
                    "updated = ? where id = ?",
                    (QUEUED, now, delivery_id),
                )
        return [Lost(i, n, json.loads(p)) for i, n, p in rows]

    def failed(self, within: float = FAILED_REQUEUE_FOR) -> list[Lost]:
        """Deliveries that failed in the last `within` seconds, for the daily sweep to retry."""
        with self._connect() as conn:
            rows = conn.execute(
                "select id, name, payload from blameless_delivery where status = ? and "
                "payload is not null and name is not null and updated >= ?",
                (FAILED, self.clock() - within),
            ).fetchall()
        return [Lost(i, n, json.loads(p)) for i, n, p in rows]

    def get(self, delivery_id: str) -> dict | None:
        record = self.record(delivery_id)
        return {k: record[k] for k in RECORD_FIELDS} if record else None

    def record(self, delivery_id: str) -> dict | None:
        """Everything kept of a delivery (status, lease, failures, state…), for inspection."""
        names = ("status", "event", "attempts", "updated", "error", "name", "owner", "lease_until")
        names += ("first_at", "failures", "state")
        with self._connect() as conn:
            row = conn.execute(
                f"select {', '.join(names)} from blameless_delivery where id = ?", (delivery_id,)
            ).fetchone()
        if row is None:
            return None
        record = dict(zip(names, row, strict=True))
        record["state"] = _state(record["state"])
        return record

    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        now = self.clock()
        with self._transaction() as conn:
            conn.execute("delete from blameless_lock where name = ? and expires < ?", (name, now))
            cursor = conn.execute(
                "insert or ignore into blameless_lock (name, owner, expires) values (?, ?, ?)",
                (name, owner, now + ttl),
            )
            return cursor.rowcount == 1

    def renew_lock(self, name: str, owner: str, ttl: float) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "update blameless_lock set expires = ? where name = ? and owner = ?",
                (self.clock() + ttl, name, owner),
            )
            return cursor.rowcount == 1

    def release(self, name: str, owner: str) -> None:
        with self._transaction() as conn:
            conn.execute("delete from blameless_lock where name = ? and owner = ?", (name, owner))

    def locks(self) -> list[str]:
        """The names of the locks held now (expired ones are not held)."""
        with self._connect() as conn:
            rows = conn.execute(
                "select name from blameless_lock where expires >= ?", (self.clock(),)
            ).fetchall()
        return [row[0] for row in rows]

    def prune(self, older_than: float = KEEP_FOR) -> int:
        with self._transaction() as conn:
            cursor = conn.execute(
                "delete from blameless_delivery where updated < ?", (self.clock() - older_than,)
            )
            return cursor.rowcount

    def ping(self) -> None:
        with self._connect() as conn:
            conn.execute("select 1 from blameless_delivery limit 1")


# Redis: the record's scalar fields as one JSON string changed only by these scripts (atomic:
# Redis runs a script without interleaving other commands); the payload and the kept state in
# keys of their own (Lua's JSON would turn an empty list into an object); the deliveries in
# flight in a sorted set scored by when their lease runs out, for the recovery pass.

_REDIS_CLAIM = """
local current = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[2])
if current then
  local rec = cjson.decode(current)
  local lease = tonumber(rec.lease_until) or 0
  if rec.status == 'done' then return rec.status end
  if rec.status == 'running' or rec.status == 'retrying' then
    if lease >= now then return rec.status end
  elseif rec.status ~= 'failed' and (now - rec.updated) < tonumber(ARGV[3]) then
    return rec.status
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[4]) end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[6])
if current then return {cjson.decode(current).status} end
return {}
"""

_REDIS_TAKE = """
local current = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[3])
local rec
if current then rec = cjson.decode(current) else
  rec = {status = 'queued', attempts = 0, failures = 0, updated = now}
end
if rec.status == 'done' then return 'done' end
local lease = tonumber(rec.lease_until) or 0
if rec.status == 'running' and rec.owner ~= ARGV[2] and lease >= now then return 'held' end
rec.status = 'running'
rec.owner = ARGV[2]
rec.lease_until = now + tonumber(ARGV[4])
rec.attempts = (tonumber(rec.attempts) or 0) + 1
rec.updated = now
rec.error = cjson.null
if not tonumber(rec.first_at) then rec.first_at = now end
redis.call('SET', KEYS[1], cjson.encode(rec), 'EX', ARGV[5])
redis.call('ZADD', KEYS[2], rec.lease_until, ARGV[1])
return {cjson.encode(rec)}
"""

_REDIS_RENEW = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local rec = cjson.decode(current)
if rec.status ~= 'running' or rec.owner ~= ARGV[2] then return 0 end
rec.lease_until = tonumber(ARGV[3]) + tonumber(ARGV[4])
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
redis.call('ZADD', KEYS[2], rec.lease_until, ARGV[1])
return 1
"""

_REDIS_SETTLE = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local rec = cjson.decode(current)
if rec.owner ~= cjson.null and rec.owner ~= nil and rec.owner ~= ARGV[2] then return 0 end
local now = tonumber(ARGV[4])
rec.status = ARGV[3]
rec.updated = now
rec.owner = cjson.null
if ARGV[5] == '' then rec.error = cjson.null else rec.error = ARGV[5] end
rec.failures = tonumber(ARGV[7])
if ARGV[6] == '' then
  rec.lease_until = cjson.null
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  rec.lease_until = now + tonumber(ARGV[6])
  redis.call('ZADD', KEYS[2], rec.lease_until, ARGV[1])
end
redis.call('SET', KEYS[1], cjson.encode(rec), 'EX', ARGV[8])
if ARGV[9] ~= '' then redis.call('SET', KEYS[3], ARGV[9], 'EX', ARGV[8]) end
if ARGV[3] == 'failed' then redis.call('ZADD', KEYS[4], now, ARGV[1])
else redis.call('ZREM', KEYS[4], ARGV[1]) end
return 1
"""

_REDIS_DEFER = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local rec = cjson.decode(current)
if rec.status == 'running' or rec.status == 'done' then return 0 end
local until_ = tonumber(ARGV[2])
if (tonumber(rec.lease_until) or 0) < until_ then rec.lease_until = until_ end
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
redis.call('ZADD', KEYS[2], 'GT', until_, ARGV[1])
return 1
"""

_REDIS_RECOVER = """
local current = redis.call('GET', KEYS[1])
if not current then redis.call('ZREM', KEYS[2], ARGV[1]) return 0 end
local rec = cjson.decode(current)
local now = tonumber(ARGV[2])
local lease = tonumber(rec.lease_until) or 0
local lost = false
if rec.status == 'running' or rec.status == 'retrying' then lost = lease < now
elseif rec.status == 'queued' then lost = rec.updated < now - tonumber(ARGV[3]) and lease < now
else redis.call('ZREM', KEYS[2], ARGV[1]) return 0 end
if not lost then return 0 end
rec.status = 'queued'
rec.owner = cjson.null
rec.lease_until = cjson.null
rec.updated = now
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""

_REDIS_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_REDIS_RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisDeliveryStore:
    """Delivery records as JSON strings with a TTL, locks as SET NX PX keys."""

    def __init__(self, client, prefix: str, clock: Callable[[], float] = time.time):
        self.redis = client
        self.prefix = prefix
        self.clock = clock
        self.in_flight = f"{prefix}:in-flight"
        self.failed_set = f"{prefix}:failed"
        self._claim = client.register_script(_REDIS_CLAIM)
        self._take = client.register_script(_REDIS_TAKE)
        self._renew = client.register_script(_REDIS_RENEW)
        self._settle = client.register_script(_REDIS_SETTLE)
        self._defer = client.register_script(_REDIS_DEFER)
        self._recover = client.register_script(_REDIS_RECOVER)
        self._release = client.register_script(_REDIS_RELEASE)
        self._renew_lock = client.register_script(_REDIS_RENEW_LOCK)

    def _key(self, delivery_id: str, kind: str = "delivery") -> str:
        return f"{self.prefix}:{kind}:{delivery_id}"

    def claim(
        self, delivery_id: str, event_key: str, name: str | None = None, payload: dict | None = None
    ) -> tuple[bool, str | None]:
        now = self.clock()
        record = json.dumps(
            {"status": QUEUED, "event": event_key, "name": name, "attempts": 0, "updated": now, "failures": 0}
        )
        keys = [self._key(delivery_id), self._key(delivery_id, "payload"), self.in_flight]
        body = json.dumps(payload) if payload is not None else ""
        args = [record, now, STALE_AFTER, KEEP_FOR, body, delivery_id]
        result = self._claim(keys=keys, args=args)
        if isinstance(result, list):  # claimed; the list holds the previous status, if any
            return True, _text(result[0]) if result else None
        return False, _text(result)

    def mark(self, delivery_id: str, status: str, error: str | None = None) -> int:
        key = self._key(delivery_id)
        # For tests and tools: the worker's own changes go through the scripts above.
        record = self._raw(delivery_id) or {"event": None, "attempts": 0}
        record.update(status=status, updated=self.clock(), error=error)
        record["attempts"] += 1 if status == RUNNING else 0
        self.redis.set(key, json.dumps(record), ex=KEEP_FOR)
        return record["attempts"]

    def take(self, delivery_id: str, owner: str, lease: float) -> Taken | str:
        keys = [self._key(delivery_id), self.in_flight]
        result = self._take(keys=keys, args=[delivery_id, owner, self.clock(), lease, KEEP_FOR])
        if not isinstance(result, list):
            return _text(result)
        record = json.loads(result[0])
        state = _state(self.redis.get(self._key(delivery_id, "state")))
        return Taken(
            delivery_id, int(record["attempts"]), record["first_at"], int(record.get("failures") or 0), state
        )

    def renew(self, delivery_id: str, owner: str, lease: float) -> bool:
        keys = [self._key(delivery_id), self.in_flight]
        return bool(self._renew(keys=keys, args=[delivery_id, owner, self.clock(), lease]))

    def settle(
        self,
        delivery_id: str,
        owner: str,
        status: str,
        *,
        error: str | None = None,
        hold_for: float | None = None,
        failures: int = 0,
        state: dict | None = None,
    ) -> None:
        keys = [self._key(delivery_id), self.in_flight, self._key(delivery_id, "state"), self.failed_set]
        args = [
            delivery_id,
            owner,
            status,
            self.clock(),
            error or "",
            "" if hold_for is None else hold_for,
            failures,
            KEEP_FOR,
            json.dumps(state) if state is not None else "",
        ]
        self._settle(keys=keys, args=args)

    def defer(self, delivery_id: str, hold_for: float) -> None:
        keys = [self._key(delivery_id), self.in_flight]
        self._defer(keys=keys, args=[delivery_id, self.clock() + hold_for])

    def recover(self, queued_grace: float = STALE_AFTER) -> list[Lost]:
        now = self.clock()
        lost = []
        for raw in self.redis.zrangebyscore(self.in_flight, "-inf", now):
            delivery_id = _text(raw)
            keys = [self._key(delivery_id), self.in_flight]
            if not self._recover(keys=keys, args=[delivery_id, now, queued_grace]):
                continue
            record = self._raw(delivery_id) or {}
            payload = self.redis.get(self._key(delivery_id, "payload"))
            if payload and record.get("name"):
                lost.append(Lost(delivery_id, record["name"], json.loads(payload)))
        return lost

    def failed(self, within: float = FAILED_REQUEUE_FOR) -> list[Lost]:
        now = self.clock()
        self.redis.zremrangebyscore(self.failed_set, "-inf", now - within)
        found = []
        for raw in self.redis.zrangebyscore(self.failed_set, now - within, "+inf"):
            delivery_id = _text(raw)
            record = self._raw(delivery_id) or {}
            payload = self.redis.get(self._key(delivery_id, "payload"))
            if record.get("status") == FAILED and record.get("name") and payload:
                found.append(Lost(delivery_id, record["name"], json.loads(payload)))
        return found

    def _raw(self, delivery_id: str) -> dict | None:
        raw = self.redis.get(self._key(delivery_id))
        return json.loads(raw) if raw else None

    def get(self, delivery_id: str) -> dict | None:
        record = self._raw(delivery_id)
        return {k: record.get(k) for k in RECORD_FIELDS} if record else None

    def record(self, delivery_id: str) -> dict | None:
        record = self._raw(delivery_id)
        if record is None:
            return None
        record["state"] = _state(self.redis.get(self._key(delivery_id, "state")))
        return record

    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self.redis.set(f"{self.prefix}:lock:{name}", owner, nx=True, px=int(ttl * 1000)))

    def renew_lock(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._renew_lock(keys=[f"{self.prefix}:lock:{name}"], args=[owner, int(ttl * 1000)]))

    def release(self, name: str, owner: str) -> None:
        self._release(keys=[f"{self.prefix}:lock:{name}"], args=[owner])

    def locks(self) -> list[str]:
        head = f"{self.prefix}:lock:"
        return [_text(k)[len(head) :] for k in self.redis.scan_iter(match=f"{head}*")]

    def prune(self, older_than: float = KEEP_FOR) -> int:
        return 0  # records carry a TTL: Redis prunes them itself

    def ping(self) -> None:
        self.redis.ping()


def claimable(status: str, updated: float, lease_until: float | None, now: float) -> bool:
    """Who may claim a delivery again: a failed one, one whose worker's lease ran out (the
    worker died), or one queued so long ago that it was lost."""
    if status == DONE:
        return False
    if status == FAILED:
        return True
    if status in IN_FLIGHT:
        return (lease_until or 0) < now
    return now - updated >= STALE_AFTER


def _state(raw) -> dict:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


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
