"""Webhook memory under unsigned floods: the web process's peak RSS while large bodies arrive.

Run: python bench/webhook_memory.py [--requests 8] [--megabytes 25] [--source DIR]
Starts the real web server (`blameless-bot web`, one process, gunicorn threads), records its
worker's resident memory, then sends `--requests` unsigned POSTs at once, each with a body of
`--megabytes` MB streamed from this process, and reads the worker's peak RSS (VmHWM). Run twice:
once just under GitHub's 25 MB cap (the body is read, hashed and spooled to disk) and once over
it (refused on Content-Length before a byte is read). `--source` runs the server from another
checkout, to compare two versions.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ack_latency import environment  # noqa: E402

CHUNK = b"x" * (1024 * 1024)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kilobytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def wait_until_serving(port: int) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the web server did not start")


def post_unsigned(port: int, megabytes: int, statuses: list) -> None:
    """A POST whose body is streamed a megabyte at a time; the answer may come before the end."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.putrequest("POST", "/webhook")
        for name, value in {
            "Content-Type": "application/json",
            "Content-Length": str(megabytes * 1000 * 1000),
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": "flood",
            "X-Hub-Signature-256": "sha256=" + "0" * 64,
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        sent = 0
        while sent < megabytes * 1000 * 1000:
            piece = CHUNK[: megabytes * 1000 * 1000 - sent]
            connection.send(piece)
            sent += len(piece)
        statuses.append(connection.getresponse().status)
    except OSError:
        statuses.append("refused mid-body")  # the server answered and closed before the end
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--megabytes", type=int, default=25)
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout the server runs from")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, **environment(data_dir, None), "LOG_LEVEL": "WARNING"}
        env["PYTHONPATH"] = str(args.source)
        command = [sys.executable, "-m", "app.server.cli", "web", "--processes", "1"]
        command += ["--threads", str(args.requests), "--bind", f"127.0.0.1:{port}"]
        server = subprocess.Popen(command, env=env, cwd=args.source, stderr=subprocess.DEVNULL)
        try:
            wait_until_serving(port)
            worker = worker_pid(server.pid)
            time.sleep(1.0)
            before = kilobytes(worker, "VmRSS")
            statuses: list = []
            threads = [
                threading.Thread(target=post_unsigned, args=(port, args.megabytes, statuses))
                for _ in range(args.requests)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            peak = kilobytes(worker, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"{args.requests} unsigned requests of {args.megabytes} MB at once: worker RSS "
        f"{before / 1024:.0f} MB before, peak {peak / 1024:.0f} MB; answers {sorted(map(str, statuses))}"
    )


if __name__ == "__main__":
    main()
