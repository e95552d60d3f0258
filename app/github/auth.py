"""App authentication: the App JWT, installation tokens narrowed to one repository, and their cache.

The JWT is made here with pyjwt rather than left to githubkit so its claims are ours to test
(`iss` a string: PyJWT >= 2.11 rejects an int). Installation tokens come from
`POST /app/installations/{id}/access_tokens` through githubkit and are cached per
(installation, repository) until shortly before they expire; the cache is shared by threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx
import jwt
from githubkit.auth.base import BaseAuthStrategy

from app.github.client import GitHubClient, GitHubError, TransientGitHubError, make_github

log = logging.getLogger(__name__)

JWT_BACKDATE = 60  # GitHub's advice: clocks drift, so issue the JWT a minute in the past
JWT_LIFETIME = 9 * 60  # counted from now: GitHub refuses an exp more than 10 min ahead
TOKEN_REFRESH_MARGIN = 5 * 60  # a token handed out always has this long left to run
REFUSAL_MEMORY = 10 * 60  # a repository the installation cannot see is not asked for again soon


def app_jwt(issuer: str | int, private_key: str, *, now: float | None = None) -> str:
    """The RS256 JWT that authenticates as the App itself."""
    now = int(time.time() if now is None else now)
    claims = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": str(issuer)}
    return jwt.encode(claims, private_key, algorithm="RS256")


class AuthError(GitHubError):
    """GitHub refused to authenticate the App (bad key, app id, or a removed installation)."""


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: float  # epoch seconds

    def fresh(self, now: float, margin: float = TOKEN_REFRESH_MARGIN) -> bool:
        return self.expires_at - now > margin


class TokenCache:
    """Installation tokens per (installation, repository), one fetch at a time per key."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._tokens: dict[tuple[int, str], InstallationToken] = {}
        self._locks: dict[tuple[int, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: tuple[int, str], fetch: Callable[[], InstallationToken]) -> str:
        cached = self._tokens.get(key)
        if cached and cached.fresh(self._clock()):
            return cached.token
        # Per-key lock: two deliveries for one repository mint one token, not two, while
        # deliveries for other repositories are not held up behind the HTTP call.
        with self._lock_for(key):
            cached = self._tokens.get(key)
            if cached and cached.fresh(self._clock()):
                return cached.token
            token = fetch()
            self._tokens[key] = token
            return token.token

    def forget(self, key: tuple[int, str]) -> None:
        self._tokens.pop(key, None)

    def _lock_for(self, key: tuple[int, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


class AppIdentity(Protocol):
    """What App auth needs to know of the App (the server's settings provide it)."""

    @property
    def issuer(self) -> str | None: ...  # the App's client id or numeric id: the JWT's `iss`

    @property
    def private_key(self) -> str | None: ...

    @property
    def api_url(self) -> str: ...


class AppAuth:
    """Mints what the worker needs to act in one repository; `client_for` is the client factory."""

    def __init__(
        self,
        settings: AppIdentity,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if not (settings.issuer and settings.private_key):
            raise AuthError(None, "the App id (or client id) and private key are needed")
        self.settings = settings
        self._transport = transport
        self._clock = clock
        self._jwt: tuple[str, float] | None = None
        self._jwt_lock = threading.Lock()
        self.tokens = TokenCache(clock)
        # (installation, repo) -> when GitHub refused a token for it. The org `.github` fallback
        # asks on every delivery of a repository without config; one refusal should not cost a
        # request each time.
        self._refused: dict[tuple[int, str], float] = {}

    def jwt(self) -> str:
        """The App JWT, reused until a minute before it expires (signing costs an RSA op)."""
        with self._jwt_lock:
            now = self._clock()
            if self._jwt is None or self._jwt[1] - now < 60:
                token = app_jwt(self.settings.issuer, self.settings.private_key, now=now)
                self._jwt = (token, now + JWT_LIFETIME)
            return self._jwt[0]

    def installation_token(self, installation_id: int, repo: str) -> str:
        """A token for one installation, narrowed to one repository of it."""
        key = (int(installation_id), repo)
        refused_at = self._refused.get(key)
        if refused_at is not None and self._clock() - refused_at < REFUSAL_MEMORY:
            raise AuthError(422, f"installation {installation_id} cannot see {repo} (cached)")
        try:
            return self.tokens.get(key, lambda: self._mint(int(installation_id), [repo]))
        except AuthError as exc:
            if exc.status == 422:  # the repository is not in the installation
                self._refused[key] = self._clock()
            raise

    def forget(self, installation_id: int, repo: str) -> None:
        """Drop a cached token GitHub no longer accepts (revoked, or the permissions changed)."""
        self.tokens.forget((int(installation_id), repo))

    def client_for(self, installation_id: int, owner: str, repo: str) -> GitHubClient:
        """The GitHubClient that acts as the installation in owner/repo (the client factory)."""
        token = self.installation_token(installation_id, repo)
        gh = make_github(token, base_url=self.settings.api_url, transport=self._transport)
        return InstallationClient(gh, owner, repo, auth=self, installation_id=installation_id)

    __call__ = client_for

    def installations(self) -> Iterator[tuple[int, str, str]]:
        """(installation id, owner, repo) for every repository the App is installed on."""
        for installation in self._client(AppJWTAuth(self)).paginate("/app/installations"):
            token = self._mint(installation["id"], None).token
            for repo in self._client(token).paginate("/installation/repositories"):
                yield installation["id"], repo["owner"]["login"], repo["name"]

    def _client(self, auth) -> GitHubClient:
        """A client for App-level endpoints, not bound to a repository."""
        gh = make_github(auth, base_url=self.settings.api_url, transport=self._transport)
        return GitHubClient(gh, "", "")

    def _mint(self, installation_id: int, repositories: list[str] | None) -> InstallationToken:
        """POST /app/installations/{id}/access_tokens with the JWT, narrowed to `repositories`."""
        body = {"repositories": repositories} if repositories else {}
        url = f"/app/installations/{int(installation_id)}/access_tokens"
        try:
            data = self._client(AppJWTAuth(self)).request("POST", url, json=body).json()
        except TransientGitHubError:
            raise  # 5xx and rate limits: the worker retries the delivery
        except GitHubError as exc:
            # 401/403/404/422: wrong key or app id, or the App was uninstalled. No retry helps.
            raise AuthError(
                exc.status,
                f"GitHub refused an installation token for installation {installation_id} "
                f"(HTTP {exc.status}); check the App id, private key and that the App is "
                "still installed on the repository",
            ) from None
        log.info(
            "installation token minted",
            extra={
                "installation_id": installation_id,
                "repositories": repositories,
                "expires_at": data.get("expires_at"),
            },
        )
        return InstallationToken(data["token"], _epoch(data["expires_at"]))


class InstallationClient(GitHubClient):
    """A repository client whose `for_repo` mints a token for the other repository.

    The token is narrowed to one repository, so the org's `.github` (the config fallback) needs
    its own; GitHub answers 422 when the installation cannot see it, read as "no org config".
    """

    def __init__(self, gh, owner: str, repo: str, *, auth: AppAuth, installation_id: int):
        super().__init__(gh, owner, repo)
        self._auth = auth
        self._installation_id = installation_id

    def for_repo(self, repo: str, owner: str | None = None) -> GitHubClient:
        return self._auth.client_for(self._installation_id, owner or self.owner, repo)


class AppJWTAuth(BaseAuthStrategy):
    """githubkit auth sending our own App JWT as a Bearer token (GitHub wants Bearer for JWTs)."""

    def __init__(self, app: AppAuth):
        self.app = app

    def get_auth_flow(self, github) -> httpx.Auth:
        return _BearerJWT(self.app)


class _BearerJWT(httpx.Auth):
    def __init__(self, app: AppAuth):
        self.app = app

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self.app.jwt()}"
        yield request


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
