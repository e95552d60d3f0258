"""The processing pipeline for one delivery: client, repository config, then the router's handlers.

Kept free of huey and Flask so it can be tested (and replayed) with plain arguments; the queue
wraps it with statuses, locking and retries. It raises on failure: `transient_delay()` tells the
queue which failures are worth another attempt and how long GitHub asked us to wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

from app.github.client import TransientGitHubError
from app.github.events import Event
from app.github.router import Router
from app.server.settings import Settings

log = logging.getLogger(__name__)

ClientFactory = Callable[[int, str, str], object]  # (installation id, owner, repo) -> GitHubClient


@dataclass(frozen=True)
class Outcome:
    """What became of a delivery that did not raise: done, or ignored with the reason why."""

    status: str  # "done" | "ignored"
    reason: str

    @classmethod
    def ignored(cls, reason: str) -> Outcome:
        return cls("ignored", reason)

    @classmethod
    def done(cls, reason: str) -> Outcome:
        return cls("done", reason)


def process_delivery(
    event: Event, settings: Settings, client_factory: ClientFactory, router: Router
) -> Outcome:
    """Run every handler registered for the event against the repository it came from."""
    handlers = router.handlers(event)
    if not handlers:
        return Outcome.ignored(f"no handler for {event.key}")
    if event.installation_id is None:
        return Outcome.ignored("the payload names no installation")
    if not (event.owner and event.repo):
        return Outcome.ignored("the payload names no repository")
    if settings.dry_run and not settings.private_key:
        return preview(event)
    github = client_factory(event.installation_id, event.owner, event.repo)
    config = load_config(github)
    if config is None:
        # No config in the repository nor in the org's .github: installing org-wide is safe.
        return Outcome.ignored("no .github/blameless.yml in the repository or its organisation")
    context = make_context(event, github, config, settings)
    for handler in handlers:
        handler(context)
    return Outcome.done(f"{len(handlers)} handler(s) ran for {event.key}")


def report_failure(
    event: Event, settings: Settings, client_factory: ClientFactory, router: Router, error: BaseException
) -> None:
    """The worker gave up on a delivery: each handler that can say so where people look (a
    status comment, a check run) says what is left. Best effort: GitHub may still be down."""
    reporters = [r for h in router.handlers(event) if (r := getattr(h, "on_give_up", None))]
    if not reporters or event.installation_id is None or settings.dry_run:
        return
    try:
        github = client_factory(event.installation_id, event.owner, event.repo)
        config = load_config(github)
        if config is None:
            return
        context = make_context(event, github, config, settings)
        for reporter in reporters:
            reporter(context, error)
    except Exception as exc:
        log.warning(
            "could not report the failure on GitHub",
            extra={"delivery_id": event.delivery_id, "error": type(exc).__name__},
        )


def preview(event: Event) -> Outcome:
    """Dry run with no App credentials: log what the App would do, read and write nothing."""
    from app.jobs.open_postmortem import dry_run

    text = dry_run.render(dry_run.replay(event))
    log.info("dry run preview", extra={"delivery_id": event.delivery_id, "preview": text})
    return Outcome.done(f"dry run: previewed {event.key}")


def load_config(github):
    """The repository's config from its default branch: Config, None, or a ConfigError value.

    A ConfigError is passed on to the handlers, whose job it is to show it to the user.
    """
    from app.github.repo_config import load_config as load

    return load(github)


def make_context(event: Event, github, config, settings: Settings):
    from app.github.context import JobContext

    return JobContext(
        event=event,
        github=github,
        config=config,
        dry_run=settings.dry_run,
        bot_login=settings.bot_login,
        bot_app_id=int(settings.app_id) if settings.app_id else None,
    )


def transient_delay(exc: BaseException) -> float | None:
    """Seconds to wait before retrying if `exc` is a passing GitHub trouble, else None.

    Transient: 5xx, timeouts, broken connections and rate limits (primary and secondary), where
    GitHub's own `retry-after` (or `x-ratelimit-reset`) sets the least wait. GitHubClient maps
    these to TransientGitHubError; raw githubkit errors are recognised too, for code that
    reaches githubkit directly.
    """
    if isinstance(exc, TransientGitHubError):
        return max(0.0, exc.retry_after or 0.0)
    if isinstance(exc, RateLimitExceeded):
        return max(0.0, exc.retry_after.total_seconds())
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        return 0.0 if status >= 500 or status == 429 else None
    if isinstance(exc, RequestError | httpx.TransportError):  # timeouts, resets, DNS
        return 0.0
    return None
