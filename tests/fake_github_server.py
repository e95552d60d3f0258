"""The shared fake GitHub served over HTTP as a process of its own, with trouble on demand.

`python -m tests.fake_github_server` serves `FakeGitHub` (and the App's token endpoint, as
`tests.test_worker.FakeApp` does) on 127.0.0.1 and prints `listening on PORT` once ready. The App's
web and worker processes point GITHUB_API_URL at it; the test drives and inspects it through
`FakeGitHubProcess`, over a small control API under `/_fake/`:

- `POST /_fake/call` `{"method": "add_repo", "args": [...], "kwargs": {...}}` calls a seeding
  method of FakeGitHub (see SEEDING) and answers its result.
- `GET /_fake/state?repo=owner/name`: the repository's issues, comments and check runs.
- `POST /_fake/faults` `{"p502": 0.15, "prate": 0.05, "retry_after": 1, "seed": 1}`: that share
  of API requests answers 502 (a third of the writes among them only after taking effect, as when
  GitHub did the work but the answer was lost) or 403 secondary rate limit with `retry-after`.
- `POST /_fake/hold` `{"method": "POST", "path": "regex", "skip": 0}`: the first matching request
  after `skip` of them stops and waits (so the test can kill the worker at that exact point);
  `GET /_fake/held` says how many wait; `POST /_fake/release` lets them go, answered 502 without
  effect.

App JWTs are checked against `FAKE_APP_PRIVATE_KEY` (PEM) from the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.fake_github import SECONDARY_LIMIT_MESSAGE, FakeGitHub

SEEDING = frozenset(
    {"add_repo", "add_issue", "add_pull", "add_review", "merge", "push", "add_hook_delivery", "advance"}
)
ROOT = Path(__file__).resolve().parent.parent


class Trouble:
    """Random 502s and secondary rate limits, and requests held at a chosen point."""

    def __init__(self):
        self.p502 = 0.0
        self.prate = 0.0
        self.retry_after = 1
        self.rng = random.Random(0)
        self.lock = threading.Lock()
        self.holds: list[dict] = []
        self.held = 0
        self.release = threading.Event()
        self.injected = {"502": 0, "rate": 0}

    def configure(self, body: dict) -> None:
        with self.lock:
            self.p502 = float(body.get("p502", self.p502))
            self.prate = float(body.get("prate", self.prate))
            self.retry_after = int(body.get("retry_after", self.retry_after))
            if "seed" in body:
                self.rng = random.Random(body["seed"])

    def roll(self, method: str) -> tuple[str | None, bool]:
        """The fault for this request (None, "502" or "rate") and whether it takes effect first."""
        with self.lock:
            draw = self.rng.random()
            if draw < self.prate:
                self.injected["rate"] += 1
                return "rate", False
            if draw < self.prate + self.p502:
                self.injected["502"] += 1
                return "502", method != "GET" and self.rng.random() < 1 / 3
            return None, False

    def should_hold(self, method: str, path: str) -> bool:
        with self.lock:
            for hold in self.holds:
                if hold["method"] == method and re.search(hold["path"], path):
                    if hold["skip"] > 0:
                        hold["skip"] -= 1
                        return False
                    self.holds.remove(hold)
                    self.held += 1
                    return True
        return False


def serve(port: int, installations: dict) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    import tests.test_worker as worker_tests

    key = os.environ["FAKE_APP_PRIVATE_KEY"]
    worker_tests.private_key_pem = lambda: key  # FakeApp checks JWTs against this key's pair
    github = FakeGitHub()
    github.app_public_key = load_pem_private_key(key.encode(), None).public_key()
    transport = worker_tests.FakeApp(github, issuer=os.environ.get("FAKE_APP_ISSUER", "12345"),
                                     installations=installations).transport  # fmt: skip
    trouble = Trouble()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body, headers: dict | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
            # The fake's own Date header (its clock), not the HTTP server's: leases read it.
            self.send_response_only(status)
            for name, value in (headers or {}).items():
                if name.lower() not in ("content-length", "transfer-encoding", "content-encoding"):
                    self.send_header(name, value)
            if not any(k.lower() == "content-type" for k in headers or {}):
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _control(self, path: str, body: bytes) -> None:
            data = json.loads(body or b"{}")
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if path == "/_fake/call" and data.get("method") in SEEDING:
                result = getattr(github, data["method"])(*data.get("args", []), **data.get("kwargs", {}))
                self._reply(200, {"result": result if not hasattr(result, "full_name") else None})
            elif path == "/_fake/state":
                self._reply(200, state_of(github, query["repo"], trouble))
            elif path == "/_fake/faults":
                trouble.configure(data)
                self._reply(200, {})
            elif path == "/_fake/hold":
                with trouble.lock:
                    trouble.release.clear()
                    trouble.holds.append(
                        {"method": data["method"], "path": data["path"], "skip": data.get("skip", 0)}
                    )
                self._reply(200, {})
            elif path == "/_fake/held":
                self._reply(200, {"held": trouble.held})
            elif path == "/_fake/release":
                trouble.release.set()
                self._reply(200, {})
            else:
                self._reply(404, {"message": "no such control"})

        def _forward(self) -> None:
            body = self._body()
            path = urlsplit(self.path).path
            if path.startswith("/_fake/"):
                self._control(path, body)
                return
            if trouble.should_hold(self.command, path):
                trouble.release.wait()
                self._reply(502, {"message": "Server Error"})
                return
            fault, after_effect = (
                trouble.roll(self.command) if not path.startswith("/app/") else (None, False)
            )
            if fault == "rate":
                headers = {"retry-after": str(trouble.retry_after)}
                self._reply(403, {"message": SECONDARY_LIMIT_MESSAGE}, headers)
                return
            if fault == "502" and not after_effect:
                self._reply(502, {"message": "Server Error"})
                return
            request = httpx.Request(
                self.command,
                github.base_url + self.path,
                headers=[(k, v) for k, v in self.headers.items() if k.lower() != "host"],
                content=body,
            )
            try:
                response = transport.handle_request(request)
                response.read()
                status, headers, content = response.status_code, dict(response.headers), response.content
            except httpx.TimeoutException:
                status, headers, content = 504, {}, b""
            if fault == "502":
                status, headers, content = 502, {}, b'{"message": "Server Error"}'
            self._reply(status, content, headers)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


def state_of(github: FakeGitHub, full_name: str, trouble: Trouble) -> dict:
    owner, name = full_name.split("/")
    with github._lock:
        repo = github.repo(owner, name)
        return {
            "issues": [
                {k: v for k, v in i.items() if not k.startswith("_")} | {"pull": "pull_request" in i}
                for i in repo.issues.values()
            ],
            "comments": [{**c} for c in repo.comments.values()],
            "check_runs": [
                {k: v for k, v in r.items() if k != "output"} | {"title": r["output"].get("title")}
                for r in repo.check_runs.values()
            ],
            "sub_issues": {str(k): v for k, v in repo.sub_issues.items()},
            "calls": len(github.calls),
            "injected": dict(trouble.injected),
        }


class FakeGitHubProcess:
    """The test's handle on a fake GitHub process: start, seed, inspect, make trouble, stop."""

    def __init__(self, private_key: str, installations: dict[int, str], log: Path):
        env = {**os.environ, "FAKE_APP_PRIVATE_KEY": private_key, "PYTHONPATH": str(ROOT)}
        spec = ",".join(f"{k}:{v}" for k, v in installations.items())
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_github_server", "--installations", spec],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"the fake GitHub did not start: {line!r} {log.read_text()}")
        self.url = f"http://127.0.0.1:{line.split()[-1]}"
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def call(self, method: str, *args, **kwargs):
        response = self.http.post("/_fake/call", json={"method": method, "args": args, "kwargs": kwargs})
        response.raise_for_status()
        return response.json()["result"]

    def state(self, repo: str) -> dict:
        return self.http.get("/_fake/state", params={"repo": repo}).json()

    def faults(self, **settings) -> None:
        self.http.post("/_fake/faults", json=settings).raise_for_status()

    def hold(self, method: str, path: str, skip: int = 0) -> None:
        self.http.post("/_fake/hold", json={"method": method, "path": path, "skip": skip}).raise_for_status()

    def held(self) -> int:
        return self.http.get("/_fake/held").json()["held"]

    def release(self) -> None:
        self.http.post("/_fake/release").raise_for_status()

    def stop(self) -> None:
        self.http.close()
        self.process.kill()
        self.process.wait(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--installations", default="7:octo", help="id:account,... the App is installed on")
    args = parser.parse_args(argv)
    installations = {}
    for item in filter(None, args.installations.split(",")):
        number, account = item.split(":")
        installations[int(number)] = (account, None)
    serve(args.port, installations)


if __name__ == "__main__":
    main()
