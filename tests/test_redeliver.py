"""The daily sweep redelivers the webhook deliveries GitHub could not hand over, through the App API.

On the shared fake (state: which attempts exist, which were asked for again) and against GitHub's
OpenAPI description through Prism (the requests are ones GitHub accepts).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.github.auth import AppAuth
from app.github.client import GitHubError
from app.server.redeliver import LOOK_BACK, failed_deliveries, redeliver_failed
from app.server.settings import Settings
from tests.fake_github import FakeGitHub
from tests.test_queue import Recorder, make_queue
from tests.test_settings import app_env, private_key_pem
from tests.test_worker import FakeApp


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub()
    fake.app_public_key = load_pem_private_key(private_key_pem().encode(), None).public_key()
    return fake


@pytest.fixture
def auth(tmp_path, fake) -> AppAuth:
    return AppAuth(Settings.from_env(app_env(tmp_path)), transport=FakeApp(fake).transport)


def test_only_deliveries_that_never_succeeded_are_redelivered_once_each(fake, auth):
    fake.add_hook_delivery("ok", status_code=202)
    fake.add_hook_delivery("down", status_code=503)
    fake.add_hook_delivery("retried-ok", status_code=0)  # no answer at all
    fake.add_hook_delivery("retried-ok", status_code=202, redelivery=True)  # a person redelivered it
    twice = fake.add_hook_delivery("twice", status_code=502)
    latest = fake.add_hook_delivery("twice", status_code=504, redelivery=True)
    for n in range(150):  # more than one page: the listing follows the cursor
        fake.add_hook_delivery(f"fine-{n}", status_code=202)
    sent = redeliver_failed(auth, now=fake.now)
    assert sorted(d.guid for d in sent) == ["down", "twice"]
    assert latest["id"] in fake.redelivered and twice["id"] not in fake.redelivered
    pages = fake.calls_to("GET", "/app/hook/deliveries")
    assert len(pages) == 2 and pages[1].query.get("cursor")
    assert all(c.headers["authorization"].startswith("Bearer ey") for c in pages)
    # The redeliveries answered 2xx: the next sweep sends nothing again.
    assert redeliver_failed(auth, now=fake.now) == []


def test_deliveries_older_than_githubs_window_are_left(fake, auth):
    fake.add_hook_delivery("old", status_code=503, delivered_at=fake.now - LOOK_BACK - timedelta(hours=1))
    fake.add_hook_delivery("new", status_code=503)
    assert [d.guid for d in redeliver_failed(auth, now=fake.now)] == ["new"]


def test_a_jwt_not_signed_with_the_apps_key_is_refused(fake, auth):
    fake.add_hook_delivery("down", status_code=503)
    auth.jwt = lambda: "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJl"  # a forged signature
    with pytest.raises(GitHubError) as error:
        redeliver_failed(auth, now=fake.now)
    assert error.value.status == 401 and fake.redelivered == []


def test_the_latest_attempt_decides_and_ids_without_guid_are_skipped():
    listing = [
        {"id": 3, "guid": "a", "status_code": 500, "delivered_at": "2026-05-04T09:00:00Z", "event": "issues"},
        {"id": 2, "guid": None, "status_code": 500, "delivered_at": "2026-05-04T09:00:00Z"},
        {"id": 1, "guid": "a", "status_code": 500, "delivered_at": "2026-05-04T08:00:00Z", "event": "issues"},
    ]
    from datetime import UTC, datetime

    [only] = failed_deliveries(listing, datetime(2026, 5, 1, tzinfo=UTC))
    assert (only.guid, only.attempt_id) == ("a", 3)


def test_the_daily_sweep_redelivers_and_a_failure_there_does_not_stop_it(tmp_path):
    asked = []
    queue = make_queue(
        app_env(tmp_path), FakeGitHub(), Recorder(), redeliver=lambda: asked.append(1) or ["x"]
    )
    queue.daily_sweep()
    assert asked == [1]

    def broken():
        raise GitHubError(500, "down")

    queue = make_queue(app_env(tmp_path / "b"), FakeGitHub(), Recorder(), redeliver=broken)
    assert queue.daily_sweep() == 0  # logged, and the sweep goes on


@pytest.mark.contract
def test_the_redelivery_requests_match_githubs_description(prism_server, prism_contract, prism_url, tmp_path):
    from tests.prism import PrismRecorder

    recorder = PrismRecorder(prism_contract, base_url=prism_url)
    start = prism_server.mark()
    settings = Settings.from_env(app_env(tmp_path, GITHUB_API_URL=prism_url))
    auth = AppAuth(settings, transport=recorder.transport())
    from app.server.redeliver import app_client

    github = app_client(auth)
    listing = list(github.paginate("/app/hook/deliveries", {"per_page": 100}))
    assert listing and "guid" in listing[0]
    with contextlib.suppress(GitHubError):
        github.request("POST", f"/app/hook/deliveries/{listing[0]['id']}/attempts")
    end = prism_server.mark()
    logged = [
        line
        for line in prism_server.log_errors(start, end)
        if not line.startswith(("Violation: response", "Response body"))
    ]
    paths = [(e.method, e.path) for e in recorder.exchanges]
    assert ("POST", f"/app/hook/deliveries/{listing[0]['id']}/attempts") in paths
    assert recorder.errors == [] and logged == [], (recorder.errors, logged)
