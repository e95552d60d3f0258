"""One repository's requests: githubkit configured as this project needs, the pinned API version on
every page, pagination by Link header (same origin only), and failures mapped to `errors`.

A read (GET) that meets a transient failure is tried again in place, a few times, after a short
jittered pause (GitHub's `retry-after` when it gives one): a 502 on one listing should not cost
the whole job a trip back through the queue. A pause longer than a few seconds, and every write,
go back to the worker, which retries the job later: a thread never sleeps long here.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from githubkit import GitHub
from githubkit.exception import RequestError, RequestFailed, RequestTimeout

from app.github import attempt
from app.github.errors import TransientGitHubError, error_from_response
from app.github.limits import PER_PAGE

log = logging.getLogger(__name__)

# 2022-11-28 is the one version every GitHub serves (github.com for at least 24 months after
# 2026-03-12, and every GHES). githubkit would send 2026-03-10 on the first page and nothing on
# the pages after it, mixing two versions in one listing; pinning it on every request avoids that.
API_VERSION = "2022-11-28"
RAW = "application/vnd.github.raw+json"
JSON = "application/vnd.github+json"

READ_TRIES = 4  # a read is sent at most this many times before the failure goes to the worker
READ_BACKOFF = 0.25  # seconds before the first retry of a read, doubling, with jitter
READ_WAIT_MAX = 4.0  # a read waits in place at most this long at a time (retry-after included)
IDEMPOTENT = frozenset({"GET", "HEAD"})


def make_github(
    auth: Any,
    *,
    base_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    http_cache: bool = False,
) -> GitHub:
    """A githubkit client configured the way this project needs it.

    `auto_retry=False`: githubkit's retries `time.sleep` for up to an hour on a rate limit; the
    worker retries instead. `http_cache=False` by default: the one read worth caching (the config
    file) is cached explicitly by ETag in `app.github.repo_config`, where it can be seen and tested.
    """
    return GitHub(
        auth,
        base_url=base_url,
        transport=transport,
        http_cache=http_cache,
        auto_retry=False,
    )


@dataclass(frozen=True)
class ListFetch:
    """A conditional listing: `items` is None when unchanged since the ETag sent (`not_modified`);
    `etag` is None when the listing ran to more than one page (too long to revalidate at once)."""

    items: list | None
    etag: str | None
    not_modified: bool = False


class RepoSession:
    """Requests to one repository (owner/repo): the pinned API version, pagination, and GitHub's
    failures mapped to our exceptions. The request families build on it."""

    def __init__(
        self,
        gh: GitHub,
        owner: str,
        repo: str,
        *,
        api_version: str = API_VERSION,
        repo_factory: Callable[[str, str], RepoSession] | None = None,
    ):
        self.gh = gh
        self.owner = owner
        self.repo = repo
        self.api_version = api_version
        # How to reach another repository of the same owner (the org's `.github`): an App's
        # token is narrowed to one repository, so the App passes a factory that mints another.
        self.repo_factory = repo_factory
        self._labels_ready: set[str] = set()
        self._server_date: str | None = None  # the Date header of GitHub's last answer

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def for_token(
        cls,
        token: str,
        owner: str,
        repo: str,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        http_cache: bool = False,
    ) -> RepoSession:
        """From a token (an installation token, or the Action's GITHUB_TOKEN)."""
        gh = make_github(token, base_url=base_url, transport=transport, http_cache=http_cache)
        return cls(gh, owner, repo)

    @classmethod
    def from_github(cls, gh: GitHub, owner: str, repo: str) -> RepoSession:
        """From a githubkit client built elsewhere (e.g. with installation auth by the worker).

        Build it with `make_github` so that githubkit does not retry or sleep on its own.
        """
        return cls(gh, owner, repo)

    def for_repo(self, repo: str, owner: str | None = None) -> RepoSession:
        """Another repository (the org's `.github` fallback): through `repo_factory` when given,
        else with the same session and token."""
        owner = owner or self.owner
        if self.repo_factory is not None:
            return self.repo_factory(owner, repo)
        return type(self)(self.gh, owner, repo, api_version=self.api_version)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def base_url(self) -> str:
        return str(self.gh.config.base_url)

    # --- transport ------------------------------------------------------------------------

    def _path(self, suffix: str = "") -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}{suffix}"

    def request(
        self,
        method: str,
        url: str,
        *,
        params: dict | None = None,
        json: Any = None,
        accept: str = JSON,
        headers: dict | None = None,
    ) -> httpx.Response:
        """One request with the pinned API version; GitHub's failures become our exceptions."""
        sent = {"Accept": accept, "X-GitHub-Api-Version": self.api_version, **(headers or {})}
        tries = READ_TRIES if method in IDEMPOTENT else 1
        for tried in range(1, tries + 1):
            try:
                response = self._send(method, url, params=params, json=json, headers=sent)
            except TransientGitHubError as exc:
                wait = read_pause(tried, exc.retry_after)
                if tried == tries or wait is None:
                    raise
                log.info("transient GitHub error on a read, tried again", extra={"wait": round(wait, 2)})
                time.sleep(wait)
                continue
            if method not in IDEMPOTENT and self.repo and (current := attempt.current()) is not None:
                current.writes += 1  # a change in the repository: progress, the backoff starts over
            self._server_date = response.headers.get("date") or self._server_date
            return response
        raise AssertionError("unreachable")

    def server_time(self) -> datetime | None:
        """GitHub's clock as of its last answer (its Date header), None before any answer.

        Leases compare GitHub's timestamps with this, never with our own clock, which may be off."""
        if not self._server_date:
            return None
        try:
            return parsedate_to_datetime(self._server_date).astimezone(UTC)
        except (TypeError, ValueError):
            return None

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; GitHub's failures become our exceptions."""
        current = attempt.current()
        if current is not None:
            current.check()  # an abandoned attempt sends nothing more
        try:
            return self.gh.request(method, url, **kwargs).raw_response
        except RequestFailed as exc:
            raise error_from_response(exc.response.raw_response) from exc
        except RequestTimeout as exc:
            raise TransientGitHubError(None, f"timed out: {method} {url}") from exc
        except RequestError as exc:  # connection reset, DNS, TLS: the network, not the request
            raise TransientGitHubError(None, f"request failed: {method} {url}") from exc

    def _json(self, method: str, suffix: str, **kwargs: Any) -> Any:
        return self.request(method, self._path(suffix), **kwargs).json()

    def paginate(self, url: str, params: dict | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following the Link header (never building page URLs).

        The API version header goes on every page: githubkit's own paginator drops it after the
        first page.
        """
        params = {"per_page": PER_PAGE, **(params or {})}
        next_url: str | None = url
        while next_url:
            response = self.request("GET", next_url, params=params)
            data = response.json()
            # Some list endpoints wrap their items: {"total_count": n, "check_runs": [...]}.
            items = data if isinstance(data, list) else _wrapped_items(data)
            yield from items
            next_url = self._same_origin(response.links.get("next", {}).get("url"))
            params = None  # the next URL carries its own query

    def _same_origin(self, url: str | None) -> str | None:
        """A Link URL only if it points at our API: the token goes with every request, and a
        link to another host (a proxy's, a mock's) must not take it there."""
        if not url:
            return None
        link, base = httpx.URL(url), httpx.URL(self.base_url)
        if (link.scheme, link.host, link.port) != (base.scheme, base.host, base.port):
            log.warning("not following a pagination link to another host", extra={"host": link.host})
            return None
        return url

    def list_if_changed(self, suffix: str, etag: str | None = None) -> ListFetch:
        """A listing revalidated by the ETag of its first page: a 304 costs no primary rate limit.
        Only a listing that fits one page gets an ETag back, so a cached copy is always whole."""
        headers = {"If-None-Match": etag} if etag else None
        url = self._path(suffix)
        response = self.request("GET", url, params={"per_page": PER_PAGE}, headers=headers)
        if response.status_code == 304:
            return ListFetch(None, etag, not_modified=True)
        data = response.json()
        items = data if isinstance(data, list) else _wrapped_items(data)
        following = self._same_origin(response.links.get("next", {}).get("url"))
        if following is None:
            return ListFetch(items, response.headers.get("etag"))
        return ListFetch(items + list(self.paginate(following)), None)

    def _paginate(self, suffix: str, params: dict | None = None) -> list:
        return list(self.paginate(self._path(suffix), params))


def read_pause(tried: int, retry_after: float | None) -> float | None:
    """How long to wait before sending a read again, or None if the wait is too long to spend
    in place (the worker schedules it instead). Jittered, so that threads do not return at once;
    GitHub's own `retry-after` is kept to the second."""
    if retry_after is not None and retry_after > READ_WAIT_MAX:
        return None
    backoff = READ_BACKOFF * 2 ** (tried - 1) * random.uniform(0.5, 1.0)
    return min(READ_WAIT_MAX, max(retry_after or 0.0, backoff))


def _wrapped_items(data: dict) -> list:
    lists = [value for value in data.values() if isinstance(value, list)]
    return lists[0] if len(lists) == 1 else []
