"""One attempt at a job: the writes it made, whether the worker gave up on it, what it keeps for the next.

The worker opens an `Attempt` around each run of a delivery (a context variable, so the thread
that runs the job sees it). The session counts the writes GitHub accepted (an attempt that wrote
something made progress, so the worker's backoff starts over) and refuses every request once the
attempt was abandoned (over its time limit), so a run the worker stopped waiting for can change
nothing more. Jobs keep in `state` what a retry of the same delivery need not learn again; the
worker stores it with the delivery (plain JSON).

Outside the worker (the Action, the tests) there is no attempt, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class AttemptAbandoned(RuntimeError):
    """The worker stopped waiting for this attempt (its time limit passed): it must stop here."""


@dataclass
class Attempt:
    state: dict = field(default_factory=dict)
    writes: int = 0
    abandoned: bool = False

    def check(self) -> None:
        if self.abandoned:
            raise AttemptAbandoned("the attempt ran over its time limit; another one takes over")


CURRENT: ContextVar[Attempt | None] = ContextVar("blameless_attempt", default=None)


def current() -> Attempt | None:
    return CURRENT.get()


def remembered(
    section: str, key: str, compute: Callable[[], Any], keep: Callable[[Any], bool] = lambda _: True
) -> Any:
    """`compute()`, or what an earlier attempt of this delivery computed for (section, key).

    Only for facts that cannot change between attempts (a file at a commit), and only values
    `keep` accepts: anything GitHub may change meanwhile is read again.
    """
    attempt = current()
    if attempt is None:
        return compute()
    kept = attempt.state.setdefault(section, {})
    if key in kept:
        return kept[key]
    value = compute()
    if keep(value):
        kept[key] = value
    return value
