"""The webhook endpoint, through Flask with signed deliveries: verify, decide, enqueue, answer fast.

The queue behind it is the real one (SQLite in tmp_path, or the real redis-server), so dedupe on
redelivery, 503 when the queue is down, and readiness are exercised for real.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import statistics
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.github.auth import AppAuth
from app.github.router import Router
from app.server.cli import JsonFormatter, Redacting
from app.server.delivery_store import DONE, FAILED
from app.server.queue import DeliveryQueue, QueueUnavailable
from app.server.settings import Settings
from app.server.webhook import MAX_PAYLOAD, create_app, signature_ok
from tests.fake_github import FakeGitHub
from tests.test_queue import Recorder, drain
from tests.test_settings import SECRET, app_env, private_key_pem
from tests.test_worker import CONFIG, OWNER, REPO, FakeApp, labeled_event


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    client,
    payload=None,
    *,
    event="issues",
    delivery="d-1",
    raw: bytes | None = None,
    signature: str | None = None,
    headers: dict | None = None,
):
    """POST a delivery the way GitHub does: raw JSON body, signed unless told otherwise."""
    body = raw if raw is not None else json.dumps(payload).encode()
    sent = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body) if signature is None else signature,
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        **(headers or {}),
    }
    return client.post("/webhook", data=body, headers={k: v for k, v in sent.items() if v})


class Bot:
    """The app under test, its queue, the recorder behind its router and the fake GitHub."""

    def __init__(self, env: dict):
        self.settings = Settings.from_env(env)
        self.github = FakeGitHub()
        self.github.add_repo(OWNER, REPO, files={".github/blameless.yml": CONFIG})
        self.github.add_issue(OWNER, REPO, "Checkout down")
        self.recorder = Recorder()
        self.recorder.router.register("pull_request.opened")(lambda context: None)
        auth = AppAuth(self.settings, transport=FakeApp(self.github).transport)
        self.queue = DeliveryQueue(self.settings, router=self.recorder.router, client_factory=auth)
        self.app = create_app(self.settings, queue=self.queue, router=self.recorder.router)
        self.client = self.app.test_client()


@pytest.fixture
def bot(tmp_path) -> Bot:
    return Bot(app_env(tmp_path, BLAMELESS_RETRY_DELAY="1"))


def payload(**changes) -> dict:
    data = labeled_event().payload
    data.update(changes)
    return data


# ---------------------------------------------------------------- signatures


def test_githubs_documented_test_vector_verifies():
    assert signature_ok(
        b"It's a Secret to Everybody",
        b"Hello, World!",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )


def test_a_signed_delivery_is_queued_and_acknowledged(bot):
    response = deliver(bot.client, payload())
    assert response.status_code == 202
    assert response.json == {"outcome": "queued", "reason": "queued"}
    assert bot.queue.huey.pending_count() == 1


@pytest.mark.parametrize(
    "signature",
    [
        "",  # missing
        "sha256=" + "0" * 64,  # wrong
        "sha1=" + hmac.new(SECRET.encode(), b"x", hashlib.sha1).hexdigest(),  # legacy header value
        "SHA256=whatever",
        "sha256=not-hex",
        "sha256=é",
    ],
)
def test_a_bad_signature_is_refused_before_the_body_is_parsed(bot, signature, monkeypatch):
    parsed = []
    monkeypatch.setattr("app.server.webhook.parse_payload", lambda raw: parsed.append(raw))
    response = deliver(bot.client, raw=b"{not json", signature=signature or "")
    assert response.status_code == 401
    assert parsed == []
    assert bot.queue.huey.pending_count() == 0


def test_a_signature_made_with_another_secret_is_refused(bot):
    body = json.dumps(payload()).encode()
    response = deliver(bot.client, raw=body, signature=sign(body, "another-secret"))
    assert response.status_code == 401


def test_the_legacy_sha1_header_alone_is_not_enough(bot):
    body = json.dumps(payload()).encode()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    response = deliver(bot.client, raw=body, signature="", headers={"X-Hub-Signature": sha1})
    assert response.status_code == 401


def test_the_signature_covers_the_raw_bytes_not_a_reserialisation(bot):
    body = b'{"action":  "labeled",\n "installation": {"id": 7}, "sender": {"login": "x"},'
    body += b' "issue": {"number": 1, "title": "Down"},'
    body += b' "repository": {"name": "ops", "full_name": "octo/ops", "owner": {"login": "octo"}}}'
    assert deliver(bot.client, raw=body).status_code == 202


# ---------------------------------------------------------------- what is in the body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "the body is not JSON (Expecting property name enclosed in double quotes"),
        (b"", "the body is not JSON (Expecting value at line 1 column 1)"),
        (b"[1, 2]", "the body is JSON but not an object"),
        (b'"text"', "the body is JSON but not an object"),
        (b"\xff\xfe{}", "the body is not UTF-8"),
    ],
)
def test_a_signed_but_malformed_body_is_a_clear_400(bot, raw, message):
    response = deliver(bot.client, raw=raw)
    assert response.status_code == 400
    assert response.json["error"].startswith(message)


def test_the_event_and_delivery_headers_are_required(bot):
    assert deliver(bot.client, payload(), event="").status_code == 400
    assert deliver(bot.client, payload(), delivery="").status_code == 400


# ---------------------------------------------------------------- what is ignored


@pytest.mark.parametrize(
    ("event", "changes", "reason"),
    [
        ("star", {"action": "created"}, "no handler for star.created"),
        ("issues", {"action": "transferred"}, "no handler for issues.transferred"),
        ("issues", {"action": "some_future_action"}, "no handler for issues.some_future_action"),
        ("ping", {"action": None, "zen": "Design for failure."}, "no handler for ping"),
        ("schedule", {"action": "daily"}, "schedule is not a GitHub event"),
        ("issues", {"installation": None}, "the payload names no installation"),
    ],
)
def test_events_that_need_no_work_are_acknowledged_and_ignored(bot, event, changes, reason):
    response = deliver(bot.client, payload(**changes), event=event)
    assert response.status_code == 202
    assert response.json == {"outcome": "ignored", "reason": reason}
    assert bot.queue.huey.pending_count() == 0


def test_the_apps_own_events_never_trigger_work(bot):
    own = {"login": "blameless-bot[bot]", "type": "Bot", "id": 1}
    response = deliver(bot.client, payload(sender=own))
    assert response.json == {"outcome": "ignored", "reason": "sent by this app (its own action)"}
    assert bot.queue.huey.pending_count() == 0


def test_other_bots_are_not_mistaken_for_the_app(bot):
    other = {"login": "dependabot[bot]", "type": "Bot", "id": 2}
    assert deliver(bot.client, payload(sender=other)).json["outcome"] == "queued"
    user_named_like_us = {"login": "blameless-bot[bot]", "type": "User"}
    assert deliver(bot.client, payload(sender=user_named_like_us), delivery="d-2").json["outcome"] == "queued"


# ---------------------------------------------------------------- redelivery


def test_a_redelivery_does_no_second_piece_of_work(bot):
    assert deliver(bot.client, payload()).json["outcome"] == "queued"
    again = deliver(bot.client, payload())
    assert again.status_code == 202
    assert again.json == {"outcome": "duplicate", "reason": "delivery already queued"}
    drain(bot.queue)
    after = deliver(bot.client, payload())
    assert after.json == {"outcome": "duplicate", "reason": "delivery already done"}
    drain(bot.queue)
    assert bot.recorder.runs == ["d-1"]
    assert len(bot.github.comments_on(OWNER, REPO, 1)) == 1
    assert bot.queue.store.get("d-1")["status"] == DONE


def test_a_redelivery_of_a_failed_delivery_is_processed_again(bot):
    bot.recorder.fail_with.append(KeyError("boom"))
    deliver(bot.client, payload())
    drain(bot.queue)
    assert bot.queue.store.get("d-1")["status"] == FAILED
    again = deliver(bot.client, payload())
    assert again.json == {"outcome": "queued", "reason": "queued (previously failed)"}
    drain(bot.queue)
    assert bot.recorder.runs == ["d-1"]


# ---------------------------------------------------------------- never a 500


class BrokenQueue:
    def __init__(self, error: Exception):
        self.error = error

    def submit(self, event):
        raise self.error

    def ping(self):
        raise self.error


@pytest.mark.parametrize("error", [QueueUnavailable("sqlite locked"), RuntimeError("a bug"), MemoryError()])
def test_a_queue_that_cannot_take_the_delivery_gives_503_so_github_can_redeliver(tmp_path, error):
    settings = Settings.from_env(app_env(tmp_path))
    router = Recorder().router
    client = create_app(settings, queue=BrokenQueue(error), router=router).test_client()
    response = deliver(client, payload())
    assert response.status_code == 503
    assert "redeliver" in response.json["error"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_a_redis_that_is_down_gives_503_and_not_ready(tmp_path):
    bot = Bot(app_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"))
    response = deliver(bot.client, payload())
    assert response.status_code == 503
    assert bot.client.get("/readyz").status_code == 503


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_ready_when_the_queue_answers(tmp_path, request, backend):
    env = app_env(tmp_path)
    if backend == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_clean_url")
    bot = Bot(env)
    ready = bot.client.get("/readyz")
    assert (ready.status_code, ready.json) == (200, {"status": "ok", "queue": backend})
    assert bot.client.get("/healthz").json == {"status": "ok"}
    assert deliver(bot.client, payload()).json["outcome"] == "queued"


def test_other_methods_and_paths_keep_their_http_status(bot):
    assert bot.client.get("/webhook").status_code == 405
    assert bot.client.get("/nope").status_code == 404


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
    ),
    event=st.sampled_from(["issues", "pull_request", "check_run", "check_suite", "zzz", "ping"]),
    delivery=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
)
def test_garbage_with_a_valid_signature_is_never_a_500(bot, body, event, delivery):
    response = deliver(bot.client, raw=body, event=event, delivery=delivery)
    assert response.status_code in (202, 400), response.json


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload_=st.fixed_dictionaries(
        {
            "action": st.sampled_from(["labeled", "opened", None, 3, ["x"]]),
            "installation": st.one_of(st.none(), st.just({"id": 7}), st.just("7"), st.just({"id": None})),
            "sender": st.one_of(st.none(), st.just("x"), st.just({"type": "Bot"}), st.just([])),
            "repository": st.one_of(st.none(), st.just({}), st.just({"owner": None}), st.just([1])),
        }
    )
)
def test_odd_shapes_of_real_fields_are_never_a_500(bot, payload_):
    response = deliver(bot.client, payload_)
    assert response.status_code in (202, 400), response.json


def test_a_25_mb_delivery_is_accepted(bot):
    assert bot.app.config["MAX_CONTENT_LENGTH"] >= 25 * 1024 * 1024
    big = payload()
    big["issue"]["body"] = "x" * (25 * 1000 * 1000 - 2000)
    response = deliver(bot.client, big)
    assert response.status_code == 202 and response.json["outcome"] == "queued"


def test_a_body_over_the_cap_is_413_not_500(bot):
    body = b"{" + b" " * MAX_PAYLOAD + b"}"
    assert deliver(bot.client, raw=body).status_code == 413


class Unreadable(io.RawIOBase):
    """A request body that must not be read."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise AssertionError("the body was read")


def test_a_body_declared_over_the_cap_is_refused_before_a_byte_is_read(bot):
    response = bot.client.post(
        "/webhook",
        headers={"X-GitHub-Event": "issues", "X-GitHub-Delivery": "big", "X-Hub-Signature-256": "sha256=0"},
        environ_overrides={"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(MAX_PAYLOAD + 1)},
    )
    assert response.status_code == 413


def test_a_body_without_a_length_is_411(bot):
    response = bot.client.post(
        "/webhook",
        headers={"X-GitHub-Event": "issues", "X-GitHub-Delivery": "chunked", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": Unreadable(), "wsgi.input_terminated": True},
    )
    assert response.status_code == 411


def test_an_unsigned_body_is_read_in_chunks_not_held_in_memory(bot):
    """Eight unsigned 25 MB requests once took a web process from 108 to 372 MB (bench/webhook_memory.py)."""
    body = b"{" + b" " * (8 * 1024 * 1024) + b"}"
    tracemalloc.start()
    try:
        response = deliver(bot.client, raw=body, signature="sha256=" + "0" * 64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 401
    assert peak < 3 * 1024 * 1024


TOO_DEEP = "the body is JSON nested more than 32 levels deep"
NOT_GITHUBS_FORM = "does not have the form GitHub sends"


def _with(path: str, value) -> bytes:
    """The labeled-incident payload with one field replaced, signed as GitHub would send it."""
    data = payload()
    *parents, name = path.split(".")
    target = data
    for parent in parents:
        target = target[parent]
    target[name] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", TOO_DEEP),
        (b'{"a": ' + b"[" * 900 + b"]" * 900 + b"}", TOO_DEEP),
        (b'{"action": "labeled", "n": ' + b"9" * 5000 + b"}", "the body holds a number too long to read"),
        (_with("sender.login", 5), "the field sender.login must be string or null"),
        (_with("sender", "octocat"), "the field sender must be object or null"),
        (_with("installation.id", "7"), "the field installation.id must be integer"),
        (_with("installation.id", 10**30), f"the field installation.id {NOT_GITHUBS_FORM}"),
        (_with("repository.name", {"x": 1}), "the field repository.name must be string"),
        (_with("repository.owner.login", ["o"]), "the field repository.owner.login must be string or null"),
        (_with("issue.number", "1"), "the field issue.number must be integer"),
        (_with("issue.labels", [{"name": 1}]), "the field issue.labels.0.name must be string"),
        (_with("issue.created_at", "yesterday"), f"the field issue.created_at {NOT_GITHUBS_FORM}"),
        (_with("issue", None), "the field issue must be object"),
        (_with("label", []), f"the field label {NOT_GITHUBS_FORM}"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_a_signed_body_the_handlers_cannot_read_is_a_400_not_queued(bot, raw, message, caplog):
    """Such a delivery once answered 503 (GitHub redelivers it for nothing) or was queued to fail."""
    response = deliver(bot.client, raw=raw)
    assert (response.status_code, response.json) == (400, {"error": message})
    assert bot.queue.huey.pending_count() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("event", "body", "field"),
    [
        ("issues", {"action": "labeled", "installation": {"id": 7}}, "issue"),
        ("pull_request", {"action": "opened", "pull_request": {"number": 1}}, "pull_request.head"),
        ("check_suite", {"action": "requested", "check_suite": {}}, "check_suite.head_sha"),
        ("check_run", {"action": "rerequested", "check_run": {"head_sha": "abc"}}, "check_run.head_sha"),
    ],
)
def test_each_event_carries_what_its_handlers_index(bot, event, body, field):
    response = deliver(bot.client, body, event=event)
    assert response.status_code == 400
    assert response.json["error"].startswith(f"the field {field} ")


# ---------------------------------------------------------------- speed and secrets


def test_acknowledgement_is_fast(bot, record_property):
    """GitHub gives 10 s; the ack (verify, parse, claim, enqueue on SQLite) takes milliseconds."""
    timings = []
    for n in range(200):
        started = time.perf_counter()
        response = deliver(bot.client, payload(), delivery=f"lat-{n}")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 202
    p50, p95 = statistics.median(timings), statistics.quantiles(timings, n=20)[-1]
    record_property("ack_ms_p50", round(p50, 2))
    record_property("ack_ms_p95", round(p95, 2))
    assert p95 < 500


def test_no_secret_reaches_the_logs(bot, caplog):
    """Run deliveries end to end (good, forged, failing) and read every log line."""
    caplog.set_level(logging.DEBUG)
    deliver(bot.client, payload())
    deliver(bot.client, payload(), delivery="forged", signature="sha256=" + "1" * 64)
    deliver(bot.client, raw=b"{oops", delivery="bad-json")
    bot.github.fail_next(502, method="POST", path="/comments")
    drain(bot.queue, later=5)
    bot.recorder.fail_with.append(RuntimeError("handler broke"))
    deliver(bot.client, payload(), delivery="d-2")
    drain(bot.queue)
    assert bot.recorder.runs == ["d-1"]

    formatter = JsonFormatter()
    text = "\n".join(formatter.format(record) for record in caplog.records)
    minted = [t for t in bot.github.tokens if t.startswith("ghs_minted")]
    assert minted, "the run should have minted installation tokens"
    assert "delivery_id" in text
    forbidden = [
        SECRET,
        *minted,
        *private_key_pem().splitlines()[1:-1],
        bot.queue.client_factory.jwt(),
    ]
    for secret in forbidden:
        assert secret not in text


def test_the_log_formatter_scrubs_tokens_that_slip_through(tmp_path):
    settings = Settings.from_env(app_env(tmp_path))
    formatter = Redacting(JsonFormatter(), [settings.webhook_secret])
    record = logging.LogRecord(
        "x", logging.INFO, "", 0, "oops %s %s %s", (SECRET, "ghs_" + "a" * 36, "token"), None
    )
    line = formatter.format(record)
    assert SECRET not in line and "ghs_aaaa" not in line
    assert json.loads(line)["msg"] == "oops [redacted] [redacted] token"
    stateless = "ghs_12345_eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjM0NSJ9.c2lnbmF0dXJlLXBhcnQ"
    record.args = (SECRET, stateless, "token")
    assert json.loads(formatter.format(record))["msg"] == "oops [redacted] [redacted] token"


def test_an_unhandled_event_is_not_logged_as_an_error(bot, caplog):
    caplog.set_level(logging.INFO)
    deliver(bot.client, payload(action="closed"))
    [answer] = [r for r in caplog.records if r.getMessage() == "webhook answered"]
    assert (answer.levelname, answer.delivery_id, answer.reason) == (
        "INFO",
        "d-1",
        "no handler for issues.closed",
    )


def test_the_router_decides_what_is_queued(tmp_path):
    """Only the composed router's keys are queued: the webhook holds no list of its own."""
    settings = Settings.from_env(app_env(tmp_path))
    router = Router()
    router.register("issues.closed")(lambda context: None)
    queue = DeliveryQueue(settings, router=router, client_factory=lambda *a: None)
    client = create_app(settings, queue=queue, router=router).test_client()
    assert deliver(client, payload(action="closed")).json["outcome"] == "queued"
    assert deliver(client, payload(), delivery="d-2").json["outcome"] == "ignored"
