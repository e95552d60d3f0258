"""`blameless-bot`: replay in dry-run, start-up errors, and serve / web / worker as real processes.

The process tests point GITHUB_API_URL at a local HTTP bridge to the shared fake GitHub, so a
signed incident delivery posted to `serve` really ends with a postmortem issue in the fake.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from app.github.events import Event
from app.server import cli
from app.server.delivery_store import DONE
from app.server.queue import DeliveryQueue
from app.server.settings import Settings
from tests.fake_github import FakeGitHub
from tests.test_settings import SECRET, app_env
from tests.test_webhook import sign
from tests.test_worker import CONFIG, FakeApp

BUNDLED = Path(cli.__file__).parent / "data" / "incident-labeled.json"
OWNER, REPO = "Codertocat", "Hello-World"  # the bundled delivery's repository


# ---------------------------------------------------------------- replay and start-up


def test_the_readme_first_command_prints_the_issue_with_no_account(capsys, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "BLAMELESS_", "REDIS_")):
            monkeypatch.delenv(name)
    assert cli.main(["replay", str(BUNDLED), "--event", "issues", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: nothing was sent to GitHub." in out
    assert "title:  Postmortem: Checkout returned 502 errors for 40 minutes (#1)" in out
    assert "in Codertocat/Hello-World" in out


def test_replay_without_a_file_uses_the_bundled_incident(capsys):
    assert cli.main(["replay", "--dry-run"]) == 0
    assert "Checkout returned 502 errors" in capsys.readouterr().out


def test_replay_honours_a_config_file(capsys, tmp_path):
    config = tmp_path / "blameless.yml"
    config.write_text("incidents:\n  labels: [outage]\n  near_miss_labels: []\n")
    assert cli.main(["replay", "--dry-run", "--config", str(config)]) == 0
    assert "Nothing to do: the label 'incident' is not an incident label" in capsys.readouterr().out


def test_the_bundled_delivery_is_a_real_example_with_an_incident_label():
    payload = json.loads(BUNDLED.read_text())
    assert payload["action"] == "labeled" and payload["label"]["name"] == "incident"
    assert payload["installation"]["id"]
    assert payload["sender"]["type"] == "User"
    assert payload["repository"]["full_name"] == f"{OWNER}/{REPO}"


@pytest.mark.parametrize("command", ["serve", "web", "worker"])
def test_missing_settings_stop_start_up_naming_them(command, capsys, monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "BLAMELESS_", "REDIS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n")
    monkeypatch.setenv("BLAMELESS_DATA_DIR", str(tmp_path))
    assert cli.main([command]) == 2
    err = capsys.readouterr().err
    assert "GITHUB_APP_ID" in err and "GITHUB_WEBHOOK_SECRET" in err
    assert "GITHUB_APP_PRIVATE_KEY does not hold a PEM-encoded RSA private key" in err
    assert "c2VjcmV0" not in err


def test_serve_runs_one_web_process_so_there_is_one_embedded_worker(tmp_path):
    settings = Settings.from_env(app_env(tmp_path))
    args = cli.parser().parse_args(["serve", "--bind", "127.0.0.1:9"])
    assert cli.gunicorn_options(settings, args, embedded=True)["workers"] == 1
    args = cli.parser().parse_args(["web", "--processes", "4"])
    assert cli.gunicorn_options(settings, args, embedded=False)["workers"] == 4


def test_health_reads_the_worker_heartbeat(tmp_path):
    beat = tmp_path / "beat"
    assert not cli.health(port=str(free_port()), heartbeat=beat)
    beat.touch()
    assert cli.health(port=str(free_port()), heartbeat=beat)
    os.utime(beat, (time.time() - 600, time.time() - 600))
    assert not cli.health(port=str(free_port()), heartbeat=beat)


# ---------------------------------------------------------------- real processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bridge:
    """A local HTTP server in front of FakeApp + FakeGitHub, for the App processes to call."""

    def __init__(self, github: FakeGitHub):
        installation = json.loads(BUNDLED.read_text())["installation"]["id"]
        transport = FakeApp(github, installations={installation: (OWNER, None)}).transport

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = httpx.Request(
                    self.command,
                    "https://api.github.com" + self.path,
                    headers=dict(self.headers.items()),
                    content=self.rfile.read(length) if length else b"",
                )
                try:
                    response = transport.handle_request(request)
                    response.read()
                    status, headers, body = response.status_code, response.headers, response.content
                except httpx.TimeoutException:
                    status, headers, body = 504, {}, b""
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "content-encoding",
                    ):
                        self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def github():
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, files={".github/blameless.yml": CONFIG})
    payload = json.loads(BUNDLED.read_text())
    fake.add_issue(OWNER, REPO, payload["issue"]["title"], labels=["sev2", "incident"])
    return fake


@pytest.fixture
def process_env(tmp_path, github):
    bridge = Bridge(github)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "BLAMELESS_", "REDIS_"))}
    env.update(app_env(tmp_path, GITHUB_API_URL=bridge.url, BLAMELESS_RETRY_DELAY="1"))
    env["PORT"] = str(free_port())
    yield env
    bridge.close()


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "app.server.cli", *command],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    return False


def post_bundled(base: str, delivery: str) -> httpx.Response:
    body = BUNDLED.read_bytes()
    return httpx.post(
        f"{base}/webhook",
        content=body,
        headers={
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(body),
            "Content-Type": "application/json",
        },
        timeout=10,
    )


def postmortems(github: FakeGitHub) -> list[dict]:
    return [i for i in github.issues(OWNER, REPO) if i["title"].startswith("Postmortem:")]


def test_serve_acknowledges_and_its_embedded_worker_opens_the_postmortem(process_env, github, tmp_path):
    base = f"http://127.0.0.1:{process_env['PORT']}"
    process = start(["serve"], process_env, tmp_path / "serve.log")
    try:
        assert wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200), (
            tmp_path / "serve.log"
        ).read_text()
        assert httpx.get(f"{base}/readyz").json() == {"status": "ok", "queue": "sqlite"}
        response = post_bundled(base, "serve-1")
        assert (response.status_code, response.json()["outcome"]) == (202, "queued")
        assert wait_for(lambda: len(postmortems(github)) == 1), (tmp_path / "serve.log").read_text()
        assert post_bundled(base, "serve-1").json()["outcome"] in ("duplicate",)
    finally:
        code = stop(process)
    log_text = (tmp_path / "serve.log").read_text()
    assert code == 0, log_text
    assert SECRET not in log_text
    assert len(postmortems(github)) == 1


def test_web_and_a_separate_worker_share_the_queue(process_env, github, tmp_path):
    base = f"http://127.0.0.1:{process_env['PORT']}"
    web = start(["web", "--processes", "2"], process_env, tmp_path / "web.log")
    try:
        assert wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200), (
            tmp_path / "web.log"
        ).read_text()
        assert post_bundled(base, "split-1").json()["outcome"] == "queued"
        time.sleep(0.5)
        assert postmortems(github) == []  # nothing works the queue yet
        worker = start(["worker"], process_env, tmp_path / "worker.log")
        try:
            assert wait_for(lambda: len(postmortems(github)) == 1), (tmp_path / "worker.log").read_text()
            heartbeat = cli.HEARTBEAT
            assert heartbeat.exists()
        finally:
            stop(worker)
    finally:
        assert stop(web) == 0


def test_a_worker_process_drains_what_was_queued_while_it_was_down(process_env, github, tmp_path):
    settings = Settings.from_env(process_env)
    queue = DeliveryQueue(settings, client_factory=lambda *a: None)
    payload = json.loads(BUNDLED.read_text())
    assert queue.submit(Event("issues", "queued-early", payload)).enqueued
    worker = start(["worker"], process_env, tmp_path / "worker.log")
    try:
        assert wait_for(lambda: (queue.store.get("queued-early") or {}).get("status") == DONE), (
            tmp_path / "worker.log"
        ).read_text()
    finally:
        stop(worker)
    assert len(postmortems(github)) == 1
    lines = [
        json.loads(line)
        for line in (tmp_path / "worker.log").read_text().splitlines()
        if line.startswith("{")
    ]
    done = [line for line in lines if line.get("msg") == "delivery done"]
    assert done and done[0]["delivery_id"] == "queued-early"
