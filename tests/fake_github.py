"""One shared, stateful fake of GitHub's REST API for every behaviour test (App, Action, job 3).

`FakeGitHub().transport` is an `httpx.MockTransport`: hand it to `GitHubClient.for_token` (or any
githubkit/httpx client) and the code under test talks to an in-memory GitHub that holds
repositories, files per ref and branches, issues (id != number, with node ids), labels, comments,
check runs, pull requests with their files and reviews (`add_review`, `merge`), assignable users,
sub-issues and timelines. Everything written carries its author as GitHub records it (`user`, and
`performed_via_github_app` for an App's token) and GitHub's own `created_at`/`updated_at` on the
fake's clock; `add_issue(user=…)`, `add_pull(user=…)` and `add_comment(user=…)` write as anyone,
the bot's own login included. GraphQL answers the one query the code asks: `viewer { login }`.

It records every call (`fake.calls`) and enforces the documented limits the way GitHub does, so a
test fails where production would: 422 on more than 50 annotations per request, summaries over
65535 characters, more than 3 actions or over-long action fields, an annotation level that is not
notice|warning|failure, titles over 256 and bodies over 65536 characters, a `sub_issue_id` that is
not an integer or not an issue id, more than 100 sub-issues, an unassignable assignee on create
(422, and no issue), while `add_assignees` silently drops the unassignable; only the App that
created a check run may update it; contents and list pages answer 304 to a matching ETag. A
repository's comments can be listed at once (`/issues/comments`) and its files as a tree
(`/git/trees/{ref}`); `add_comment`, `add_pull(created_at=…)` and `merge(at=…)` seed a history
with its own dates.

Trouble on demand: `FakeGitHub(secondary_limit=N)` answers 403 with `retry-after` once N
content-creating requests were made in the current window (move the clock with `advance()`);
`fail_next(...)` injects 5xx answers or timeouts, optionally after the write took effect (the
"GitHub did it but the answer was lost" case); `before(...)` runs a hook ahead of a request,
outside the fake's lock, so tests can force two threads into a chosen interleaving.

The App's own webhook deliveries (`GET /app/hook/deliveries`, cursor-paginated newest first, and
`POST /app/hook/deliveries/{id}/attempts`) answer to an App JWT (any RS256 JWT with an `iss`; with
`app_public_key` set, its signature is checked); seed them with `add_hook_delivery`.

A pytest fixture `fake_github` (a fresh FakeGitHub per test) is defined at the bottom.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import pytest

API = "https://api.github.com"
APP_TOKEN = "ghs_fake_installation_token"
APP_ID = 4242
APP_LOGIN = "blameless-bot[bot]"
ACTIONS_TOKEN = "ghs_fake_actions_token"
ACTIONS_APP_ID = 15368  # the github-actions app, owner of runs made with GITHUB_TOKEN
ACTIONS_LOGIN = "github-actions[bot]"
SUPPORTED_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
GHES_VERSIONS = frozenset({"2022-11-28"})

TITLE_MAX = 256
BODY_MAX = 65536
OUTPUT_TEXT_MAX = 65535
ANNOTATIONS_MAX = 50
ANNOTATION_LEVELS = ("notice", "warning", "failure")
ACTIONS_MAX = 3
ACTION_FIELD_MAX = {"label": 20, "description": 40, "identifier": 20}
SUB_ISSUES_MAX = 100
ASSIGNEES_PER_REQUEST = 10
CHECK_STATUSES = ("queued", "in_progress", "completed")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
EPOCH = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


class Reply(Exception):
    """Raised inside a route to answer with a status and JSON body."""

    def __init__(self, status: int, body: Any = None, headers: dict | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def unprocessable(message: str, *, field_name: str | None = None, code: str = "invalid") -> Reply:
    errors = [{"resource": "Issue", "field": field_name, "code": code, "message": message}]
    return Reply(422, {"message": "Validation Failed", "errors": errors, "status": "422"})


def not_found() -> Reply:
    return Reply(404, {"message": "Not Found", "status": "404"})


@dataclass(frozen=True)
class Identity:
    """Who a token acts as: an App (its id owns check runs) and the login shown on its writes."""

    app_id: int | None
    login: str
    repos: frozenset[str] | None = None  # "owner/name" the token may see; None = all

    @property
    def user(self) -> dict:
        kind = "Bot" if self.login.endswith("[bot]") else "User"
        return {"login": self.login, "id": zlib.crc32(self.login.encode()) % 10**7, "type": kind}

    @property
    def via_app(self) -> dict | None:
        """`performed_via_github_app` on what this identity writes: the App, for an App's token."""
        if self.app_id is None:
            return None
        return {"id": self.app_id, "slug": self.login.removesuffix("[bot]"), "name": self.login}

    @property
    def bot(self):
        """This identity as the code under test knows itself (app.github.markers.BotIdentity)."""
        from app.github.markers import BotIdentity

        return BotIdentity(self.login, self.app_id)


@dataclass
class Call:
    """One request as the fake saw it, with the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int = 0

    @property
    def api_version(self) -> str | None:
        return self.headers.get("x-github-api-version")


@dataclass
class Failure:
    status: int | None  # None: a timeout
    method: str | None
    path: re.Pattern[str] | None
    count: int
    after_effect: bool
    headers: dict
    message: str = "Server Error"

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and (self.path is None or bool(self.path.search(path)))


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # ref (branch or sha) -> files
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head sha
    issues: dict[int, dict] = field(default_factory=dict)  # number -> issue (pulls included)
    pulls: dict[int, dict] = field(default_factory=dict)
    pull_files: dict[int, list[dict]] = field(default_factory=dict)
    reviews: dict[int, list[dict]] = field(default_factory=dict)
    comments: dict[int, dict] = field(default_factory=dict)  # id -> comment
    labels: dict[str, dict] = field(default_factory=dict)  # lower-cased name -> label
    assignable: set[str] = field(default_factory=set)  # lower-cased logins
    check_runs: dict[int, dict] = field(default_factory=dict)
    sub_issues: dict[int, list[int]] = field(default_factory=dict)  # parent number -> child ids
    timeline: dict[int, list[dict]] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def put_file(self, path: str, text: str, ref: str | None = None) -> None:
        self.files.setdefault(ref or self.default_branch, {})[path] = text

    def issue_by_id(self, issue_id: int) -> dict | None:
        return next((i for i in self.issues.values() if i["id"] == issue_id), None)


Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class FakeGitHub:
    """An in-memory GitHub REST API behind an httpx.MockTransport. Thread-safe."""

    def __init__(
        self,
        *,
        secondary_limit: int | None = None,
        window: float = 60.0,
        ghes: bool = False,
        base_url: str = API,
    ):
        self.base_url = base_url.rstrip("/")
        self.ghes = ghes  # GHES 3.17: no sub-issue endpoints, only API version 2022-11-28
        self.sub_issues_supported = not ghes
        self.secondary_limit = secondary_limit
        self.window = window
        self.clock = 0.0  # seconds since EPOCH; moves only with advance()
        self._window_start = 0.0
        self._writes_in_window = 0
        self.repos: dict[str, FakeRepo] = {}
        self.tokens: dict[str, Identity] = {
            APP_TOKEN: Identity(APP_ID, APP_LOGIN),
            ACTIONS_TOKEN: Identity(ACTIONS_APP_ID, ACTIONS_LOGIN),
        }
        self.calls: list[Call] = []
        self.unrouted: list[Call] = []  # requests no route matched: a gap in the fake, or a typo
        self._failures: list[Failure] = []
        self._hooks: list[tuple[str | None, re.Pattern[str], Callable[[Call], None]]] = []
        self.hook_deliveries: list[dict] = []  # the App's webhook deliveries, oldest first
        self.redelivered: list[int] = []  # delivery ids asked for again (POST .../attempts)
        self.app_public_key = None  # a public key object: App JWTs must be signed with its pair
        self._ids = 10_000_000  # ids start far from issue numbers so that mixing them up fails
        self._lock = threading.RLock()
        self._routes = self._build_routes()
        self.transport = httpx.MockTransport(self.handle)

    # --- seeding ------------------------------------------------------------------------------

    def add_repo(
        self,
        owner: str,
        name: str,
        *,
        default_branch: str = "main",
        files: dict[str, str] | None = None,
        assignable: Iterable[str] = (),
    ) -> FakeRepo:
        repo = FakeRepo(owner, name, self._next_id(), default_branch)
        repo.branches[default_branch] = self._sha(f"{owner}/{name}@{default_branch}")
        repo.files[default_branch] = dict(files or {})
        repo.assignable.update(login.lower() for login in assignable)
        self.repos[repo.full_name.lower()] = repo
        return repo

    def repo(self, owner: str, name: str) -> FakeRepo:
        return self.repos[f"{owner}/{name}".lower()]

    def add_token(self, token: str, *, app_id: int | None, login: str, repos=None) -> None:
        self.tokens[token] = Identity(app_id, login, frozenset(r.lower() for r in repos) if repos else None)

    def add_issue(
        self,
        owner: str,
        name: str,
        title: str,
        body: str = "",
        *,
        labels: Iterable[str] = (),
        user: str = "octocat",
        state: str = "open",
        created_at: datetime | None = None,
    ) -> dict:
        """An issue written by `user` (a login; the bot's own login seeds what the bot wrote)."""
        with self._lock:
            repo = self.repo(owner, name)
            issue = self._new_issue(repo, title, body, self.identity_of(user))
            issue["state"] = state
            if created_at:
                issue["created_at"] = issue["updated_at"] = _iso(created_at)
            for label in labels:
                issue["labels"].append(self._label(repo, label))
            return issue

    def add_pull(
        self,
        owner: str,
        name: str,
        *,
        head_sha: str,
        files: dict[str, str | None],
        base: str | None = None,
        head_ref: str = "feature",
        title: str = "Add a postmortem",
        user: str = "octocat",
        body: str = "",
        created_at: datetime | None = None,
    ) -> dict:
        """A pull request whose head `head_sha` holds `files` (None: the file was removed)."""
        with self._lock:
            repo = self.repo(owner, name)
            issue = self._new_issue(repo, title, body, self.identity_of(user))
            if created_at:
                issue["created_at"] = issue["updated_at"] = _iso(created_at)
            number = issue["number"]
            pull = self._pull_json(repo, issue, head_ref, head_sha, base or repo.default_branch)
            issue["pull_request"] = {"url": pull["url"]}
            repo.pulls[number] = pull
            snapshot = dict(repo.files.get(repo.default_branch, {}))
            snapshot.update({p: t for p, t in files.items() if t is not None})
            repo.files[head_sha] = snapshot
            repo.pull_files[number] = [self._diff_entry(p, t) for p, t in files.items()]
            return pull

    def add_review(
        self,
        owner: str,
        name: str,
        number: int,
        *,
        user: str,
        state: str = "APPROVED",
        submitted_at: datetime | None = None,
    ) -> dict:
        """A review on a pull request; `state` as REST spells it (upper case)."""
        with self._lock:
            repo = self.repo(owner, name)
            pull = repo.pulls[number]
            review = {
                "id": self._next_id(),
                "user": {"login": user, "type": "User"},
                "state": state,
                "commit_id": pull["head"]["sha"],
                "submitted_at": _iso(submitted_at or self.now),
            }
            repo.reviews.setdefault(number, []).append(review)
            return review

    def merge(self, owner: str, name: str, number: int, *, at: datetime | None = None) -> dict:
        """Merge a pull request: its head's files land on the base branch."""
        with self._lock:
            repo = self.repo(owner, name)
            pull = repo.pulls[number]
            base = pull["base"]["ref"]
            repo.files[base] = dict(repo.files.get(pull["head"]["sha"], {}))
            repo.branches[base] = pull["head"]["sha"]
            when = _iso(at or self.now)
            pull.update(
                state="closed",
                merged=True,
                merge_commit_sha=pull["head"]["sha"],
                merged_at=when,
                closed_at=when,
            )
            repo.issues[number].update(state="closed", closed_at=when)
            return pull

    def push(self, owner: str, name: str, number: int, head_sha: str, files: dict[str, str]) -> dict:
        """A new commit on a pull request's head: later checks of the old head are superseded."""
        with self._lock:
            repo = self.repo(owner, name)
            pull = repo.pulls[number]
            snapshot = dict(repo.files.get(pull["head"]["sha"], {}))
            snapshot.update(files)
            repo.files[head_sha] = snapshot
            pull["head"]["sha"] = head_sha
            known = {f["filename"] for f in repo.pull_files[number]}
            repo.pull_files[number] += [self._diff_entry(p, t) for p, t in files.items() if p not in known]
            return pull

    def add_comment(
        self,
        owner: str,
        name: str,
        number: int,
        body: str,
        *,
        user: str = "mallory",
        created_at: datetime | None = None,
    ) -> dict:
        """A comment on issue or PR `number` written by `user` (anyone who can comment), at GitHub's
        clock or at `created_at` for a seeded history; no event for the bot to react to."""
        with self._lock:
            repo = self.repo(owner, name)
            comment = self._write_comment(repo, self._issue(repo, number), body, self.identity_of(user))
            if created_at:
                comment["created_at"] = comment["updated_at"] = _iso(created_at)
            return _public(comment)

    def identity_of(self, login: str) -> Identity:
        """The identity GitHub records for `login`: a known token's (an App's bot), or a user's."""
        known = next((i for i in self.tokens.values() if i.login.lower() == login.lower()), None)
        return known or Identity(None, login)

    def add_timeline_event(self, owner: str, name: str, number: int, event: dict) -> None:
        with self._lock:
            self.repo(owner, name).timeline.setdefault(number, []).append(event)

    def add_hook_delivery(
        self,
        guid: str,
        *,
        event: str = "issues",
        action: str | None = "labeled",
        status_code: int = 200,
        redelivery: bool = False,
        delivered_at: datetime | None = None,
    ) -> dict:
        """One delivery attempt of the App's webhook, as GitHub lists it (status 0: no answer)."""
        with self._lock:
            delivery = {
                "id": self._next_id(),
                "guid": guid,
                "delivered_at": _iso(delivered_at or self.now),
                "redelivery": redelivery,
                "duration": 0.12,
                "status": "OK" if 200 <= status_code < 300 else f"Invalid HTTP Response: {status_code}",
                "status_code": status_code,
                "event": event,
                "action": action,
                "installation_id": 7,
                "repository_id": None,
                "throttled_at": None,
            }
            self.hook_deliveries.append(delivery)
            return delivery

    def client(self, owner: str, name: str, *, token: str = APP_TOKEN):
        """A GitHubClient for owner/name that talks to this fake."""
        from app.github.client import GitHubClient

        client = GitHubClient.for_token(token, owner, name, base_url=self.base_url, transport=self.transport)
        client.bot = self.tokens[token].bot  # the bot knows the account its token writes as
        return client

    def job_context(self, owner: str, name: str, event, config=None, **fields):
        """The JobContext a handler gets for `event` in owner/name, on this fake's clock."""
        from app.github.context import JobContext
        from checks.config import Config

        return JobContext(
            event=event,
            github=self.client(owner, name),
            config=config if config is not None else Config(),
            bot_login=APP_LOGIN,
            clock=lambda: self.now,
            **fields,
        )

    # --- trouble on demand --------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.clock += seconds

    @property
    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.clock)

    def fail_next(
        self,
        status: int | None = 502,
        *,
        method: str | None = None,
        path: str | None = None,
        count: int = 1,
        after_effect: bool = False,
        headers: dict | None = None,
        message: str = "Server Error",
    ) -> None:
        """The next `count` matching requests fail with `status` (None: a read timeout) and
        GitHub's JSON error `message`.

        `after_effect=True` performs the request first and then fails the answer, as when GitHub
        created the issue but the response never arrived.
        """
        pattern = re.compile(path) if path else None
        failure = Failure(status, method, pattern, count, after_effect, headers or {}, message)
        with self._lock:
            self._failures.append(failure)

    def before(self, method: str | None, path: str, hook: Callable[[Call], None]) -> None:
        """Run `hook(call)` before each matching request, outside the lock (for interleavings)."""
        self._hooks.append((method, re.compile(path), hook))

    # --- inspection ---------------------------------------------------------------------------

    def calls_to(self, method: str | None = None, path: str = "") -> list[Call]:
        pattern = re.compile(path)
        return [c for c in self.calls if method in (None, c.method) and pattern.search(c.path)]

    def issues(self, owner: str, name: str, *, pulls: bool = False) -> list[dict]:
        found = self.repo(owner, name).issues.values()
        return [i for i in found if pulls or "pull_request" not in i]

    def comments_on(self, owner: str, name: str, number: int) -> list[dict]:
        return [c for c in self.repo(owner, name).comments.values() if c["_issue"] == number]

    def check_runs(self, owner: str, name: str, *, head_sha: str | None = None) -> list[dict]:
        runs = self.repo(owner, name).check_runs.values()
        return [r for r in runs if head_sha in (None, r["head_sha"])]

    # --- the transport ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        call = self._call(request)
        for method, pattern, hook in list(self._hooks):
            if method in (None, call.method) and pattern.search(call.path):
                hook(call)
        with self._lock:
            self.calls.append(call)
            failure = self._take_failure(call)
            if failure and failure.status is None:
                call.status = 599
                raise httpx.ReadTimeout("injected timeout", request=request)
            if failure and not failure.after_effect:
                return self._respond(
                    call, Reply(failure.status, {"message": failure.message}, failure.headers)
                )
            reply = self._dispatch(call, request)
            if failure:
                reply = Reply(failure.status, {"message": failure.message}, failure.headers)
            return self._respond(call, reply)

    def _call(self, request: httpx.Request) -> Call:
        path = unquote(request.url.path)
        prefix = httpx.URL(self.base_url).path.rstrip("/")
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :] or "/"
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = request.content.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Call(request.method, path, dict(request.url.params), body, headers)

    def _respond(self, call: Call, reply: Reply) -> httpx.Response:
        call.status = reply.status
        # GitHub's clock in its Date header: leases compare its timestamps with it, never ours.
        date = format_datetime(self.now.astimezone(UTC), usegmt=True)
        headers = {"x-github-media-type": "github.v3", "date": date, **reply.headers}
        if reply.body is None:
            return httpx.Response(reply.status, headers=headers)
        if isinstance(reply.body, bytes):
            return httpx.Response(reply.status, headers=headers, content=reply.body)
        return httpx.Response(reply.status, headers=headers, json=reply.body)

    def _take_failure(self, call: Call) -> Failure | None:
        for failure in self._failures:
            if failure.count > 0 and failure.matches(call.method, call.path):
                failure.count -= 1
                return failure
        return None

    def _dispatch(self, call: Call, request: httpx.Request) -> Reply:
        if call.path.startswith("/app/hook/"):
            return self._dispatch_app(call)
        try:
            identity = self._authenticate(call)
            if call.method == "POST" and call.path == "/graphql":
                return self._graphql(call, identity)
            self._check_version(call)
            self._check_secondary_limit(call)
            for method, pattern, route in self._routes:
                match = pattern.fullmatch(call.path)
                if method == call.method and match:
                    repo = self._repo_for(identity, match.group("owner"), match.group("repo"))
                    params = {k: v for k, v in match.groupdict().items() if k not in ("owner", "repo")}
                    result = route(call, repo, identity, request=request, **params)
                    return result if isinstance(result, Reply) else Reply(200, result)
            self.unrouted.append(call)
            raise Reply(404, {"message": "Not Found (FakeGitHub has no such route)"})
        except Reply as reply:
            return reply

    def _dispatch_app(self, call: Call) -> Reply:
        """The App-level routes: the App JWT, not an installation token."""
        try:
            self._authenticate_app(call)
            self._check_version(call)
            if call.method == "GET" and call.path == "/app/hook/deliveries":
                return self._list_hook_deliveries(call)
            match = re.fullmatch(r"/app/hook/deliveries/(\d+)/attempts", call.path)
            if call.method == "POST" and match:
                return self._redeliver(int(match.group(1)))
            self.unrouted.append(call)
            raise Reply(404, {"message": "Not Found (FakeGitHub has no such route)"})
        except Reply as reply:
            return reply

    def _authenticate_app(self, call: Call) -> None:
        import jwt

        scheme, _, token = call.headers.get("authorization", "").partition(" ")
        try:
            if self.app_public_key is not None:
                claims = jwt.decode(token, self.app_public_key, algorithms=["RS256"])
            else:
                claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            claims = {}
        if scheme.lower() != "bearer" or not claims.get("iss"):
            raise Reply(401, {"message": "A JSON web token could not be decoded", "status": "401"})

    def _list_hook_deliveries(self, call: Call) -> Reply:
        """Newest first, `per_page` at a time, the next page named by an opaque `cursor`."""
        per_page = min(int(call.query.get("per_page", 30)), 100)
        newest_first = list(reversed(self.hook_deliveries))
        start = int(call.query.get("cursor") or 0)
        chunk = newest_first[start : start + per_page]
        headers = {}
        if start + per_page < len(newest_first):
            query = {"per_page": str(per_page), "cursor": str(start + per_page)}
            headers["link"] = f'<{self.base_url}/app/hook/deliveries?{urlencode(query)}>; rel="next"'
        return Reply(200, chunk, headers)

    def _redeliver(self, delivery_id: int) -> Reply:
        original = next((d for d in self.hook_deliveries if d["id"] == delivery_id), None)
        if original is None:
            raise not_found()
        self.redelivered.append(delivery_id)
        self.add_hook_delivery(
            original["guid"],
            event=original["event"],
            action=original["action"],
            status_code=202,
            redelivery=True,
        )
        return Reply(202, {})

    def _authenticate(self, call: Call) -> Identity:
        scheme, _, token = call.headers.get("authorization", "").partition(" ")
        identity = self.tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if identity is None:
            raise Reply(401, {"message": "Bad credentials", "status": "401"})
        return identity

    def _check_version(self, call: Call) -> None:
        version = call.api_version
        supported = GHES_VERSIONS if self.ghes else SUPPORTED_VERSIONS
        if version is not None and version not in supported:
            raise Reply(400, {"message": f"Unsupported 'X-GitHub-Api-Version' header: {version}"})

    def _check_secondary_limit(self, call: Call) -> None:
        """Content-creating requests (anything but GET) count against a per-window budget."""
        if call.method == "GET" or self.secondary_limit is None:
            return
        if self.clock >= self._window_start + self.window:
            self._window_start, self._writes_in_window = self.clock, 0
        if self._writes_in_window >= self.secondary_limit:
            wait = math.ceil(self._window_start + self.window - self.clock)
            raise Reply(403, {"message": SECONDARY_LIMIT_MESSAGE}, {"retry-after": str(max(wait, 1))})
        self._writes_in_window += 1

    def _repo_for(self, identity: Identity, owner: str, name: str) -> FakeRepo:
        key = f"{owner}/{name}".lower()
        if key not in self.repos or (identity.repos is not None and key not in identity.repos):
            raise not_found()
        return self.repos[key]

    # --- routes -------------------------------------------------------------------------------

    def _build_routes(self) -> list[Route]:
        r = "/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        table = [
            ("GET", "", self._get_repo),
            ("GET", "/contents/(?P<path>.+)", self._get_contents),
            ("PUT", "/contents/(?P<path>.+)", self._put_contents),
            ("GET", "/git/ref/heads/(?P<branch>.+)", self._get_ref),
            ("GET", "/git/trees/(?P<tree>[^/]+)", self._get_tree),
            ("POST", "/git/refs", self._create_ref),
            ("GET", "/pulls", self._list_pulls),
            ("POST", "/pulls", self._create_pull),
            ("GET", "/pulls/(?P<number>\\d+)", self._get_pull),
            ("GET", "/pulls/(?P<number>\\d+)/files", self._list_pull_files),
            ("GET", "/pulls/(?P<number>\\d+)/reviews", self._list_reviews),
            ("POST", "/check-runs", self._create_check_run),
            ("GET", "/check-runs/(?P<run_id>\\d+)", self._get_check_run),
            ("PATCH", "/check-runs/(?P<run_id>\\d+)", self._update_check_run),
            ("GET", "/commits/(?P<ref>[^/]+)/check-runs", self._list_check_runs),
            ("GET", "/issues", self._list_issues),
            ("POST", "/issues", self._create_issue),
            ("GET", "/issues/(?P<number>\\d+)", self._get_issue),
            ("PATCH", "/issues/(?P<number>\\d+)", self._update_issue),
            ("GET", "/issues/(?P<number>\\d+)/comments", self._list_comments),
            ("GET", "/issues/comments", self._list_repo_comments),
            ("POST", "/issues/(?P<number>\\d+)/comments", self._create_comment),
            ("PATCH", "/issues/comments/(?P<comment_id>\\d+)", self._update_comment),
            ("DELETE", "/issues/comments/(?P<comment_id>\\d+)", self._delete_comment),
            ("GET", "/issues/(?P<number>\\d+)/timeline", self._list_timeline),
            ("POST", "/issues/(?P<number>\\d+)/labels", self._add_labels),
            ("DELETE", "/issues/(?P<number>\\d+)/labels/(?P<name>[^/]+)", self._remove_label),
            ("POST", "/issues/(?P<number>\\d+)/assignees", self._add_assignees),
            ("DELETE", "/issues/(?P<number>\\d+)/assignees", self._remove_assignees),
            ("GET", "/issues/(?P<number>\\d+)/sub_issues", self._list_sub_issues),
            ("POST", "/issues/(?P<number>\\d+)/sub_issues", self._add_sub_issue),
            ("GET", "/labels/(?P<name>[^/]+)", self._get_label),
            ("POST", "/labels", self._create_label),
            ("GET", "/assignees/(?P<login>[^/]+)", self._check_assignee),
        ]
        return [(m, re.compile(r + p), f) for m, p, f in table]

    def _graphql(self, call: Call, identity: Identity) -> Reply:
        """GraphQL, for the one query the code asks: who the token is (`viewer { login }`)."""
        query = re.sub(r"\s+", " ", (call.json or {}).get("query") or "")
        if query.strip() != "query { viewer { login } }":
            self.unrouted.append(call)
            raise Reply(200, {"errors": [{"message": "FakeGitHub answers only the viewer query"}]})
        return Reply(200, {"data": {"viewer": {"login": identity.login}}})

    # repository and files

    def _get_repo(self, call, repo, identity, **_):
        return {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": {"login": repo.owner, "type": "Organization"},
            "default_branch": repo.default_branch,
            "private": False,
            "html_url": f"https://github.com/{repo.full_name}",
        }

    def _get_contents(self, call, repo, identity, path, **_):
        ref = call.query.get("ref") or repo.default_branch
        text = repo.files.get(ref, {}).get(path)
        if text is None:
            raise not_found()
        etag = f'"{hashlib.sha1(f"{ref}:{path}:{text}".encode()).hexdigest()}"'
        if call.headers.get("if-none-match") == etag:
            return Reply(304, None, {"etag": etag})
        headers = {"etag": etag}
        if "raw" in call.headers.get("accept", ""):
            return Reply(200, text.encode("utf-8"), {**headers, "content-type": "text/plain"})
        encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii")
        sha = hashlib.sha1(text.encode()).hexdigest()
        body = {
            "type": "file",
            "encoding": "base64",
            "path": path,
            "name": path.rsplit("/", 1)[-1],
            "content": encoded,
            "sha": sha,
            "size": len(text.encode()),
        }
        return Reply(200, body, headers)

    def _put_contents(self, call, repo, identity, path, **_):
        body = call.json or {}
        branch = body.get("branch") or repo.default_branch
        if branch not in repo.branches:
            raise Reply(404, {"message": f"Branch {branch} not found"})
        if path in repo.files.get(branch, {}) and not body.get("sha"):
            raise Reply(422, {"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'})
        text = base64.b64decode(body["content"]).decode("utf-8")
        repo.files.setdefault(branch, {})[path] = text
        sha = self._sha(f"{branch}:{path}:{text}")
        repo.branches[branch] = sha
        repo.files[sha] = dict(repo.files[branch])
        return Reply(201, {"content": {"path": path, "sha": self._sha(text)}, "commit": {"sha": sha}})

    def _get_ref(self, call, repo, identity, branch, **_):
        if branch not in repo.branches:
            raise not_found()
        return {
            "ref": f"refs/heads/{branch}",
            "object": {"sha": repo.branches[branch], "type": "commit"},
        }

    def _get_tree(self, call, repo, identity, tree, **_):
        """A branch's or commit's files as a tree (`recursive=1` lists every blob; without it,
        this fake lists them too: it has no directories of its own)."""
        files = repo.files.get(tree)
        if files is None:
            raise not_found()
        entries = [
            {"path": path, "mode": "100644", "type": "blob", "sha": self._sha(f"{path}:{text}")}
            for path, text in sorted(files.items())
        ]
        return {"sha": repo.branches.get(tree, tree), "tree": entries, "truncated": False}

    def _create_ref(self, call, repo, identity, **_):
        body = call.json or {}
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/heads/"):
            raise Reply(422, {"message": "Reference name is not a branch in this fake"})
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.branches:
            raise Reply(422, {"message": "Reference already exists"})
        source = next((b for b, s in repo.branches.items() if s == sha), None)
        if source is None and sha not in repo.files:
            raise Reply(422, {"message": "Object does not exist"})
        repo.branches[branch] = sha
        repo.files[branch] = dict(repo.files.get(source or sha, {}))
        return Reply(201, {"ref": ref, "object": {"sha": sha, "type": "commit"}})

    # pull requests

    def _pull_json(self, repo, issue, head_ref, head_sha, base_ref) -> dict:
        repo_json = {
            "id": repo.id,
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": {"login": repo.owner},
        }
        return {
            "id": issue["id"],
            "node_id": _node_id("PR", issue["id"]),
            "number": issue["number"],
            "state": "open",
            "draft": False,
            "merged": False,
            "title": issue["title"],
            "body": issue["body"],
            "user": issue["user"],
            "url": f"{self.base_url}/repos/{repo.full_name}/pulls/{issue['number']}",
            "html_url": f"https://github.com/{repo.full_name}/pull/{issue['number']}",
            "head": {"ref": head_ref, "sha": head_sha, "repo": repo_json},
            "base": {"ref": base_ref, "sha": repo.branches.get(base_ref, ""), "repo": repo_json},
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": None,
            "merged_at": None,
        }

    def _diff_entry(self, path: str, text: str | None) -> dict:
        status = "removed" if text is None else "added"
        lines = 0 if text is None else text.count("\n") + 1
        return {
            "sha": self._sha(f"{path}:{text}"),
            "filename": path,
            "status": status,
            "additions": lines,
            "deletions": 0,
            "changes": lines,
        }

    def _list_pulls(self, call, repo, identity, request, **_):
        state = call.query.get("state", "open")
        head = call.query.get("head")
        pulls = [p for p in repo.pulls.values() if state == "all" or p["state"] == state]
        if head:
            pulls = [p for p in pulls if f"{repo.owner}:{p['head']['ref']}".lower() == head.lower()]
        return self._page(call, request, pulls)

    def _create_pull(self, call, repo, identity, **_):
        body = call.json or {}
        head, base = body.get("head", ""), body.get("base", "")
        head_ref = head.split(":", 1)[-1]
        if head_ref not in repo.branches or base not in repo.branches:
            raise unprocessable("head or base branch does not exist", field_name="head")
        if any(p["head"]["ref"] == head_ref and p["state"] == "open" for p in repo.pulls.values()):
            raise unprocessable(f"A pull request already exists for {repo.owner}:{head_ref}.")
        self._check_text(body, "title", TITLE_MAX, required=True)
        self._check_text(body, "body", BODY_MAX)
        issue = self._new_issue(repo, body["title"], body.get("body") or "", identity)
        pull = self._pull_json(repo, issue, head_ref, repo.branches[head_ref], base)
        pull["draft"] = bool(body.get("draft"))
        issue["pull_request"] = {"url": pull["url"]}
        repo.pulls[issue["number"]] = pull
        repo.pull_files[issue["number"]] = []
        return Reply(201, pull)

    def _get_pull(self, call, repo, identity, number, **_):
        pull = repo.pulls.get(int(number))
        if pull is None:
            raise not_found()
        return pull

    def _list_pull_files(self, call, repo, identity, number, request, **_):
        if int(number) not in repo.pulls:
            raise not_found()
        return self._page(call, request, repo.pull_files[int(number)][:3000])

    def _list_reviews(self, call, repo, identity, number, request, **_):
        if int(number) not in repo.pulls:
            raise not_found()
        return self._page(call, request, repo.reviews.get(int(number), []))

    # check runs

    def _create_check_run(self, call, repo, identity, **_):
        body = call.json or {}
        if identity.app_id is None:
            raise Reply(403, {"message": "You must authenticate via a GitHub App."})
        for required in ("name", "head_sha"):
            if not body.get(required):
                raise unprocessable(f"{required} is required", field_name=required)
        run = {
            "id": self._next_id(),
            "name": body["name"],
            "head_sha": body["head_sha"],
            "status": "queued",
            "conclusion": None,
            "external_id": body.get("external_id"),
            "details_url": body.get("details_url"),
            "app": {"id": identity.app_id, "slug": identity.login.removesuffix("[bot]")},
            "output": {"title": None, "summary": None, "text": None, "annotations_count": 0},
            "annotations": [],
            "actions": [],
            "started_at": _iso(self.now),
            "completed_at": None,
        }
        self._apply_check_fields(run, body)
        repo.check_runs[run["id"]] = run
        return Reply(201, _public_run(run))

    def _get_check_run(self, call, repo, identity, run_id, **_):
        run = repo.check_runs.get(int(run_id))
        if run is None:
            raise not_found()
        return _public_run(run)

    def _update_check_run(self, call, repo, identity, run_id, **_):
        run = repo.check_runs.get(int(run_id))
        if run is None:
            raise not_found()
        if run["app"]["id"] != identity.app_id:
            message = (
                f"Invalid app_id `{identity.app_id}` - check run can only be modified by "
                "the GitHub App that created it."
            )
            raise Reply(403, {"message": message})
        self._apply_check_fields(run, call.json or {})
        return _public_run(run)

    def _apply_check_fields(self, run: dict, body: dict) -> None:
        """Validate everything first, then apply: a refused request changes nothing."""
        status, conclusion = body.get("status"), body.get("conclusion")
        if status is not None and status not in CHECK_STATUSES:
            raise unprocessable(f"status must be one of {CHECK_STATUSES}", field_name="status")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise unprocessable(f"conclusion must be one of {CHECK_CONCLUSIONS}", field_name="conclusion")
        if status == "completed" and conclusion is None and run["conclusion"] is None:
            raise unprocessable("conclusion is required when status is completed", field_name="conclusion")
        output = body.get("output")
        if output is not None:
            _check_output(output)
        if "actions" in body:
            _check_actions(body["actions"])
        if status:
            run["status"] = status
        if conclusion:
            run["status"], run["conclusion"] = "completed", conclusion
        if run["status"] == "completed" and not run["completed_at"]:
            run["completed_at"] = _iso(self.now)
        if output is not None:
            annotations = output.get("annotations") or []
            run["annotations"].extend(annotations)  # GitHub appends on every update
            run["output"].update({k: output.get(k) for k in ("title", "summary", "text") if k in output})
            run["output"]["annotations_count"] = len(run["annotations"])
        if "actions" in body:
            run["actions"] = body["actions"]

    def _list_check_runs(self, call, repo, identity, ref, request, **_):
        sha = repo.branches.get(ref, ref)
        runs = [r for r in repo.check_runs.values() if r["head_sha"] == sha]
        if call.query.get("check_name"):
            runs = [r for r in runs if r["name"] == call.query["check_name"]]
        if call.query.get("app_id"):
            runs = [r for r in runs if str(r["app"]["id"]) == call.query["app_id"]]
        runs.sort(key=lambda r: -r["id"])
        page = self._page(call, request, [_public_run(r) for r in runs])
        return Reply(200, {"total_count": len(runs), "check_runs": page.body}, page.headers)

    # issues

    def _new_issue(self, repo: FakeRepo, title: str, body: str, author: Identity) -> dict:
        number = repo.next_number
        repo.next_number += 1
        issue_id = self._next_id()
        now = _iso(self.now)
        issue = {
            "id": issue_id,
            "node_id": _node_id("I", issue_id),
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "state_reason": None,
            "labels": [],
            "assignees": [],
            "user": author.user,
            "performed_via_github_app": author.via_app,
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "url": f"{self.base_url}/repos/{repo.full_name}/issues/{number}",
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}",
            "repository_url": f"{self.base_url}/repos/{repo.full_name}",
        }
        repo.issues[number] = issue
        return issue

    def _issue(self, repo: FakeRepo, number) -> dict:
        issue = repo.issues.get(int(number))
        if issue is None:
            raise not_found()
        return issue

    def _event(self, repo: FakeRepo, number: int, kind: str, identity: Identity, **extra) -> None:
        event = {
            "id": self._next_id(),
            "event": kind,
            "actor": identity.user,
            "created_at": _iso(self.now),
            **extra,
        }
        repo.timeline.setdefault(number, []).append(event)

    def _list_issues(self, call, repo, identity, request, **_):
        state = call.query.get("state", "open")
        wanted = [w.strip().lower() for w in call.query.get("labels", "").split(",") if w.strip()]
        found = []
        for issue in sorted(repo.issues.values(), key=lambda i: -i["number"]):
            names = {label["name"].lower() for label in issue["labels"]}
            if (state == "all" or issue["state"] == state) and all(w in names for w in wanted):
                found.append(issue)
        return self._page(call, request, found)

    def _create_issue(self, call, repo, identity, **_):
        body = call.json or {}
        self._check_text(body, "title", TITLE_MAX, required=True)
        self._check_text(body, "body", BODY_MAX)
        assignees = body.get("assignees") or []
        refused = [a for a in assignees if a.lower() not in repo.assignable]
        if refused:  # GitHub refuses the whole issue: nothing is created
            raise unprocessable(
                f"assignees {', '.join(refused)} cannot be assigned to this issue",
                field_name="assignees",
            )
        issue = self._new_issue(repo, body["title"], body.get("body") or "", identity)
        for name in body.get("labels") or []:
            issue["labels"].append(self._label(repo, name))
            self._event(repo, issue["number"], "labeled", identity, label={"name": name})
        issue["assignees"] = [{"login": a} for a in assignees]
        return Reply(201, issue)

    def _get_issue(self, call, repo, identity, number, **_):
        return self._issue(repo, number)

    def _update_issue(self, call, repo, identity, number, **_):
        issue = self._issue(repo, number)
        body = call.json or {}
        self._check_text(body, "title", TITLE_MAX)
        self._check_text(body, "body", BODY_MAX)
        for key in ("title", "body"):
            if body.get(key) is not None:
                issue[key] = body[key]
        if body.get("state") in ("open", "closed") and body["state"] != issue["state"]:
            issue["state"] = body["state"]
            issue["state_reason"] = body.get("state_reason") or (
                "completed" if body["state"] == "closed" else "reopened"
            )
            issue["closed_at"] = _iso(self.now) if body["state"] == "closed" else None
            self._event(repo, int(number), "closed" if body["state"] == "closed" else "reopened", identity)
        if body.get("labels") is not None:
            issue["labels"] = [self._label(repo, name) for name in body["labels"]]
        issue["updated_at"] = _iso(self.now)
        return issue

    def _list_timeline(self, call, repo, identity, number, request, **_):
        self._issue(repo, number)
        return self._page(call, request, repo.timeline.get(int(number), []))

    # comments

    def _list_comments(self, call, repo, identity, number, request, **_):
        self._issue(repo, number)
        found = sorted(
            (c for c in repo.comments.values() if c["_issue"] == int(number)), key=lambda c: c["id"]
        )
        return self._page(call, request, [_public(c) for c in found])

    def _list_repo_comments(self, call, repo, identity, request, **_):
        """Every issue and pull request comment of the repository, oldest first, `since` honoured."""
        since = call.query.get("since")
        found = sorted(repo.comments.values(), key=lambda c: (c["created_at"], c["id"]))
        if since:
            found = [c for c in found if c["updated_at"] >= since]
        if call.query.get("direction") == "desc":
            found.reverse()
        return self._page(call, request, [_public(c) for c in found])

    def _create_comment(self, call, repo, identity, number, **_):
        issue = self._issue(repo, number)
        body = call.json or {}
        self._check_text(body, "body", BODY_MAX, required=True)
        return Reply(201, _public(self._write_comment(repo, issue, body["body"], identity)))

    def _write_comment(self, repo: FakeRepo, issue: dict, text: str, author: Identity) -> dict:
        """A comment as GitHub stores it: its author and timestamps are GitHub's, not the writer's."""
        comment_id = self._next_id()
        comment = {
            "id": comment_id,
            "node_id": _node_id("IC", comment_id),
            "body": text,
            "user": author.user,
            "performed_via_github_app": author.via_app,
            "created_at": _iso(self.now),
            "updated_at": _iso(self.now),
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "issue_url": issue["url"],
            "_issue": issue["number"],
        }
        repo.comments[comment_id] = comment
        issue["comments"] += 1
        self._event(repo, issue["number"], "commented", author, body=text, user=author.user)
        return comment

    def _update_comment(self, call, repo, identity, comment_id, **_):
        comment = repo.comments.get(int(comment_id))
        if comment is None:
            raise not_found()
        body = call.json or {}
        self._check_text(body, "body", BODY_MAX, required=True)
        comment["body"] = body["body"]
        comment["updated_at"] = _iso(self.now)
        return _public(comment)

    def _delete_comment(self, call, repo, identity, comment_id, **_):
        comment = repo.comments.pop(int(comment_id), None)
        if comment is None:
            raise not_found()
        repo.issues[comment["_issue"]]["comments"] -= 1
        return Reply(204, None)

    # labels

    def _label(self, repo: FakeRepo, name: str, color: str = "ededed", description: str = "") -> dict:
        """The label, created like GitHub auto-creates one (grey, no description) if missing."""
        label = repo.labels.get(name.lower())
        if label is None:
            label_id = self._next_id()
            label = {
                "id": label_id,
                "node_id": _node_id("LA", label_id),
                "name": name,
                "color": color,
                "description": description or None,
                "default": False,
            }
            repo.labels[name.lower()] = label
        return label

    def _get_label(self, call, repo, identity, name, **_):
        label = repo.labels.get(name.lower())
        if label is None:
            raise not_found()
        return label

    def _create_label(self, call, repo, identity, **_):
        body = call.json or {}
        name, color = body.get("name") or "", body.get("color") or "ededed"
        if not name:
            raise unprocessable("name is required", field_name="name", code="missing_field")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise unprocessable("color is invalid", field_name="color")
        if name.lower() in repo.labels:
            raise unprocessable("already exists", field_name="name", code="already_exists")
        return Reply(201, self._label(repo, name, color, body.get("description") or ""))

    def _add_labels(self, call, repo, identity, number, **_):
        issue = self._issue(repo, number)
        names = (call.json or {}).get("labels") or []
        have = {label["name"].lower() for label in issue["labels"]}
        for name in names:
            if name.lower() not in have:
                issue["labels"].append(self._label(repo, name))
                have.add(name.lower())
                self._event(repo, issue["number"], "labeled", identity, label={"name": name})
        return issue["labels"]

    def _remove_label(self, call, repo, identity, number, name, **_):
        issue = self._issue(repo, number)
        kept = [label for label in issue["labels"] if label["name"].lower() != name.lower()]
        if len(kept) == len(issue["labels"]):
            raise Reply(404, {"message": "Label does not exist"})
        issue["labels"] = kept
        self._event(repo, issue["number"], "unlabeled", identity, label={"name": name})
        return kept

    # assignees

    def _check_assignee(self, call, repo, identity, login, **_):
        if login.lower() not in repo.assignable:
            raise not_found()
        return Reply(204, None)

    def _add_assignees(self, call, repo, identity, number, **_):
        issue = self._issue(repo, number)
        logins = (call.json or {}).get("assignees") or []
        if len(logins) > ASSIGNEES_PER_REQUEST:
            raise unprocessable("at most 10 assignees per request", field_name="assignees")
        have = {a["login"].lower() for a in issue["assignees"]}
        for login in logins:  # the unassignable are dropped without a word, as GitHub does
            if login.lower() in repo.assignable and login.lower() not in have:
                issue["assignees"].append({"login": login})
                have.add(login.lower())
                self._event(repo, issue["number"], "assigned", identity, assignee={"login": login})
        return Reply(201, issue)

    def _remove_assignees(self, call, repo, identity, number, **_):
        issue = self._issue(repo, number)
        gone = {login.lower() for login in (call.json or {}).get("assignees") or []}
        for assignee in [a for a in issue["assignees"] if a["login"].lower() in gone]:
            issue["assignees"].remove(assignee)
            self._event(repo, issue["number"], "unassigned", identity, assignee=assignee)
        return Reply(200, issue)

    # sub-issues

    def _list_sub_issues(self, call, repo, identity, number, request, **_):
        if not self.sub_issues_supported:
            raise not_found()
        self._issue(repo, number)
        children = [repo.issue_by_id(i) for i in repo.sub_issues.get(int(number), [])]
        return self._page(call, request, [c for c in children if c])

    def _add_sub_issue(self, call, repo, identity, number, **_):
        if not self.sub_issues_supported:
            raise not_found()
        parent = self._issue(repo, number)
        child_id = (call.json or {}).get("sub_issue_id")
        if type(child_id) is not int:
            raise unprocessable("sub_issue_id must be an integer", field_name="sub_issue_id")
        child = next(
            (
                i
                for r in self.repos.values()
                if r.owner.lower() == repo.owner.lower()
                for i in r.issues.values()
                if i["id"] == child_id
            ),
            None,
        )
        if child is None:  # e.g. an issue number sent where the id belongs
            raise not_found()
        siblings = repo.sub_issues.setdefault(parent["number"], [])
        if child_id in siblings:
            raise unprocessable("Issue may not contain duplicate sub-issues", field_name="sub_issue_id")
        if len(siblings) >= SUB_ISSUES_MAX:
            raise unprocessable("Parent cannot have more than 100 sub-issues", field_name="sub_issue_id")
        if child_id == parent["id"]:
            raise unprocessable("An issue cannot be its own sub-issue", field_name="sub_issue_id")
        if self._parent_of(child_id) is not None and not (call.json or {}).get("replace_parent"):
            raise unprocessable("Sub issue may only have one parent", field_name="sub_issue_id")
        siblings.append(child_id)
        self._event(repo, parent["number"], "sub_issue_added", identity)
        return Reply(201, parent)

    def _parent_of(self, child_id: int) -> int | None:
        for repo in self.repos.values():
            for parent, children in repo.sub_issues.items():
                if child_id in children:
                    return parent
        return None

    # --- shared helpers -----------------------------------------------------------------------

    def _check_text(self, body: dict, key: str, limit: int, *, required: bool = False) -> None:
        value = body.get(key)
        if value is None or (required and value == ""):
            if required:
                raise unprocessable(f"{key} is missing", field_name=key, code="missing_field")
            return
        if not isinstance(value, str):
            raise unprocessable(f"{key} must be a string", field_name=key)
        if len(value) > limit:
            raise unprocessable(
                f"{key} is too long (maximum is {limit} characters)", field_name=key, code="custom"
            )

    def _page(self, call: Call, request: httpx.Request, items: list) -> Reply:
        """One page of `items` with a Link header, as GitHub paginates (per_page <= 100)."""
        per_page = min(int(call.query.get("per_page", 30)), 100)
        page = max(int(call.query.get("page", 1)), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = {**call.query, "page": str(page + 1), "per_page": str(per_page)}
            url = f"{self.base_url}{call.path}?{urlencode(query)}"
            headers["link"] = f'<{url}>; rel="next"'
        # Like GitHub, every page has an ETag and answers 304 to it while the page is unchanged.
        digest = hashlib.sha1(json.dumps([chunk, headers], sort_keys=True, default=str).encode()).hexdigest()
        headers["etag"] = f'W/"{digest}"'
        if call.headers.get("if-none-match") == headers["etag"]:
            return Reply(304, None, headers)
        return Reply(200, chunk, headers)

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    @staticmethod
    def _sha(seed: str) -> str:
        return hashlib.sha1(seed.encode()).hexdigest()


def _check_output(output: dict) -> None:
    if not isinstance(output, dict) or not output.get("title") or output.get("summary") is None:
        raise unprocessable("output needs title and summary", field_name="output")
    for key in ("summary", "text"):
        if len(output.get(key) or "") > OUTPUT_TEXT_MAX:
            raise unprocessable(
                f"output.{key} is too long (maximum is {OUTPUT_TEXT_MAX} characters)",
                field_name=f"output.{key}",
            )
    annotations = output.get("annotations") or []
    if len(annotations) > ANNOTATIONS_MAX:
        raise unprocessable(
            f"at most {ANNOTATIONS_MAX} annotations per request", field_name="output.annotations"
        )
    for annotation in annotations:
        _check_annotation(annotation)


def _check_annotation(annotation: dict) -> None:
    for key in ("path", "start_line", "end_line", "annotation_level", "message"):
        if annotation.get(key) in (None, ""):
            raise unprocessable(f"annotation {key} is required", field_name=f"annotations.{key}")
    if annotation["annotation_level"] not in ANNOTATION_LEVELS:
        raise unprocessable(
            "annotation_level must be notice, warning or failure",
            field_name="annotations.annotation_level",
        )
    if ("start_column" in annotation or "end_column" in annotation) and (
        annotation["start_line"] != annotation["end_line"]
    ):
        raise unprocessable(
            "columns are only allowed on single-line annotations",
            field_name="annotations.start_column",
        )
    if len(annotation.get("title") or "") > 255:
        raise unprocessable("annotation title is too long", field_name="annotations.title")


def _check_actions(actions: Any) -> None:
    if not isinstance(actions, list) or len(actions) > ACTIONS_MAX:
        raise unprocessable(f"at most {ACTIONS_MAX} actions", field_name="actions")
    for action in actions:
        for key, limit in ACTION_FIELD_MAX.items():
            value = action.get(key)
            if not isinstance(value, str) or not value or len(value) > limit:
                raise unprocessable(
                    f"action {key} is required and at most {limit} characters",
                    field_name=f"actions.{key}",
                )


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _public_run(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("annotations", "actions")}


def _node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kw{base64.b64encode(str(number).encode()).decode().rstrip('=')}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fresh, empty fake GitHub per test; add repositories with `add_repo`.

    The test fails if the code under test called a route the fake does not have: a silent 404
    could pass for "absent" (no sub-issues, no config) and hide a bug.
    """
    fake = FakeGitHub()
    yield fake
    assert_all_routed(fake)


def assert_all_routed(fake: FakeGitHub) -> None:
    missing = sorted({f"{c.method} {c.path}" for c in fake.unrouted})
    assert not missing, f"FakeGitHub has no route for: {missing}"
