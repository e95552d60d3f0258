"""GitHub's failures as three exceptions: refused for good, not found, or worth retrying later.

5xx, timeouts, dropped connections and rate limits are transient, carrying GitHub's own advice on
when to come back (`retry_after`); everything else is final.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

# Statuses that mean "GitHub is having a moment", not "the request is wrong".
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


class GitHubError(Exception):
    """A request GitHub refused for good: retrying the same request will not help."""

    def __init__(self, status: int | None, message: str, *, errors: list | None = None, request: str = ""):
        self.status = status
        self.message = message
        self.errors = errors or []
        self.request = request  # "GET /repos/o/r/pulls/1/files": method and path, never a header
        text = f"{status} {message}" if status else message
        super().__init__(f"{text} ({request})" if request else text)


class NotFound(GitHubError):
    """404 (or 410 Gone): the thing, or the endpoint, does not exist for this token."""


class TransientGitHubError(GitHubError):
    """5xx, a timeout, a dropped connection or a rate limit: the worker retries with backoff.

    `retry_after` is GitHub's own advice in seconds (retry-after, or until x-ratelimit-reset)
    when it gave one; None means "back off as you see fit".
    """

    def __init__(
        self, status: int | None, message: str, *, retry_after: float | None = None, request: str = ""
    ):
        super().__init__(status, message, request=request)
        self.retry_after = retry_after


def error_from_response(response: httpx.Response) -> GitHubError:
    """Turn a failed response into NotFound, TransientGitHubError or GitHubError."""
    status = response.status_code
    message, errors = _error_details(response)
    request = request_line(response)
    if status in TRANSIENT_STATUSES:
        return TransientGitHubError(status, message, retry_after=_retry_after(response), request=request)
    if status == 429 or (status == 403 and _is_rate_limit(response, message)):
        return TransientGitHubError(
            status, message, retry_after=_retry_after(response, 60.0), request=request
        )
    if status in (404, 410):
        return NotFound(status, message, request=request)
    return GitHubError(status, message, errors=errors, request=request)


def request_line(response: httpx.Response) -> str:
    """`METHOD /path` of the request that got this response: no host, query or headers, so no
    credential can ride along into a log or a job summary."""
    try:
        request = response.request
    except RuntimeError:  # a response built by hand, without its request
        return ""
    return f"{request.method} {request.url.path}"


def _error_details(response: httpx.Response) -> tuple[str, list]:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "error", []
    if not isinstance(data, dict):
        return response.reason_phrase or "error", []
    return str(data.get("message") or response.reason_phrase), data.get("errors") or []


def _is_rate_limit(response: httpx.Response, message: str) -> bool:
    headers = response.headers
    return (
        "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in message.lower()
    )


def _retry_after(response: httpx.Response, default: float | None = None) -> float | None:
    """GitHub's advice: retry-after (seconds or an HTTP date), else x-ratelimit-reset."""
    headers = response.headers
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return default
    reset = headers.get("x-ratelimit-reset")
    if reset and headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return default
    return default
