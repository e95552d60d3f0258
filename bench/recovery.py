"""Time to recover after a worker is killed, and time to finish job 3 (8 items) under GitHub faults.

Run: python bench/recovery.py [--redis URL] [--lease 30] [--faults 0,5,15]

Real processes, as in production: the shared fake GitHub served over HTTP (tests/fake_github_server),
`blameless-bot web` and `blameless-bot worker` (this tree's code) on SQLite, or Redis with --redis.

- Recovery: job 3 is stopped dead (SIGKILL) halfway through its 8 issues while a second worker
  runs beside it; the figure is from the kill to the delivery done, every issue open and assigned
  exactly once. It is about one lease (BLAMELESS_LEASE, default 30 s): the time it takes to tell a
  dead worker from a slow one. Shown for the default lease and a short one.
- Faults: "N %" means N % of GitHub's answers are 502 (a third of the writes among them after
  the write took effect) and N/3 % are secondary rate limits with `retry-after: 1`. Every other
  setting is the default, writes paced at one a second included.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.server.delivery_store import DONE  # noqa: E402
from tests.fake_github_server import FakeGitHubProcess  # noqa: E402
from tests.test_crash_recovery import FULL, INSTALLATION, OWNER, App, Effects, kill, seed, wait_for  # noqa: E402
from tests.test_settings import private_key_pem  # noqa: E402

ITEMS = 8


def world(tmp: Path, redis: str | None, **settings: str) -> tuple[FakeGitHubProcess, App]:
    fake = FakeGitHubProcess(private_key_pem(), {INSTALLATION: OWNER}, tmp / "fake.log")
    app = App(tmp, fake, redis, **settings)
    return fake, app


def recovery(redis: str | None, lease: float) -> tuple[float, float]:
    """Seconds from the kill to another worker taking the delivery up, and to it being done."""
    with tempfile.TemporaryDirectory() as tmp:
        fake, app = world(Path(tmp), redis, BLAMELESS_LEASE=str(lease), BLAMELESS_WRITE_INTERVAL="1")
        try:
            if redis:
                app.store.redis.flushdb()
            delivery = seed(fake, ITEMS)["job3"]
            fake.hold("POST", rf"/repos/{FULL}/issues$", skip=ITEMS // 2)
            app.web()
            doomed = app.worker()
            assert app.post(delivery)["outcome"] == "queued"
            assert wait_for(lambda: fake.held() == 1, 120), app.log_text()
            app.worker()  # the survivor, already running
            kill(doomed)
            fake.release()
            killed = time.monotonic()
            taken = lambda: (app.store.get(delivery.id) or {}).get("attempts", 0) >= 2  # noqa: E731
            assert wait_for(taken, 300, every=0.05), app.log_text()
            picked_up = time.monotonic() - killed
            assert wait_for(lambda: app.status(delivery) == DONE, 300, every=0.05), app.log_text()
            took = time.monotonic() - killed
            Effects(fake.state(FULL)).assert_job3_exactly_once(ITEMS, delivery.payload["number"])
            return picked_up, took
        finally:
            app.stop()
            fake.stop()


def job3_under_faults(redis: str | None, percent: float) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        defaults = {"BLAMELESS_LEASE": None, "BLAMELESS_WRITE_INTERVAL": None, "BLAMELESS_WORKERS": None}
        fake, app = world(Path(tmp), redis, **defaults)
        try:
            if redis:
                app.store.redis.flushdb()
            delivery = seed(fake, ITEMS)["job3"]
            fake.faults(p502=percent / 100, prate=percent / 300, retry_after=1, seed=int(percent) + 1)
            app.web()
            app.worker()
            started = time.monotonic()
            app.post(delivery)
            assert wait_for(lambda: app.status(delivery) == DONE, 900, every=0.2), app.log_text()
            took = time.monotonic() - started
            state = fake.state(FULL)
            Effects(state).assert_job3_exactly_once(ITEMS, delivery.payload["number"])
            attempts = app.store.get(delivery.id)["attempts"]
            return took, {**state["injected"], "attempts": attempts}
        finally:
            app.stop()
            fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="REDIS_URL of a Redis to use (its database is flushed)")
    parser.add_argument("--leases", default="30,5", help="leases (s) to measure recovery with")
    parser.add_argument("--faults", default="0,5,15", help="fault percentages for job 3")
    args = parser.parse_args()
    backend = "Redis" if args.redis else "SQLite"
    for lease in (float(x) for x in args.leases.split(",") if x):
        picked_up, took = recovery(args.redis, lease)
        print(
            f"{backend}: kill -9 mid job 3, lease {lease:g} s: taken up again after {picked_up:.1f} s,"
            f" done after {took:.1f} s",
            flush=True,
        )
    for percent in (float(x) for x in args.faults.split(",") if x):
        took, details = job3_under_faults(args.redis, percent)
        print(f"{backend}: job 3, {ITEMS} items, {percent:g} % faults: {took:.1f} s {details}", flush=True)


if __name__ == "__main__":
    main()
