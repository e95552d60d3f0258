"""The one module that talks to GitHub, for both the App and the Action.

Every GitHub request either job makes goes through `GitHubClient`, a thin wrapper around a
githubkit `GitHub` bound to one repository. It owns what GitHub's documentation leaves to the
caller: the pinned REST API version, pagination, the limits on check runs, issues and comments
(chunking and truncating before GitHub answers 422), the id-versus-number trap of sub-issues, the
422-versus-silent-drop trap of assignees, and the mapping of GitHub's transient failures (5xx,
timeouts, secondary rate limits) to one exception the worker retries with backoff. It never
sleeps and never retries by itself: retries belong to the worker, not to a request thread.

Responses are read with `.json()`, never githubkit's strict models: real responses carry fields
and union members the models reject, and a job must not fail over schema drift.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from githubkit import GitHub
from githubkit.exception import RequestError, RequestFailed, RequestTimeout

log = logging.getLogger(__name__)

# 2022-11-28 is the one version every GitHub serves (github.com for at least 24 months after
# 2026-03-12, and every GHES). githubkit would send 2026-03-10 on the first page and nothing on
# the pages after it, mixing two versions in one listing; pinning it on every request avoids that.
API_VERSION = "2022-11-28"
RAW = "application/vnd.github.raw+json"
JSON = "application/vnd.github+json"

# Documented limits (see ../shared/reference/github-platform.md, sections B and C).
TITLE_MAX = 256
BODY_MAX = 65536
BODY_MARGIN = 512  # GitHub counts some characters differently from Python; stay well under
OUTPUT_TEXT_MAX = 65535  # check run output.summary and output.text
OUTPUT_TITLE_MAX = 255
ANNOTATIONS_PER_REQUEST = 50
ANNOTATION_LEVELS = frozenset({"notice", "warning", "failure"})
ANNOTATION_MESSAGE_MAX = 64 * 1024 - 1
ANNOTATION_TITLE_MAX = 255
ACTIONS_MAX = 3
ACTION_LABEL_MAX = 20
ACTION_DESCRIPTION_MAX = 40
ACTION_IDENTIFIER_MAX = 20
SUB_ISSUES_MAX = 100
PER_PAGE = 100

TRUNCATED = "\n\n… (truncated: GitHub limits this text)"

# Statuses that mean "GitHub is having a moment", not "the request is wrong".
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


class GitHubError(Exception):
    """A request GitHub refused for good: retrying the same request will not help."""

    def __init__(self, status: int | None, message: str, *, errors: list | None = None):
        self.status = status
        self.message = message
        self.errors = errors or []
        super().__init__(f"{status} {message}" if status else message)


class NotFound(GitHubError):
    """404 (or 410 Gone): the thing, or the endpoint, does not exist for this token."""


class TransientGitHubError(GitHubError):
    """5xx, a timeout, a dropped connection or a rate limit: the worker retries with backoff.

    `retry_after` is GitHub's own advice in seconds (retry-after, or until x-ratelimit-reset)
    when it gave one; None means "back off as you see fit".
    """

    def __init__(self, status: int | None, message: str, *, retry_after: float | None = None):
        super().__init__(status, message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class FileFetch:
    """A conditional read: `text` is None when the file is missing or unchanged (`not_modified`)."""

    text: str | None
    etag: str | None
    not_modified: bool = False


@dataclass(frozen=True)
class CheckAction:
    """A requested-action button on a completed check run."""

    label: str
    description: str
    identifier: str

    def as_json(self) -> dict:
        if len(self.identifier) > ACTION_IDENTIFIER_MAX:
            raise ValueError(f"check run action identifier too long: {self.identifier!r}")
        return {
            "label": self.label[:ACTION_LABEL_MAX],
            "description": self.description[:ACTION_DESCRIPTION_MAX],
            "identifier": self.identifier,
        }


def truncate(text: str, limit: int, *, margin: int = 0) -> str:
    """Cut `text` to fit `limit` characters, saying so, keeping `margin` spare."""
    room = limit - margin
    if len(text) <= room:
        return text
    return text[: room - len(TRUNCATED)] + TRUNCATED


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
    file) is cached explicitly by ETag in `app.repo_config`, where it can be seen and tested.
    """
    return GitHub(
        auth,
        base_url=base_url,
        transport=transport,
        http_cache=http_cache,
        auto_retry=False,
    )


class GitHubClient:
    """GitHub for one repository (owner/repo), as the three jobs use it."""

    def __init__(
        self,
        gh: GitHub,
        owner: str,
        repo: str,
        *,
        api_version: str = API_VERSION,
        repo_factory: Callable[[str, str], GitHubClient] | None = None,
    ):
        self.gh = gh
        self.owner = owner
        self.repo = repo
        self.api_version = api_version
        # How to reach another repository of the same owner (the org's `.github`): an App's
        # token is narrowed to one repository, so the App passes a factory that mints another.
        self.repo_factory = repo_factory
        self._labels_ready: set[str] = set()

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
    ) -> GitHubClient:
        """From a token (an installation token, or the Action's GITHUB_TOKEN)."""
        gh = make_github(token, base_url=base_url, transport=transport, http_cache=http_cache)
        return cls(gh, owner, repo)

    @classmethod
    def from_github(cls, gh: GitHub, owner: str, repo: str) -> GitHubClient:
        """From a githubkit client built elsewhere (e.g. with installation auth by the worker).

        Build it with `make_github` so that githubkit does not retry or sleep on its own.
        """
        return cls(gh, owner, repo)

    def for_repo(self, repo: str, owner: str | None = None) -> GitHubClient:
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
        try:
            response = self.gh.request(method, url, params=params, json=json, headers=sent)
        except RequestFailed as exc:
            raise _map_failure(exc.response.raw_response) from exc
        except RequestTimeout as exc:
            raise TransientGitHubError(None, f"timed out: {method} {url}") from exc
        except RequestError as exc:  # connection reset, DNS, TLS: the network, not the request
            raise TransientGitHubError(None, f"request failed: {method} {url}") from exc
        return response.raw_response

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

    def _paginate(self, suffix: str, params: dict | None = None) -> list:
        return list(self.paginate(self._path(suffix), params))

    # --- repository and files ---------------------------------------------------------------

    def get_repository(self) -> dict:
        return self._json("GET", "")

    def get_file(self, path: str, ref: str | None = None) -> str | None:
        """A file's text at `ref` (the default branch when None); None when it does not exist."""
        return self.get_file_if_changed(path, ref).text

    def get_file_if_changed(self, path: str, ref: str | None = None, etag: str | None = None) -> FileFetch:
        """A conditional read: a 304 (unchanged since `etag`) costs no primary rate limit."""
        headers = {"If-None-Match": etag} if etag else None
        params = {"ref": ref} if ref else None
        try:
            response = self.request("GET", self._contents(path), params=params, accept=RAW, headers=headers)
        except NotFound:
            return FileFetch(text=None, etag=None)
        if response.status_code == 304:
            return FileFetch(text=None, etag=etag, not_modified=True)
        return FileFetch(text=_decode(response), etag=response.headers.get("etag"))

    def _contents(self, path: str) -> str:
        return self._path(f"/contents/{quote(path.lstrip('/'), safe='/')}")

    def get_branch_sha(self, branch: str) -> str | None:
        try:
            ref = self._json("GET", f"/git/ref/heads/{quote(branch, safe='/')}")
        except NotFound:
            return None
        return ref["object"]["sha"]

    def create_branch(self, branch: str, sha: str) -> bool:
        """Create `branch` at `sha`; False when it already exists (a retry, or a human)."""
        try:
            self._json("POST", "/git/refs", json={"ref": f"refs/heads/{branch}", "sha": sha})
        except GitHubError as exc:
            if exc.status == 422:  # "Reference already exists"
                return False
            raise
        return True

    def put_file(self, path: str, text: str, *, branch: str, message: str) -> dict:
        """Create a file on a branch (used for the optional draft postmortem document)."""
        content = base64.b64encode(text.encode("utf-8")).decode("ascii")
        body = {"message": message, "content": content, "branch": branch}
        return self.request("PUT", self._contents(path), json=body).json()

    # --- pull requests ------------------------------------------------------------------------

    def get_pull(self, number: int) -> dict:
        return self._json("GET", f"/pulls/{number}")

    def list_pull_files(self, number: int) -> list[dict]:
        """The PR's changed files (GitHub stops at 3000), each with filename and status."""
        return self._paginate(f"/pulls/{number}/files")

    def list_reviews(self, number: int) -> list[dict]:
        """A PR's reviews; REST states are upper case ("APPROVED"), unlike webhooks."""
        return self._paginate(f"/pulls/{number}/reviews")

    def list_pulls(self, *, head: str | None = None, state: str = "open") -> list[dict]:
        params = {"state": state, **({"head": head} if head else {})}
        return self._paginate("/pulls", params)

    def create_pull(self, *, title: str, head: str, base: str, body: str, draft: bool) -> dict:
        payload = {
            "title": truncate(title, TITLE_MAX),
            "head": head,
            "base": base,
            "body": truncate(body, BODY_MAX, margin=BODY_MARGIN),
            "draft": draft,
        }
        return self._json("POST", "/pulls", json=payload)

    # --- check runs ---------------------------------------------------------------------------

    def create_check_run(
        self,
        name: str,
        head_sha: str,
        *,
        status: str = "in_progress",
        external_id: str | None = None,
        details_url: str | None = None,
    ) -> dict:
        payload: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if external_id:
            payload["external_id"] = external_id
        if details_url:
            payload["details_url"] = details_url
        return self._json("POST", "/check-runs", json=payload)

    def update_check_run(self, run_id: int, **fields: Any) -> dict:
        """A raw PATCH; prefer `complete_check_run`, which keeps within the limits."""
        return self._json("PATCH", f"/check-runs/{run_id}", json=fields)

    def get_check_run(self, run_id: int) -> dict:
        return self._json("GET", f"/check-runs/{run_id}")

    def list_check_runs(self, ref: str, *, name: str | None = None) -> list[dict]:
        params = {"check_name": name} if name else None
        return self._paginate(f"/commits/{quote(ref, safe='')}/check-runs", params)

    def complete_check_run(
        self,
        run_id: int,
        *,
        conclusion: str,
        title: str,
        summary: str,
        annotations: Sequence[dict] = (),
        text: str | None = None,
        actions: Sequence[CheckAction] = (),
    ) -> dict:
        """Finish a run: annotations in PATCHes of at most 50 (GitHub appends them), the last one
        carrying the conclusion, so a run is never shown completed with half its annotations."""
        if len(actions) > ACTIONS_MAX:
            raise ValueError(f"at most {ACTIONS_MAX} check run actions, got {len(actions)}")
        output = {
            "title": truncate(title, OUTPUT_TITLE_MAX),
            "summary": truncate(summary, OUTPUT_TEXT_MAX),
        }
        if text:
            output["text"] = truncate(text, OUTPUT_TEXT_MAX)
        checked = [_checked_annotation(a) for a in annotations]
        chunks = [
            checked[i : i + ANNOTATIONS_PER_REQUEST] for i in range(0, len(checked), ANNOTATIONS_PER_REQUEST)
        ]
        for chunk in chunks[:-1]:
            self.update_check_run(run_id, output={**output, "annotations": chunk})
        final: dict[str, Any] = {"status": "completed", "conclusion": conclusion, "output": output}
        if chunks:
            final["output"] = {**output, "annotations": chunks[-1]}
        if actions:
            final["actions"] = [a.as_json() for a in actions]
        return self.update_check_run(run_id, **final)

    # --- issues -------------------------------------------------------------------------------

    def get_issue(self, number: int) -> dict:
        return self._json("GET", f"/issues/{number}")

    def create_issue(self, title: str, body: str, *, labels: Sequence[str] = ()) -> dict:
        """Open an issue, cut to GitHub's limits. No assignees here: one unassignable login makes
        GitHub refuse the whole issue (422); use `assign` afterwards."""
        payload: dict[str, Any] = {
            "title": truncate(title, TITLE_MAX),
            "body": truncate(body, BODY_MAX, margin=BODY_MARGIN),
        }
        if labels:
            payload["labels"] = list(labels)
        return self._json("POST", "/issues", json=payload)

    def update_issue(self, number: int, **fields: Any) -> dict:
        """PATCH title, body, state, state_reason…; title and body are cut to the limits."""
        if fields.get("title") is not None:
            fields["title"] = truncate(fields["title"], TITLE_MAX)
        if fields.get("body") is not None:
            fields["body"] = truncate(fields["body"], BODY_MAX, margin=BODY_MARGIN)
        return self._json("PATCH", f"/issues/{number}", json=fields)

    def list_issues(self, *, labels: str | None = None, state: str = "all") -> list[dict]:
        """Issues (pull requests left out) with all of the comma-separated `labels`.

        This is how the jobs find what they made before: listing by label reads the database,
        whereas search lags behind writes and may not index the hidden markers at all.
        """
        params = {"state": state, **({"labels": labels} if labels else {})}
        return [i for i in self._paginate("/issues", params) if "pull_request" not in i]

    def list_timeline(self, number: int) -> list[dict]:
        return self._paginate(f"/issues/{number}/timeline")

    # --- comments -----------------------------------------------------------------------------

    def list_comments(self, number: int) -> list[dict]:
        return self._paginate(f"/issues/{number}/comments")

    def create_comment(self, number: int, body: str) -> dict:
        body = truncate(body, BODY_MAX, margin=BODY_MARGIN)
        return self._json("POST", f"/issues/{number}/comments", json={"body": body})

    def update_comment(self, comment_id: int, body: str) -> dict:
        body = truncate(body, BODY_MAX, margin=BODY_MARGIN)
        return self._json("PATCH", f"/issues/comments/{comment_id}", json={"body": body})

    def delete_comment(self, comment_id: int) -> None:
        # Already gone counts as deleted: a retry must not fail over its own earlier success.
        with contextlib.suppress(NotFound):
            self.request("DELETE", self._path(f"/issues/comments/{comment_id}"))

    def find_comment(self, number: int, marker: str) -> dict | None:
        """The first comment whose body holds `marker` (a hidden HTML comment the bot wrote)."""
        return next((c for c in self.list_comments(number) if marker in (c.get("body") or "")), None)

    def upsert_comment(self, number: int, marker: str, body: str) -> dict:
        """One comment per marker: update it in place, or create it. `body` must hold `marker`."""
        if marker not in body:
            raise ValueError("the comment body must contain its marker, or it cannot be found again")
        existing = self.find_comment(number, marker)
        if existing is None:
            return self.create_comment(number, body)
        if existing.get("body") == body:
            return existing  # unchanged: no write, no notification
        return self.update_comment(existing["id"], body)

    # --- labels -------------------------------------------------------------------------------

    def ensure_label(self, name: str, color: str, description: str = "") -> None:
        """Create the label with our colour if missing (GitHub would auto-create it grey)."""
        if name.lower() in self._labels_ready:
            return
        try:
            self.request("GET", self._path(f"/labels/{quote(name, safe='')}"))
        except NotFound:
            body = {"name": name, "color": color.lstrip("#"), "description": description[:100]}
            try:
                self._json("POST", "/labels", json=body)
            except GitHubError as exc:
                if exc.status != 422:  # 422 already_exists: another worker made it first
                    raise
        self._labels_ready.add(name.lower())

    def add_labels(self, number: int, labels: Sequence[str]) -> list[dict]:
        return self._json("POST", f"/issues/{number}/labels", json={"labels": list(labels)})

    def remove_label(self, number: int, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.request("DELETE", self._path(f"/issues/{number}/labels/{quote(name, safe='')}"))

    # --- assignees ----------------------------------------------------------------------------

    def is_assignable(self, login: str) -> bool:
        """GET /assignees/{login}: 204 when the user can be assigned in this repository, 404 not."""
        try:
            self.request("GET", self._path(f"/assignees/{quote(login, safe='')}"))
        except NotFound:
            return False
        return True

    def add_assignees(self, number: int, logins: Sequence[str]) -> list[str]:
        """POST assignees and return who GitHub actually assigned: it silently drops the rest."""
        issue = self._json("POST", f"/issues/{number}/assignees", json={"assignees": list(logins)})
        return [a["login"] for a in issue.get("assignees") or []]

    def remove_assignees(self, number: int, logins: Sequence[str]) -> list[str]:
        """DELETE assignees (job 3: an item's owner changed); returns who is still assigned."""
        issue = self.request(
            "DELETE", self._path(f"/issues/{number}/assignees"), json={"assignees": list(logins)}
        ).json()
        return [a["login"] for a in issue.get("assignees") or []]

    def assign(self, number: int, logins: Sequence[str]) -> tuple[list[str], list[str]]:
        """Assign whoever can be assigned: (assigned, not assigned). Nothing is dropped silently."""
        candidates = [login for login in logins if self.is_assignable(login)]
        assigned = self.add_assignees(number, candidates) if candidates else []
        lowered = {a.lower() for a in assigned}
        return assigned, [login for login in logins if login.lower() not in lowered]

    # --- sub-issues ---------------------------------------------------------------------------

    def list_sub_issues(self, parent_number: int) -> list[dict]:
        return self._paginate(f"/issues/{parent_number}/sub_issues")

    def add_sub_issue(self, parent_number: int, child_id: int) -> bool:
        """Link an issue as a sub-issue of `parent_number`. `child_id` is the child's database
        `id`, never its `number` (GitHub answers 404/422 to a number).

        Reads the parent's sub-issues first: a child already linked costs no write (a repeat is
        the normal case for idempotent jobs), and a 404 there means the server has no sub-issues
        (GHES 3.17), where this returns False and the markers in the bodies are the link.
        """
        if isinstance(child_id, bool) or not isinstance(child_id, int):
            raise TypeError("sub_issue_id must be the issue's integer id, not a number or node id")
        try:
            children = self.list_sub_issues(parent_number)
        except NotFound:
            return False
        if any(child.get("id") == child_id for child in children):
            return True
        try:
            self._json("POST", f"/issues/{parent_number}/sub_issues", json={"sub_issue_id": child_id})
        except GitHubError as exc:
            # 422 after a concurrent worker linked it between our read and our write.
            if exc.status == 422 and any(
                child.get("id") == child_id for child in self.list_sub_issues(parent_number)
            ):
                return True
            raise
        return True


# --- helpers ----------------------------------------------------------------------------------


def _wrapped_items(data: dict) -> list:
    lists = [value for value in data.values() if isinstance(value, list)]
    return lists[0] if len(lists) == 1 else []


def _decode(response: httpx.Response) -> str:
    return response.content.decode("utf-8", errors="replace")


def _checked_annotation(annotation: dict) -> dict:
    """An annotation within GitHub's rules: a valid level, bounded message and title, and columns
    only on single-line annotations (GitHub rejects them otherwise)."""
    if annotation.get("annotation_level") not in ANNOTATION_LEVELS:
        raise ValueError(f"annotation_level must be one of {sorted(ANNOTATION_LEVELS)}")
    out = dict(annotation)
    out["message"] = truncate(out["message"], ANNOTATION_MESSAGE_MAX)
    if out.get("title"):
        out["title"] = truncate(out["title"], ANNOTATION_TITLE_MAX)
    if out.get("raw_details"):
        out["raw_details"] = truncate(out["raw_details"], ANNOTATION_MESSAGE_MAX)
    if out["start_line"] != out["end_line"]:
        out.pop("start_column", None)
        out.pop("end_column", None)
    return out


def _map_failure(response: httpx.Response) -> GitHubError:
    """Turn a failed response into NotFound, TransientGitHubError or GitHubError."""
    status = response.status_code
    message, errors = _error_details(response)
    if status in TRANSIENT_STATUSES:
        return TransientGitHubError(status, message, retry_after=_retry_after(response))
    if status == 429 or (status == 403 and _is_rate_limit(response, message)):
        return TransientGitHubError(status, message, retry_after=_retry_after(response, 60.0))
    if status in (404, 410):
        return NotFound(status, message)
    return GitHubError(status, message, errors=errors)


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
