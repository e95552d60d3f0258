"""Redelivering the webhook deliveries GitHub could not hand over, through the App API, daily.

A delivery that failed at GitHub's end (the server was down, answered 503, timed out) waits for a
person to press "Redeliver" in the App's settings. The daily sweep does it instead: it lists the
App's recent deliveries (`GET /app/hook/deliveries`, newest first, with the App JWT), keeps each
delivery id (guid) whose every attempt failed, and asks GitHub to redeliver the latest attempt of
each (`POST /app/hook/deliveries/{id}/attempts`). A guid that has succeeded once is never sent
again; the webhook's delivery store keeps a second arrival from doing the work twice anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.github.client import GitHubClient, GitHubError, TransientGitHubError

log = logging.getLogger(__name__)

LOOK_BACK = timedelta(days=3)  # GitHub keeps deliveries redeliverable for 3 days (7 on GHES)
MAX_REDELIVERIES = 100  # per sweep: a long outage's backlog is sent over several days, gently
PER_PAGE = 100


@dataclass(frozen=True)
class Redelivery:
    guid: str
    attempt_id: int
    event: str


def failed_deliveries(deliveries, since: datetime) -> list[Redelivery]:
    """From deliveries newest first: the latest attempt of each guid that never succeeded."""
    succeeded: set[str] = set()
    latest: dict[str, dict] = {}
    for delivery in deliveries:
        if _when(delivery) < since:
            break
        guid = delivery.get("guid")
        if not guid:
            continue
        if _succeeded(delivery):
            succeeded.add(guid)
        latest.setdefault(guid, delivery)
    return [
        Redelivery(guid, int(d["id"]), str(d.get("event") or ""))
        for guid, d in latest.items()
        if guid not in succeeded
    ]


def redeliver_failed(auth, *, now: datetime | None = None, limit: int = MAX_REDELIVERIES) -> list[Redelivery]:
    """Ask GitHub to redeliver every recent delivery that failed; return those asked for.

    `auth` is the AppAuth (its `jwt()` and settings); GitHub's answers are read as JSON only.
    """
    since = (now or datetime.now(UTC)) - LOOK_BACK
    github = app_client(auth)
    listing = github.paginate("/app/hook/deliveries", {"per_page": PER_PAGE})
    wanted = failed_deliveries(listing, since)[:limit]
    sent = []
    for delivery in wanted:
        try:
            github.request("POST", f"/app/hook/deliveries/{delivery.attempt_id}/attempts")
        except TransientGitHubError:
            raise  # GitHub is in trouble: the next sweep tries again
        except GitHubError as exc:  # too old, or gone: nothing a retry would change
            log.warning(
                "redelivery refused",
                extra={"delivery_id": delivery.guid, "status": exc.status, "error": exc.message},
            )
            continue
        sent.append(delivery)
        log.info("failed delivery redelivered", extra={"delivery_id": delivery.guid, "event": delivery.event})
    return sent


def app_client(auth) -> GitHubClient:
    """A client for App-level endpoints, authenticated with the App JWT."""
    from app.github.auth import AppJWTAuth

    return auth._client(AppJWTAuth(auth))


def _succeeded(delivery: dict) -> bool:
    code = delivery.get("status_code")
    return isinstance(code, int) and 200 <= code < 300


def _when(delivery: dict) -> datetime:
    stamp = str(delivery.get("delivered_at") or "")
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # no date: keep it, do not stop the listing
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
