"""App auth: the JWT's claims, installation tokens narrowed to one repository, and their cache."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.github.auth import AppAuth, AuthError, TokenCache, app_jwt
from app.github.client import GitHubClient, TransientGitHubError
from app.server.settings import Settings
from tests.test_settings import app_env, private_key_pem


def public_key():
    return load_pem_private_key(private_key_pem().encode(), None).public_key()


class TokenEndpoint:
    """POST /app/installations/{id}/access_tokens, recording what was asked for."""

    def __init__(self, lifetime: float = 3600, failures: list[httpx.Response] | None = None):
        self.calls: list[dict] = []
        self.lifetime = lifetime
        self.failures = failures or []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls.append(
                {
                    "path": request.url.path,
                    "authorization": request.headers.get("authorization"),
                    "body": json.loads(request.content or b"{}"),
                }
            )
            if self.failures:
                return self.failures.pop(0)
            n = len(self.calls)
        time.sleep(0.01)  # widen the window in which two threads could both fetch
        expires = datetime.fromtimestamp(time.time() + self.lifetime, UTC)
        return httpx.Response(
            201,
            json={
                "token": f"ghs_installationtoken{n:020d}",
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": {"issues": "write"},
            },
        )


@pytest.fixture
def settings(tmp_path):
    return Settings.from_env(app_env(tmp_path))


def test_jwt_claims_are_what_github_requires():
    now = 1_700_000_000
    token = app_jwt(12345, private_key_pem(), now=now)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, public_key(), algorithms=["RS256"], options={"verify_exp": False})
    assert header["alg"] == "RS256"
    assert claims["iss"] == "12345" and isinstance(claims["iss"], str)
    assert claims["iat"] == now - 60  # backdated for clock drift
    assert claims["exp"] - now <= 10 * 60  # GitHub refuses more than 10 minutes ahead
    assert claims["exp"] > now


def test_a_live_jwt_verifies_with_pyjwt_strict_checks(settings):
    auth = AppAuth(settings)
    claims = jwt.decode(auth.jwt(), public_key(), algorithms=["RS256"], issuer="12345")
    assert claims["iss"] == "12345"
    assert auth.jwt() == auth.jwt()  # reused, not re-signed on every request


def test_installation_token_is_narrowed_to_the_repository_and_sent_with_the_jwt(settings):
    endpoint = TokenEndpoint()
    auth = AppAuth(settings, transport=httpx.MockTransport(endpoint))
    token = auth.installation_token(42, "Hello-World")
    assert token.startswith("ghs_")
    [call] = endpoint.calls
    assert call["path"] == "/app/installations/42/access_tokens"
    assert call["body"] == {"repositories": ["Hello-World"]}
    scheme, _, sent_jwt = call["authorization"].partition(" ")
    assert scheme == "Bearer"
    assert jwt.decode(sent_jwt, public_key(), algorithms=["RS256"])["iss"] == "12345"


def test_tokens_are_cached_per_installation_and_repository(settings):
    endpoint = TokenEndpoint()
    auth = AppAuth(settings, transport=httpx.MockTransport(endpoint))
    first = auth.installation_token(42, "a")
    assert auth.installation_token(42, "a") == first
    assert auth.installation_token(42, "b") != first
    assert auth.installation_token(43, "a") != first
    assert len(endpoint.calls) == 3


def test_a_token_close_to_expiry_is_replaced():
    clock = [1000.0]
    cache = TokenCache(clock=lambda: clock[0])
    from app.github.auth import InstallationToken

    fetched = []

    def fetch():
        fetched.append(1)
        return InstallationToken(f"t{len(fetched)}", expires_at=clock[0] + 3600)

    assert cache.get((1, "r"), fetch) == "t1"
    clock[0] += 3600 - 301  # still five minutes left: reuse
    assert cache.get((1, "r"), fetch) == "t1"
    clock[0] += 2  # under five minutes left: a fresh one
    assert cache.get((1, "r"), fetch) == "t2"


def test_concurrent_workers_mint_one_token(settings):
    endpoint = TokenEndpoint()
    auth = AppAuth(settings, transport=httpx.MockTransport(endpoint))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(auth.installation_token(7, "r"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert len(endpoint.calls) == 1


def test_the_client_factory_gives_a_repository_client_on_the_configured_api(tmp_path):
    settings = Settings.from_env(app_env(tmp_path, GITHUB_API_URL="https://ghe.example.com/api/v3"))
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.path, request.headers.get("authorization")))
        if request.url.path.endswith("/access_tokens"):
            return TokenEndpoint()(request)
        return httpx.Response(200, json={"full_name": "octo/repo"})

    client = AppAuth(settings, transport=httpx.MockTransport(handler))(5, "octo", "repo")
    assert isinstance(client, GitHubClient)
    assert client.get_repository()["full_name"] == "octo/repo"
    assert seen[0][:2] == ("ghe.example.com", "/api/v3/app/installations/5/access_tokens")
    host, path, authorization = seen[1]
    assert (host, path) == ("ghe.example.com", "/api/v3/repos/octo/repo")
    assert authorization.startswith("token ghs_")


def test_a_server_error_while_minting_is_transient(settings):
    endpoint = TokenEndpoint(failures=[httpx.Response(502, json={"message": "Bad Gateway"})])
    auth = AppAuth(settings, transport=httpx.MockTransport(endpoint))
    with pytest.raises(TransientGitHubError):
        auth.installation_token(1, "r")
    assert auth.installation_token(1, "r").startswith("ghs_")  # the next attempt succeeds


def test_a_refused_token_is_an_auth_error_that_names_no_secret(settings):
    endpoint = TokenEndpoint(failures=[httpx.Response(401, json={"message": "Bad credentials"})])
    auth = AppAuth(settings, transport=httpx.MockTransport(endpoint))
    with pytest.raises(AuthError) as raised:
        auth.installation_token(1, "r")
    assert "installation 1" in str(raised.value)
    assert "PRIVATE KEY" not in str(raised.value)


def test_installations_lists_every_repository_across_pages(settings):
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/app/installations":
            assert request.headers["authorization"].startswith("Bearer ")
            return httpx.Response(200, json=[{"id": 1}, {"id": 2}])
        if path.endswith("/access_tokens"):
            return TokenEndpoint()(request)
        if path == "/installation/repositories":
            page = request.url.params.get("page")
            repo = {"name": f"r{page or 1}", "owner": {"login": "octo"}}
            link = (
                {}
                if page
                else {"link": '<https://api.github.com/installation/repositories?page=2>; rel="next"'}
            )
            return httpx.Response(200, json={"total_count": 2, "repositories": [repo]}, headers=link)
        return httpx.Response(404, json={"message": "Not Found"})

    auth = AppAuth(settings, transport=httpx.MockTransport(handler))
    assert list(auth.installations()) == [
        (1, "octo", "r1"),
        (1, "octo", "r2"),
        (2, "octo", "r1"),
        (2, "octo", "r2"),
    ]


def test_a_repository_outside_the_installation_is_not_asked_for_again_soon(settings):
    refusal = {"message": "There is at least one repository that does not exist or is not accessible"}
    clock = [1000.0]
    endpoint = TokenEndpoint(failures=[httpx.Response(422, json=refusal)])
    auth = AppAuth(settings, transport=httpx.MockTransport(endpoint), clock=lambda: clock[0])
    for _ in range(3):
        with pytest.raises(AuthError) as raised:
            auth.installation_token(1, ".github")
        assert raised.value.status == 422
    assert len(endpoint.calls) == 1
    clock[0] += 11 * 60  # the installation may have been given the repository since
    assert auth.installation_token(1, ".github").startswith("ghs_")


def test_the_app_endpoints_we_call_match_githubs_openapi_description(tmp_path, prism_url, prism_contract):
    """Token minting, installation listing and a repository call, validated by Prism.

    Only request errors count: Prism's own example answers break the response schemas in places
    (an installation's `account`, a repository's `language`), which is GitHub's data, not ours.
    """
    from tests.prism import PrismRecorder

    recorder = PrismRecorder(prism_contract, base_url=prism_url)
    settings = Settings.from_env(app_env(tmp_path, GITHUB_API_URL=prism_url))
    auth = AppAuth(settings, transport=recorder.transport())
    assert auth.installation_token(42, "Hello-World")
    found = list(auth.installations())
    assert found and all(isinstance(i, int) and owner and repo for i, owner, repo in found)
    assert auth.client_for(42, "octocat", "Hello-World").get_repository()["name"]
    recorder.assert_no_violations()
    paths = [e.path for e in recorder.exchanges]
    assert "/app/installations/42/access_tokens" in paths
    assert "/app/installations" in paths and "/installation/repositories" in paths
    minted = [e for e in recorder.exchanges if e.path.endswith("/42/access_tokens")]
    assert minted[0].request_json == {"repositories": ["Hello-World"]}
