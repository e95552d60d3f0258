"""`blameless-bot`: run the App (serve, web, worker), check its health, or replay a delivery.

blameless-bot serve      web server and an embedded worker in one process (small installs)
blameless-bot web        the gunicorn web server only
blameless-bot worker     the huey worker only (run as many as needed with REDIS_URL)
blameless-bot health     exit 0 if this container's web server or worker is alive
blameless-bot replay PAYLOAD.json --event issues --dry-run
                         process one saved delivery; with --dry-run no GitHub account is
                         needed and the issue the App would open is printed
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
from importlib import resources
from pathlib import Path
from urllib.parse import quote, quote_plus

from app.server.settings import Settings, SettingsError

log = logging.getLogger("app.server.cli")

BUNDLED_DELIVERY = "data/incident-labeled.json"
HEARTBEAT = Path(tempfile.gettempdir()) / "blameless-bot-worker.heartbeat"
HEARTBEAT_EVERY = 30.0


# ---------------------------------------------------------------- logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra=` fields (delivery_id, event…) become keys."""

    _standard = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "asctime",
        "taskName",
    }

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in JsonFormatter._standard}
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        return f"{super().format(record)} {tail}".rstrip()


# GitHub tokens and JWTs, should one ever reach a log line by accident: fine-grained personal
# tokens (`github_pat_`), classic ones (`ghp_`, OAuth `gho_`, user-to-server `ghu_`, installation
# `ghs_`, refresh `ghr_`). Classic tokens are a prefix and 36 characters; the stateless installation
# format is `ghs_<app id>_<JWT>`, dots included, so the token class takes dots and dashes too.
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?:github_pat_[A-Za-z0-9_]{20,}|gh[pousr]_[A-Za-z0-9_.-]{16,})"
    r"|\beyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}"
)
REDACTED = "[redacted]"


def written_forms(secret: str) -> set[str]:
    """The ways a value can appear in a log line: as is, percent-encoded (a URL), escaped by
    repr() (a traceback's arguments) or by JSON (the json log format), and repr inside JSON."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), repr(secret)[1:-1]}
    forms |= {json.dumps(form)[1:-1] for form in forms}
    return forms


class Redacting(logging.Formatter):
    """Defence in depth: the code never logs secrets, and this scrubs any that slip through."""

    def __init__(self, inner: logging.Formatter, secrets: list[str]):
        super().__init__()
        self.inner = inner
        forms = {form for secret in secrets if secret for form in written_forms(secret)}
        # Longest first: a whole key goes before its lines, a URL before the password in it.
        self.forms = sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for form in self.forms:
            text = text.replace(form, REDACTED)
        return _TOKEN.sub(REDACTED, text)


def configure_logging(settings: Settings) -> None:
    inner = JsonFormatter() if settings.log_format == "json" else TextFormatter()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Redacting(inner, settings.secrets()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Tracebacks Python would print to stderr itself go through the same handler.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def _log_uncaught(kind, error, trace) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    log.critical("uncaught exception", exc_info=(kind, error, trace))


def redacting_gunicorn_logger(secrets: list[str]) -> type:
    """gunicorn's Logger with the redaction on its own handlers (start-up, worker errors, bad
    requests, access lines): they do not go through the root logger."""
    from gunicorn.glogging import Logger

    class RedactingLogger(Logger):
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for gunicorn_log in (self.error_log, self.access_log):
                for handler in gunicorn_log.handlers:
                    if not isinstance(handler.formatter, Redacting):
                        handler.setFormatter(Redacting(handler.formatter or logging.Formatter(), secrets))

    return RedactingLogger


# ---------------------------------------------------------------- web and worker


def make_queue(settings: Settings):
    from app.jobs.action_items import pacing
    from app.server.queue import DeliveryQueue

    pacing.WRITE_INTERVAL = settings.write_interval  # the pace of writes GitHub asks for
    return DeliveryQueue(settings)


def gunicorn_options(settings: Settings, args: argparse.Namespace, *, embedded: bool) -> dict:
    return {
        "bind": args.bind or f"0.0.0.0:{os.environ.get('PORT', '3000')}",
        # The embedded worker needs exactly one web process, or each would run its own.
        "workers": 1 if embedded else args.processes,
        "worker_class": "gthread",
        "threads": args.threads,
        "timeout": 30,
        "graceful_timeout": 30,
        "accesslog": "-" if args.access_log else None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "logger_class": redacting_gunicorn_logger(settings.secrets()),
        # gunicorn >= 25.1 opens a control socket under $HOME; the App needs none, and two
        # servers on one machine (or a home-less container user) would trip over it.
        "control_socket_disable": True,
    }


def run_gunicorn(settings: Settings, options: dict, *, embedded: bool) -> None:
    from gunicorn.app.base import BaseApplication

    from app.server.webhook import create_app

    state: dict = {}

    def post_worker_init(_worker) -> None:
        # Runs in the forked web process: the consumer's threads live beside the web threads.
        if embedded:
            state["consumer"] = start_embedded_consumer(state["queue"])

    def worker_exit(_server, _worker) -> None:
        consumer = state.get("consumer")
        if consumer is not None:
            consumer.stop(graceful=True)

    class Application(BaseApplication):
        def load_config(self) -> None:
            hooks = {"post_worker_init": post_worker_init, "worker_exit": worker_exit}
            for key, value in {**options, **hooks}.items():
                if value is not None and key in self.cfg.settings:  # older gunicorns lack some
                    self.cfg.set(key, value)

        def load(self):
            configure_logging(settings)
            state["queue"] = make_queue(settings)
            return create_app(settings, queue=state["queue"])

    Application().run()


def start_embedded_consumer(queue):
    """Start huey's scheduler and workers as threads of this process, leaving its signals be."""
    from huey.consumer import Consumer

    class EmbeddedConsumer(Consumer):
        def _set_signal_handlers(self) -> None:
            pass  # gunicorn owns SIGTERM/SIGINT/SIGHUP here; worker_exit stops the consumer

    from app.server.queue import IDLE_POLL_MAX

    consumer = EmbeddedConsumer(
        queue.huey,
        workers=queue.settings.workers,
        worker_type="thread",
        periodic=True,
        max_delay=IDLE_POLL_MAX,
    )
    consumer.start()
    queue.start_recovery()  # deliveries a dead worker held go on, starting now
    log.info("embedded worker started", extra={"threads": queue.settings.workers})
    return consumer


def run_worker(settings: Settings) -> None:
    queue = make_queue(settings)
    start_heartbeat()
    log.info("worker starting", extra={"queue": settings.queue_backend})
    queue.start_recovery()  # deliveries a dead worker held go on, starting now
    queue.consumer().run()


def start_heartbeat(path: Path = HEARTBEAT, every: float = HEARTBEAT_EVERY) -> threading.Thread:
    """Touch a file while the worker lives, for `blameless-bot health` in a worker container."""

    def beat() -> None:
        while True:
            path.touch()
            time.sleep(every)

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    return thread


def health(port: str | None = None, heartbeat: Path = HEARTBEAT) -> bool:
    """Healthy if the web server answers /healthz or the worker's heartbeat is recent."""
    url = f"http://127.0.0.1:{port or os.environ.get('PORT', '3000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return response.status == 200
    except OSError:
        pass
    return heartbeat.exists() and time.time() - heartbeat.stat().st_mtime < 3 * HEARTBEAT_EVERY


# ---------------------------------------------------------------- replay


def replay(args: argparse.Namespace, env=None) -> int:
    """Replay one saved delivery; in dry-run mode print what the App would do."""
    from app.github.events import Event

    payload = load_payload(args.payload)
    event = Event(name=args.event, delivery_id=args.delivery or "replay", payload=payload)
    if args.dry_run:
        from app.jobs.open_postmortem import dry_run

        config_text = Path(args.config).read_text("utf-8") if args.config else None
        print(dry_run.render(dry_run.replay(event, config_text=config_text)))
        return 0
    settings = Settings.from_env(env)
    configure_logging(settings)
    from app.github.auth import AppAuth
    from app.jobs.routes import ROUTER
    from app.server.worker import process_delivery

    outcome = process_delivery(event, settings, AppAuth(settings), ROUTER)
    print(f"{outcome.status}: {outcome.reason}")
    return 0


def load_payload(path: str | None) -> dict:
    """The payload at `path`, or the bundled incident delivery when none is given."""
    if path is None:
        return json.loads(resources.files("app.server").joinpath(BUNDLED_DELIVERY).read_text("utf-8"))
    return json.loads(Path(path).read_text("utf-8"))


# ---------------------------------------------------------------- entry point


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="blameless-bot", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    for name, help_ in (("serve", "web server and embedded worker"), ("web", "web server only")):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--bind", help="host:port (default 0.0.0.0:$PORT or :3000)")
        cmd.add_argument("--threads", type=int, default=8, help="request threads per process")
        cmd.add_argument("--access-log", action="store_true", help="log every request")
        if name == "web":
            cmd.add_argument("--processes", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    sub.add_parser("worker", help="the queue worker (huey consumer)")
    sub.add_parser("health", help="exit 0 if the web server or worker here is alive")
    rep = sub.add_parser("replay", help="process one saved delivery")
    rep.add_argument("payload", nargs="?", help="the delivery's JSON body (default: a bundled incident)")
    rep.add_argument("--event", default="issues", help="the X-GitHub-Event header (issues…)")
    rep.add_argument("--delivery", help="the X-GitHub-Delivery id to use")
    rep.add_argument("--config", help="a .github/blameless.yml to use instead of the repository's")
    rep.add_argument("--dry-run", action="store_true", help="no GitHub account: print, write nothing")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "health":
        return 0 if health() else 1
    try:
        if args.command == "replay":
            return replay(args)
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings)
    if args.command == "worker":
        run_worker(settings)
    else:
        embedded = args.command == "serve"
        run_gunicorn(settings, gunicorn_options(settings, args, embedded=embedded), embedded=embedded)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
