"""The webhook endpoint: verify, decide, enqueue durably, answer 202 at once; never a 500.

Order matters. The declared size is judged before a byte is read (411 without a Content-Length,
413 over GitHub's 25 MB cap); the body is read in chunks, hashed as it comes and kept on disk past
1 MiB, so an unsigned request never costs its size in memory; the signature is checked on the raw
body before any of it is parsed (401); then the JSON is parsed and the fields the handlers read
are checked against `data/delivery_schema.yaml` (400: a delivery that could only fail in the
worker is refused, not queued). Then the event is either ignored with a logged reason or handed
to the queue keyed by `X-GitHub-Delivery`. If the queue cannot take it the answer is 503, so
the delivery shows as failed in GitHub and can be redelivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import tempfile
import time
from functools import cache
from importlib import resources
from typing import IO

import yaml
from flask import Flask, Response, jsonify, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from werkzeug.exceptions import HTTPException

from app.github.events import Event, is_account
from app.github.router import Router
from app.server.queue import DeliveryQueue, QueueUnavailable
from app.server.settings import Settings

log = logging.getLogger(__name__)

MAX_PAYLOAD = 25 * 1024 * 1024  # GitHub does not send a delivery over 25 MB (the body alone)
SPOOL_IN_MEMORY = 1024 * 1024  # past this a body waits on disk until its signature is known
CHUNK = 64 * 1024
MAX_NESTING = 32  # GitHub's payloads nest 8 deep; deeper JSON can only be an attack
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
        raw = self._signed_body()
        if isinstance(raw, tuple):
            return raw
        if not event_name or not delivery:
            return 400, {"error": "X-GitHub-Event and X-GitHub-Delivery headers are required"}
        payload, problem = parse_payload(raw)
        if problem is None:
            problem = shape_problem(event_name, payload)
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

    def _signed_body(self) -> bytes | tuple[int, dict]:
        """The raw body once its size and signature are good, else the answer to give."""
        length = request.content_length
        if length is None and request.headers.get("Transfer-Encoding"):
            return 411, {"error": "a Content-Length header is required"}  # GitHub always sends one
        length = length or 0  # neither header: the request has no body
        if length > MAX_PAYLOAD:
            return 413, {"error": f"the body is over {MAX_PAYLOAD} bytes, more than GitHub sends"}
        signing = hmac.new(self.secret, digestmod=hashlib.sha256)
        with spool_body(request.stream, length, signing) as body:
            if not digest_matches(signing, request.headers.get("X-Hub-Signature-256", "")):
                return 401, {"error": "bad or missing X-Hub-Signature-256"}
            return body.read()

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


def spool_body(stream: IO[bytes], length: int, signing: hmac.HMAC) -> IO[bytes]:
    """The body, read in chunks and fed to `signing` as it comes; in memory up to 1 MiB, then on
    disk. Rewound and ready to read."""
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (the caller's `with`)
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            break  # shorter than announced: the signature decides
        signing.update(chunk)
        body.write(chunk)
        remaining -= len(chunk)
    body.seek(0)
    return body


def digest_matches(signing: hmac.HMAC, header: str) -> bool:
    """`X-Hub-Signature-256` against the HMAC of the body, constant-time; sha1 is not accepted."""
    if not header.startswith("sha256="):
        return False
    expected = "sha256=" + signing.hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "replace"))


def signature_ok(secret: bytes, raw: bytes, header: str) -> bool:
    """HMAC-SHA256 of the raw body, constant-time; the legacy sha1 header is not accepted."""
    return digest_matches(hmac.new(secret, raw, hashlib.sha256), header)


def parse_payload(raw: bytes) -> tuple[dict, str | None]:
    """The payload as a plain dict, or a message saying why it is not one."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "the body is not UTF-8"
    except json.JSONDecodeError as exc:
        return {}, f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    except RecursionError:
        return {}, f"the body is JSON nested more than {MAX_NESTING} levels deep"
    except ValueError:  # Python refuses integers of over 4,300 digits
        return {}, "the body holds a number too long to read"
    if not isinstance(payload, dict):
        return {}, "the body is JSON but not an object"
    if nesting(payload) > MAX_NESTING:
        return {}, f"the body is JSON nested more than {MAX_NESTING} levels deep"
    return payload, None


def nesting(value: object) -> int:
    """How deep lists and objects nest in `value` (a walk, not a recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


@cache
def _delivery_schema() -> dict:
    text = resources.files("app.server").joinpath("data/delivery_schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@cache
def _validator(event_name: str) -> Draft202012Validator:
    schema = _delivery_schema()
    parts = [schema["envelope"], schema["events"].get(event_name, {})]
    return Draft202012Validator({"$defs": schema["$defs"], "allOf": parts})


def shape_problem(event_name: str, payload: dict) -> str | None:
    """Why the fields the handlers read cannot be read, if they cannot: a signed body is not
    always sane. The message names the field and the type expected, never the value sent."""
    error = best_match(_validator(event_name).iter_errors(payload))
    return None if error is None else _describe(error)


def _describe(error: ValidationError) -> str:
    field = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        field = f"{field}.{missing}" if field else missing
        return f"the field {field} is required"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"the field {field} must be {expected}"
    return f"the field {field} does not have the form GitHub sends"


def is_own_event(event: Event, bot_login: str | None) -> bool:
    """The app's own actions come back as events; acting on them could loop."""
    return event.sender.get("type") == "Bot" and is_account(event.sender, bot_login)


def _last_resort(exc: Exception):
    """Errors outside the webhook view (routing, body too large, bad method) keep their status."""
    if isinstance(exc, HTTPException):
        return jsonify(error=exc.description), exc.code
    log.exception("request failed", extra={"path": request.path})
    return jsonify(error="internal error"), 503
