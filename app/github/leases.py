"""Leases on GitHub's clock: a claim comment is live for a fixed time after GitHub stamped it.

Both ends of the measure come from GitHub: the comment's `updated_at` (or `created_at`) and GitHub's
own time from its last answer. Never a time written in the text, which its writer could set to any
date, and never our own clock, which may be minutes off GitHub's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.github.session import RepoSession


def github_now(github: RepoSession, fallback: datetime) -> datetime:
    """GitHub's time as of its last answer; `fallback` (our clock) before GitHub has answered."""
    return github.server_time() or fallback


def stamped(record: dict) -> datetime | None:
    """When GitHub last wrote `record` (a comment): its updated_at, else its created_at."""
    stamp = record.get("updated_at") or record.get("created_at") or ""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def live(record: dict, now: datetime, lease: timedelta) -> bool:
    """True while `record` is within `lease` of its last write, `now` being GitHub's time."""
    moment = stamped(record)
    return moment is not None and now - moment <= lease
