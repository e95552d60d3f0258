"""Pacing writes as GitHub asks, and retrying transient failures where no worker does (the Action)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from app.github.client import TransientGitHubError

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_INTERVAL = 1.0  # seconds between content-creating requests (GitHub's best practices)


class Pacer:
    """At least `interval` seconds between content-creating requests.

    GitHub asks for a second between writes, and secondary limits allow about 80 a minute and
    500 an hour: a 40-item postmortem is ~130 writes, about two minutes at this pace.
    """

    def __init__(
        self,
        interval: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.interval = WRITE_INTERVAL if interval is None else interval
        self.sleep, self.clock = sleep, clock
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self._last = self.clock()


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int = 8,
    base: float = 5.0,
    cap: float = 15 * 60,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `call` again after a transient failure, as the App's worker would: exponential
    backoff, never shorter than GitHub's retry-after. Every job here resumes where it stopped."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientGitHubError as exc:
            if attempt == attempts:
                raise
            wait = max(exc.retry_after or 0.0, min(cap, base * 2 ** (attempt - 1)))
            log.warning("transient GitHub error, retrying", extra={"wait": wait})
            sleep(wait)
    raise AssertionError("unreachable")
