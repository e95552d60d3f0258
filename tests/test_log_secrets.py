"""No secret reaches any log, in any form: the whole App run as a process, every byte it writes read.

`blameless-bot serve` runs with a Redis queue behind a password, its access log on and LOG_LEVEL
DEBUG, against the shared fake GitHub (through the HTTP bridge). It receives a forged delivery, a
signed one whose job fails with GitHub echoing the installation token and two personal tokens
back, a malformed request line carrying the webhook secret, and a URL carrying a token in its
query. Then `blameless-bot web` is started with a broken environment holding the same secrets.
Standard output and standard error of both (the App's loggers, gunicorn's error and access logs,
anything Python prints itself) are searched for each secret as written, percent-encoded, escaped
by repr() and by JSON.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest

from app.server import cli
from app.server.settings import Settings, redis_passwords
from tests.fake_github import FakeGitHub
from tests.test_cli_app import BUNDLED, OWNER, REPO, Bridge, free_port, stop, wait_for
from tests.test_settings import SECRET, app_env, private_key_pem
from tests.test_webhook import sign
from tests.tool_availability import unavailable

REDIS_PASSWORD = "p@ss:w/rd%Redis-9q"  # every character that percent-encoding changes
PERSONAL_TOKEN = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
CLASSIC_TOKEN = "ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8"
OAUTH_TOKEN = "gho_" + "z9Y8x7W6v5" * 3 + "U4t3S2"


def forms(secret: str) -> set[str]:
    """What a secret looks like as written, in a URL, in a repr() and in a JSON string."""
    found = {secret, quote(secret, safe=""), quote_plus(secret), repr(secret)[1:-1]}
    return found | {json.dumps(form)[1:-1] for form in found}


def secrets(tokens: list[str]) -> list[str]:
    pem = private_key_pem()
    key_lines = [line for line in pem.splitlines() if "-----" not in line and len(line) >= 16]
    encoded_password = quote(REDIS_PASSWORD, safe="")
    return [SECRET, pem, *key_lines, REDIS_PASSWORD, encoded_password, *tokens]


@pytest.fixture
def redis_with_password(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--requirepass", REDIS_PASSWORD, "--dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.2).close() or True)
        yield f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def github():
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO)
    return fake


def echo_the_token_back(github: FakeGitHub):
    """GitHub's error names the token it was sent (and two more): the job fails with them in hand."""

    def hook(call) -> None:
        token = call.headers.get("authorization", "").split()[-1]
        message = f"Bad credentials {token}; also revoked {PERSONAL_TOKEN}, {CLASSIC_TOKEN}, {OAUTH_TOKEN}"
        github.fail_next(422, method="GET", path="/contents/", message=message)

    github.before("GET", "/contents/", hook)


def environment(tmp_path: Path, bridge: Bridge, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "BLAMELESS_", "REDIS_"))}
    env.update(
        app_env(
            tmp_path,
            GITHUB_API_URL=bridge.url,
            REDIS_URL=redis_url,
            BLAMELESS_RETRIES="0",
            LOG_LEVEL="DEBUG",
        )
    )
    env["PORT"] = str(free_port())
    return env


def run(command: list[str], env: dict, out: Path, err: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app.server.cli", *command],
        env=env,
        stdout=out.open("w"),
        stderr=err.open("w"),
    )


def send_raw(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            sock.recv(4096)  # gunicorn answers 400 and closes


def test_no_secret_reaches_any_log_in_any_form(tmp_path, github, redis_with_password):
    echo_the_token_back(github)
    bridge = Bridge(github)
    env = environment(tmp_path, bridge, redis_with_password)
    base, port = f"http://127.0.0.1:{env['PORT']}", int(env["PORT"])
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    process = run(["serve", "--access-log"], env, out, err)
    try:
        assert wait_for(lambda: httpx.get(f"{base}/readyz").status_code == 200), err.read_text()
        body = BUNDLED.read_bytes()
        headers = {"X-GitHub-Event": "issues", "Content-Type": "application/json"}
        forged = httpx.post(
            f"{base}/webhook?access_token={CLASSIC_TOKEN}",
            content=body,
            headers={**headers, "X-GitHub-Delivery": "forged", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        )
        assert forged.status_code == 401
        signed = httpx.post(
            f"{base}/webhook",
            content=body,
            headers={**headers, "X-GitHub-Delivery": "signed", "X-Hub-Signature-256": sign(body)},
        )
        assert signed.json()["outcome"] == "queued"
        send_raw(port, f"GET /{SECRET} {PERSONAL_TOKEN}\r\n\r\n".encode())
        send_raw(port, f"GET / {SECRET}\r\n\r\n".encode())
        assert wait_for(lambda: "delivery failed" in err.read_text(), timeout=30), err.read_text()
    finally:
        stop(process)
        bridge.close()

    broken = {
        **env,
        "GITHUB_APP_ID": "not-a-number",
        "REDIS_URL": "http" + redis_with_password.removeprefix("redis"),
        "GITHUB_APP_PRIVATE_KEY": private_key_pem().replace("MII", "XII", 1),
    }
    failed = subprocess.run(
        [sys.executable, "-m", "app.server.cli", "web"],
        env=broken,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 2, failed.stderr

    written = out.read_text() + err.read_text() + failed.stdout + failed.stderr
    minted = [token for token in github.tokens if token.startswith("ghs_")]
    assert minted, "the job should have minted an installation token"
    # The scenario did produce the lines that could leak: each path was exercised.
    assert "Bad credentials [redacted]" in written  # the job's failure, with its traceback
    assert "Invalid request" in written  # gunicorn's error log
    assert "access_token=[redacted]" in written  # gunicorn's access log
    assert "REDIS_URL must start with" in written  # the settings errors
    for secret in secrets([*minted, PERSONAL_TOKEN, CLASSIC_TOKEN, OAUTH_TOKEN]):
        for form in forms(secret):
            assert form not in written, f"a secret reached the logs as {form[:12]}…"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_every_form_of_every_secret_is_redacted_by_the_formatter(tmp_path, log_format):
    """Secrets that JSON and repr() escape, a password in a URL, logged the ways code logs values:
    in the message, a URL, a repr'd argument, an `extra=` field and an exception's traceback."""
    webhook_secret = 'we"b\\hook-sécret\t7'
    redis_url = f"rediss://default:{quote(REDIS_PASSWORD, safe='')}@cache:6380/0"
    env = app_env(tmp_path, GITHUB_WEBHOOK_SECRET=webhook_secret, REDIS_URL=redis_url, LOG_FORMAT=log_format)
    settings = Settings.from_env(env)
    inner = cli.JsonFormatter() if log_format == "json" else cli.TextFormatter()
    formatter = cli.Redacting(inner, settings.secrets())
    tokens = [PERSONAL_TOKEN, CLASSIC_TOKEN, OAUTH_TOKEN, "ghs_" + "k" * 36, "ghu_" + "u" * 36]
    for secret in [webhook_secret, redis_url, *secrets(tokens)[1:]]:
        try:
            raise RuntimeError(f"failed with {secret}")
        except RuntimeError:
            failure = sys.exc_info()
        url = f"https://example.com/?k={quote(secret, safe='')}"
        record = logging.LogRecord("app", logging.ERROR, "", 0, "%s %s %r", (secret, url, [secret]), failure)
        record.detail = secret
        line = formatter.format(record)
        assert "[redacted]" in line
        for form in forms(secret):
            assert form not in line, (secret[:8], form[:8])


def test_redis_passwords_are_read_as_redis_reads_them():
    assert redis_passwords("redis://user:p%40ss%3Aw@h:6379/0") == ["p@ss:w", "p%40ss%3Aw"]
    assert redis_passwords("unix:///run/redis.sock?db=1&password=s3cret!") == ["s3cret!", "s3cret%21"]
    assert redis_passwords("redis://h:6379/0") == []
