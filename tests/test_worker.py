"""The pipeline for one delivery: installation client, repository config, then the routed handlers.

Runs against the shared fake GitHub, with the App side of GitHub (installation tokens narrowed to
the asked repositories) added by `FakeApp`, so a token for one repository really cannot read
another.
"""

from __future__ import annotations

import itertools
import json
import re
import threading

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.github.auth import AppAuth
from app.github.client import GitHubError, TransientGitHubError
from app.github.events import Event
from app.github.router import Router
from app.server.settings import Settings
from app.server.worker import process_delivery, transient_delay
from tests.fake_github import APP_ID, APP_LOGIN, FakeGitHub
from tests.test_settings import app_env, private_key_pem

CONFIG = "incidents:\n  labels: [incident]\n"
OWNER, REPO = "octo", "ops"


class FakeApp:
    """GitHub's App endpoints over the shared fake: `POST .../access_tokens` checks the JWT and
    registers a token the fake will only honour for the repositories asked for."""

    def __init__(self, fake: FakeGitHub, issuer: str = "12345", installations=None):
        self.fake = fake
        self.issuer = issuer
        # installation id -> (account login, repository names it may see)
        self.installations = installations or {7: (OWNER, None)}
        self.minted: list[dict] = []
        self._n = itertools.count(1)
        self._lock = threading.Lock()
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", request.url.path)
        if not match or request.method != "POST":
            return self.fake.transport.handle_request(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        public = load_pem_private_key(private_key_pem().encode(), None).public_key()
        try:
            claims = jwt.decode(token, public, algorithms=["RS256"])
        except jwt.PyJWTError:
            return httpx.Response(401, json={"message": "A JSON web token could not be decoded"})
        if scheme != "Bearer" or claims["iss"] != self.issuer:
            return httpx.Response(401, json={"message": "Bad credentials"})
        installation = int(match.group(1))
        if installation not in self.installations:
            return httpx.Response(404, json={"message": "Not Found"})
        account, visible = self.installations[installation]
        asked = json.loads(request.content or b"{}").get("repositories")
        if asked and visible is not None and not set(asked) <= set(visible):
            return httpx.Response(
                422,
                json={"message": "There is at least one repository that does not exist or is not accessible"},
            )
        with self._lock:
            value = f"ghs_minted{next(self._n):06d}{'x' * 20}"
            self.minted.append({"installation": installation, "repositories": asked})
        repos = [f"{account}/{r}" for r in (asked or visible or [])] or None
        self.fake.add_token(value, app_id=APP_ID, login=APP_LOGIN, repos=repos)
        return httpx.Response(201, json={"token": value, "expires_at": "2099-01-01T00:00:00Z"})


def labeled_event(delivery: str = "d-1", label: str = "incident", sender: dict | None = None):
    return Event(
        "issues",
        delivery,
        {
            "action": "labeled",
            "label": {"name": label},
            "issue": {"number": 1, "title": "Checkout down"},
            "repository": {"name": REPO, "owner": {"login": OWNER}, "full_name": f"{OWNER}/{REPO}"},
            "installation": {"id": 7},
            "sender": sender or {"login": "octocat", "type": "User"},
        },
    )


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(app_env(tmp_path, BLAMELESS_RETRY_DELAY="1"))


@pytest.fixture
def github() -> FakeGitHub:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, files={".github/blameless.yml": CONFIG})
    return fake


@pytest.fixture
def fake() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
def app_auth(settings, github) -> AppAuth:
    return AppAuth(settings, transport=FakeApp(github).transport)


def recording_router(seen: list, key: str = "issues.labeled") -> Router:
    router = Router()

    @router.register(key)
    def handler(context):
        seen.append(context)
        context.github.create_comment(1, "postmortem opened")

    return router


def test_handlers_get_a_context_for_the_events_repository(settings, github, app_auth):
    github.add_issue(OWNER, REPO, "Checkout down")
    seen: list = []
    outcome = process_delivery(labeled_event(), settings, app_auth, recording_router(seen))
    assert outcome.status == "done"
    [context] = seen
    assert context.event.delivery_id == "d-1"
    assert context.github.full_name == f"{OWNER}/{REPO}"
    assert context.config.source.endswith(".github/blameless.yml")
    assert context.bot_login == "blameless-bot[bot]"
    assert context.bot_app_id == int(settings.app_id)  # its writes are known by the App id too
    assert context.github.bot == context.bot
    assert not context.dry_run
    assert [c["body"] for c in github.comments_on(OWNER, REPO, 1)] == ["postmortem opened"]


def test_no_config_anywhere_means_the_app_does_nothing_in_that_repository(settings, fake):
    fake.add_repo(OWNER, REPO)
    fake.add_repo(OWNER, ".github")
    auth = AppAuth(settings, transport=FakeApp(fake).transport)
    seen: list = []
    outcome = process_delivery(labeled_event(), settings, auth, recording_router(seen))
    assert outcome == outcome.ignored("no .github/blameless.yml in the repository or its organisation")
    assert seen == []
    assert fake.calls_to("POST", "/comments") == []


def test_the_org_config_is_read_with_a_token_of_its_own(settings, fake):
    fake.add_repo(OWNER, REPO)
    fake.add_repo(OWNER, ".github", files={".github/blameless.yml": CONFIG})
    fake.add_issue(OWNER, REPO, "Checkout down")
    app = FakeApp(fake)
    seen: list = []
    outcome = process_delivery(
        labeled_event(),
        settings,
        AppAuth(settings, transport=app.transport),
        recording_router(seen),
    )
    assert outcome.status == "done"
    assert seen[0].config.source == f"{OWNER}/.github:.github/blameless.yml"
    assert [m["repositories"] for m in app.minted] == [[REPO], [".github"]]


def test_an_installation_that_cannot_see_the_org_repository_has_no_org_config(settings, fake):
    fake.add_repo(OWNER, REPO)
    fake.add_repo(OWNER, ".github", files={".github/blameless.yml": CONFIG})
    app = FakeApp(fake, installations={7: (OWNER, [REPO])})
    seen: list = []
    outcome = process_delivery(
        labeled_event(),
        settings,
        AppAuth(settings, transport=app.transport),
        recording_router(seen),
    )
    assert outcome.status == "ignored" and seen == []


def test_a_broken_config_reaches_the_handlers_to_be_shown(settings, fake):
    fake.add_repo(OWNER, REPO, files={".github/blameless.yml": "incidents:\n  lables: []\n"})
    fake.add_issue(OWNER, REPO, "Checkout down")
    seen: list = []
    auth = AppAuth(settings, transport=FakeApp(fake).transport)
    process_delivery(labeled_event(), settings, auth, recording_router(seen))
    [context] = seen
    assert context.config_error is not None
    assert "lables" in str(context.config_error)


def test_events_without_a_handler_cost_no_github_call(settings, github, app_auth):
    outcome = process_delivery(labeled_event(), settings, app_auth, Router())
    assert outcome.status == "ignored"
    assert github.calls == []


def test_events_without_an_installation_are_ignored(settings, github, app_auth):
    event = labeled_event()
    del event.payload["installation"]
    outcome = process_delivery(event, settings, app_auth, recording_router([]))
    assert outcome == outcome.ignored("the payload names no installation")


def test_dry_run_reaches_the_handlers(tmp_path, github):
    settings = Settings.from_env(app_env(tmp_path, BLAMELESS_DRY_RUN="1"))
    github.add_issue(OWNER, REPO, "Checkout down")
    seen: list = []
    auth = AppAuth(settings, transport=FakeApp(github).transport)
    process_delivery(labeled_event(), settings, auth, recording_router(seen))
    assert seen[0].dry_run


def test_a_handler_error_propagates_for_the_queue_to_judge(settings, github, app_auth):
    router = Router()

    @router.register("issues.labeled")
    def broken(context):
        raise KeyError("issue")

    with pytest.raises(KeyError):
        process_delivery(labeled_event(), settings, app_auth, router)


def test_github_trouble_is_transient_and_carries_githubs_wait(settings, github, app_auth):
    github.add_issue(OWNER, REPO, "Checkout down")
    github.fail_next(502, method="POST", path="/comments")
    with pytest.raises(TransientGitHubError) as raised:
        process_delivery(labeled_event(), settings, app_auth, recording_router([]))
    assert transient_delay(raised.value) == 0.0


def test_a_secondary_rate_limit_is_transient_with_its_retry_after(settings, fake):
    limited = FakeGitHub(secondary_limit=0)
    limited.add_repo(OWNER, REPO, files={".github/blameless.yml": CONFIG})
    limited.add_issue(OWNER, REPO, "Checkout down")
    auth = AppAuth(settings, transport=FakeApp(limited).transport)
    with pytest.raises(TransientGitHubError) as raised:
        process_delivery(labeled_event(), settings, auth, recording_router([]))
    assert raised.value.status == 403
    assert transient_delay(raised.value) == 60.0


@pytest.mark.parametrize(
    ("error", "delay"),
    [
        (TransientGitHubError(503, "unavailable", retry_after=7), 7.0),
        (TransientGitHubError(None, "timed out"), 0.0),
        (httpx.ReadTimeout("slow"), 0.0),
        (GitHubError(422, "Validation Failed"), None),
        (GitHubError(404, "Not Found"), None),
        (KeyError("x"), None),
    ],
)
def test_which_errors_are_worth_another_attempt(error, delay):
    assert transient_delay(error) == delay


def test_dry_run_without_credentials_previews_and_touches_no_github(tmp_path, caplog):
    settings = Settings.from_env({"BLAMELESS_DRY_RUN": "1", "BLAMELESS_DATA_DIR": str(tmp_path)})
    seen: list = []
    caplog.set_level("INFO", logger="app.server.worker")

    def no_client(*args):
        raise AssertionError("a dry run without credentials must not build a GitHub client")

    outcome = process_delivery(labeled_event(), settings, no_client, recording_router(seen))
    assert outcome == outcome.done("dry run: previewed issues.labeled")
    assert seen == []
    [record] = [r for r in caplog.records if r.getMessage() == "dry run preview"]
    assert "Postmortem: Checkout down (#1)" in record.preview
