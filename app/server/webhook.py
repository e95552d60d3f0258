"""The webhook endpoint: verify, decide, enqueue durably, answer 202 at once; never a 500.

Order matters: the signature is checked on the raw body before a byte of it is parsed (401),
then the JSON is parsed (400 if it is not an object), then the event is either ignored with a
logged reason or handed to the queue keyed by `X-GitHub-Delivery`. If the queue cannot take
it the answer is 503, so the delivery shows as failed in GitHub and can be redelivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.github.events import Event, is_account
from app.github.router import Router
from app.server.queue import DeliveryQueue, QueueUnavailable
from app.server.settings import Settings

log = logging.getLogger(__name__)

MAX_PAYLOAD = 26 * 1024 * 1024  # GitHub caps deliveries at 25 MB; leave room for the headers
INTERNAL_EVENTS = frozenset({"schedule"})  # made by our own scheduler, never by GitHub


def create_app(settings: Settings, queue=None, router: Router | None = None) -> Flask:
    """The Flask app; `queue` defaults to the DeliveryQueue the settings describe."""
    app = Flask("blameless_bot")
    app.config["MAX_CONTENT_LENGTH"] = MAX_PAYLOAD
    if queue is None:
        queue = DeliveryQueue(settings, router=router)
    if router is None:
        from app.jobs.routes import ROUTER

        router = ROUTER
    hook = WebhookHandler(settings, queue, router)
    app.extensions["blameless"] = hook
    app.add_url_rule("/webhook", "webhook", hook.receive, methods=["POST"])
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", hook.ready)
    app.register_error_handler(Exception, _last_resort)
    return app


def healthz() -> Response:
    """The process is alive and serving; it says nothing about the queue."""
    return jsonify(status="ok")


class WebhookHandler:
    def __init__(self, settings: Settings, queue, router: Router):
        self.settings = settings
        self.queue = queue
        self.router = router
        self.secret = (settings.webhook_secret or "").encode("utf-8")

    def ready(self):
        try:
            self.queue.ping()
        except Exception as exc:
            log.warning("queue not reachable", extra={"error": type(exc).__name__})
            return jsonify(status="unavailable", queue=type(exc).__name__), 503
        return jsonify(status="ok", queue=self.settings.queue_backend)

    def receive(self):
        started = time.perf_counter()
        delivery = request.headers.get("X-GitHub-Delivery", "")
        event_name = request.headers.get("X-GitHub-Event", "")
        extra = {"delivery_id": delivery or None, "event": event_name or None}
        try:
            status, body = self._receive(delivery, event_name, extra)
        except HTTPException as exc:  # e.g. 413 from MAX_CONTENT_LENGTH while reading the body
            status, body = exc.code or 400, {"error": exc.description}
        except Exception:
            # Whatever went wrong, GitHub must see a non-2xx it can redeliver, not a 500 page.
            log.exception("webhook handling failed", extra=extra)
            status, body = 503, {"error": "internal error; the delivery can be redelivered"}
        log.log(
            logging.INFO if status < 400 else logging.WARNING,
            "webhook answered",
            extra={
                **extra,
                "status": status,
                "outcome": body.get("outcome") or body.get("error"),
                "reason": body.get("reason"),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return jsonify(body), status

    def _receive(self, delivery: str, event_name: str, extra: dict) -> tuple[int, dict]:
        if not self.secret:
            return 503, {"error": "GITHUB_WEBHOOK_SECRET is not set; deliveries cannot be verified"}
        raw = request.get_data(cache=True)
        if not signature_ok(self.secret, raw, request.headers.get("X-Hub-Signature-256", "")):
            return 401, {"error": "bad or missing X-Hub-Signature-256"}
        if not event_name or not delivery:
            return 400, {"error": "X-GitHub-Event and X-GitHub-Delivery headers are required"}
        payload, problem = parse_payload(raw)
        if problem:
            return 400, {"error": problem}
        event = Event(name=event_name, delivery_id=delivery, payload=payload)
        extra["event"] = event.key
        reason = self.ignore_reason(event)
        if reason:
            return 202, {"outcome": "ignored", "reason": reason}
        try:
            submission = self.queue.submit(event)
        except QueueUnavailable as exc:
            log.error("delivery not queued", extra={**extra, "error": str(exc)})
            return 503, {"error": "queue unavailable; redeliver later"}
        outcome = "queued" if submission.enqueued else "duplicate"
        return 202, {"outcome": outcome, "reason": submission.reason}

    def ignore_reason(self, event: Event) -> str | None:
        """Why a verified delivery needs no work, or None if it goes to the queue."""
        if event.name in INTERNAL_EVENTS:
            return f"{event.name} is not a GitHub event"
        if not self.router.handles(event):
            return f"no handler for {event.key}"
        if is_own_event(event, self.settings.bot_login):
            return "sent by this app (its own action)"
        if event.installation_id is None:
            return "the payload names no installation"
        return None


def signature_ok(secret: bytes, raw: bytes, header: str) -> bool:
    """HMAC-SHA256 of the raw body, constant-time; the legacy sha1 header is not accepted."""
    if not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "replace"))


def parse_payload(raw: bytes) -> tuple[dict, str | None]:
    """The payload as a plain dict, or a message saying why it is not one."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "the body is not UTF-8"
    except json.JSONDecodeError as exc:
        return {}, f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    if not isinstance(payload, dict):
        return {}, "the body is JSON but not an object"
    return payload, shape_problem(payload)


# Fields every job reads before anything else; GitHub sends them as objects (or leaves them out).
OBJECT_FIELDS = ("installation", "sender", "repository", "organization")


def shape_problem(payload: dict) -> str | None:
    """Why the envelope fields cannot be read, if they cannot: a signed body is not always sane."""
    if not isinstance(payload.get("action", ""), str | None):
        return "the field action is not a string"
    for name in OBJECT_FIELDS:
        if not isinstance(payload.get(name, {}), dict | None):
            return f"the field {name} is not an object"
    owner = (payload.get("repository") or {}).get("owner")
    if not isinstance(owner if owner is not None else {}, dict):
        return "the field repository.owner is not an object"
    return None


def is_own_event(event: Event, bot_login: str | None) -> bool:
    """The app's own actions come back as events; acting on them could loop."""
    return event.sender.get("type") == "Bot" and is_account(event.sender, bot_login)


def _last_resort(exc: Exception):
    """Errors outside the webhook view (routing, body too large, bad method) keep their status."""
    if isinstance(exc, HTTPException):
        return jsonify(error=exc.description), exc.code
    log.exception("request failed", extra={"path": request.path})
    return jsonify(error="internal error"), 503
