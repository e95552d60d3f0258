"""The delivery store: a record per webhook delivery, in SQLite or Redis, held under renewed leases.

It keeps what huey does not: each delivery's status and event, which worker holds it and until
when, what earlier attempts learned, and the repositories' locks. A lease that runs out means the
worker died; `recover` hands such deliveries back to the queue.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

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
FAILED_REQUEUE_FOR = 3 * 24 * 3600  # the daily sweep retries a failed delivery for three days
RECORD_FIELDS = ("status", "event", "attempts", "updated", "error")


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
