"""Every real example payload of the subscribed events goes through the endpoint: none dropped.

The payloads are npm @octokit/webhooks-examples, api.github.com and every ghes-3.x set. Each is
posted twice: as published (repository-webhook examples mostly carry no `installation`), and
with the `installation` every App delivery has. Every answer is a 202 that either queued the
delivery or ignored it with a reason that is also logged; a delivery the composed router handles
is always queued when it names an installation.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter

import pytest

from app.github.events import Event
from app.jobs.routes import ROUTER
from app.server.queue import DeliveryQueue
from app.server.settings import Settings
from app.server.webhook import create_app
from tests.test_settings import app_env
from tests.test_webhook import deliver
from tests.webhook_examples import SUBSCRIBED_EVENTS


@pytest.fixture
def client(tmp_path):
    settings = Settings.from_env(app_env(tmp_path))
    queue = DeliveryQueue(settings, router=ROUTER, client_factory=lambda *a: None)
    return create_app(settings, queue=queue, router=ROUTER).test_client(), queue


def answers(records) -> list[logging.LogRecord]:
    return [r for r in records if r.getMessage() == "webhook answered"]


def test_every_example_is_queued_or_ignored_with_a_logged_reason(client, webhook_examples, caplog):
    client, queue = client
    caplog.set_level(logging.INFO, logger="app.server.webhook")
    outcomes: Counter = Counter()
    sources = set()
    for n, example in enumerate(webhook_examples):
        sources.add(example.source)
        for variant, payload in (("as-is", example.payload), ("app", with_installation(example))):
            delivery = f"{example.id}#{n}:{variant}"
            caplog.clear()
            response = deliver(client, payload, event=example.event, delivery=delivery)
            assert response.status_code == 202, (delivery, response.json)
            body = response.json
            assert body["outcome"] in ("queued", "ignored"), (delivery, body)
            [logged] = answers(caplog.records)
            assert (logged.delivery_id, logged.status, logged.reason) == (
                delivery,
                202,
                body["reason"],
            )
            assert body["reason"], delivery
            if variant == "app" and ROUTER.handles(Event(example.event, delivery, payload)):
                assert body["outcome"] == "queued", (delivery, body)
            outcomes[body["outcome"]] += 1
    assert {"api.github.com", "ghes-3.1", "ghes-3.5"} <= sources
    assert outcomes["queued"] == queue.huey.pending_count()
    assert outcomes["queued"] > 0 and outcomes["ignored"] > 0


def test_the_subscribed_events_cover_every_routed_event():
    from app.server.webhook import INTERNAL_EVENTS  # the daily sweep's "schedule": never from GitHub

    routed = {key.split(".")[0] for key in ROUTER.keys} - INTERNAL_EVENTS
    assert routed <= SUBSCRIBED_EVENTS


def with_installation(example) -> dict:
    payload = copy.deepcopy(example.payload)
    payload.setdefault("installation", {"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="})
    return payload


def routed_examples():
    from tests.webhook_examples import load_examples

    try:
        examples = load_examples(SUBSCRIBED_EVENTS)
    except FileNotFoundError:
        return []
    routed = [e for e in examples if ROUTER.handles(Event(e.event, "", e.payload))]
    return [pytest.param(e, id=f"{e.id}#{n}") for n, e in enumerate(routed)]


@pytest.mark.parametrize("example", routed_examples())
def test_the_handlers_read_every_routed_real_payload(example, tmp_path):
    """Past the webhook, the handlers read the same real payloads without tripping on them.

    The fake GitHub holds the repository and its config but not necessarily the issue or pull
    request a payload names: a GitHubError (such as 404) is fine here, a KeyError is not.
    """
    from app.github.auth import AppAuth
    from app.github.client import GitHubError
    from app.server.worker import process_delivery
    from tests.fake_github import FakeGitHub
    from tests.test_worker import CONFIG, FakeApp

    settings = Settings.from_env(app_env(tmp_path))
    payload = with_installation(example)
    event = Event(example.event, "example", payload)
    github = FakeGitHub()
    github.add_repo(event.owner, event.repo, files={".github/blameless.yml": CONFIG})
    account = {payload["installation"]["id"]: (event.owner, None)}
    auth = AppAuth(settings, transport=FakeApp(github, installations=account).transport)
    try:
        outcome = process_delivery(event, settings, auth, ROUTER)
    except GitHubError:
        return
    assert outcome.status in ("done", "ignored")


JOB3_EVENTS = {"pull_request_review"}  # approvals turn action items into issues (job 3, planned)


def test_the_manifest_subscribes_to_the_routed_events_only_with_least_privilege():
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).parent.parent / "app" / "server" / "manifest.yml").read_text())
    routed = {key.split(".")[0] for key in ROUTER.keys if not key.startswith("schedule.")}
    assert set(manifest["default_events"]) == routed | JOB3_EVENTS
    assert manifest["default_permissions"] == {
        "issues": "write",
        "checks": "write",
        "pull_requests": "read",
        "contents": "read",
        "metadata": "read",
    }
    assert manifest["hook_attributes"]["url"].endswith("/webhook")
