"""A real redis-server for the Redis queue path (a pytest plugin).

Fixtures:

- ``redis_server`` (session): the running :class:`RedisServer` (``url``, ``port``,
  ``workdir``, ``startup_seconds``, ``flush()``).
- ``redis_url`` (session): ``redis://127.0.0.1:PORT/0`` of a ``redis-server`` started
  on a free port in a temporary directory, with persistence off (``--save ""
  --appendonly no``), stopped at the end of the session.
- ``redis_clean_url`` (function): the same URL after ``FLUSHALL``, for tests that need
  an empty database.

Without a ``redis-server`` binary (Debian package ``redis-server``; ``.ci/setup``
installs it) the tests that use these fixtures fail when ``CI=true`` and are skipped
otherwise. Tests that use them get the ``redis`` marker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tool_availability import unavailable

STARTUP_TIMEOUT = 20.0


@dataclass
class RedisServer:
    url: str
    port: int
    workdir: Path
    process: subprocess.Popen
    startup_seconds: float

    def ping(self, timeout: float = 1.0) -> bool:
        return _command(self.port, b"PING", timeout) == b"+PONG"

    def flush(self) -> None:
        reply = _command(self.port, b"FLUSHALL", 5.0)
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL answered {reply!r}")

    def log_tail(self, lines: int = 30) -> str:
        log = self.workdir / "redis.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text("utf-8", "replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _command(port: int, command: bytes, timeout: float) -> bytes | None:
    """One inline command over RESP, first reply line; None when unreachable."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(command + b"\r\n")
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = sock.recv(1024)
                if not chunk:
                    break
                data += chunk
            return data.strip()
    except OSError:
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.exists(p)),
        None,
    )


def start_redis(workdir: Path, *, attempts: int = 3) -> RedisServer:
    binary = redis_server_binary()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    last = ""
    for _ in range(attempts):
        port = _free_port()
        started = time.monotonic()
        process = subprocess.Popen(
            [
                binary,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(workdir),
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "yes",
                "--daemonize", "no",
                "--logfile", str(workdir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        server = RedisServer(f"redis://127.0.0.1:{port}/0", port, workdir, process, 0.0)
        while time.monotonic() - started < STARTUP_TIMEOUT:
            if process.poll() is not None:
                break
            if server.ping(timeout=0.5):
                server.startup_seconds = time.monotonic() - started
                return server
            time.sleep(0.05)
        last = server.log_tail()
        server.stop()
    raise RuntimeError(f"redis-server did not start after {attempts} attempts:\n{last}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "redis_url" in names or "redis_server" in names or "redis_clean_url" in names:
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        unavailable("redis-server is not installed (Debian package redis-server)")
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_clean_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url
