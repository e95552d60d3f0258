"""Webhook acknowledgement latency: signed delivery in, 202 out, with the real durable queue.

Run: python bench/ack_latency.py [--deliveries 1000] [--redis redis://127.0.0.1:6379/0]
GitHub drops a delivery not answered within 10 s; the endpoint only verifies, decides and enqueues,
so its latency is the queue write. Deliveries go through Flask's test client (no network) to a
SQLite queue in a temporary directory, or to Redis with --redis. No worker runs, so the figures are
the web path alone.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.jobs.routes import ROUTER
from app.server.queue import DeliveryQueue
from app.server.settings import Settings
from app.server.webhook import create_app

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"


def environment(data_dir: str, redis_url: str | None) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    env = {
        "GITHUB_APP_ID": "1",
        "GITHUB_APP_PRIVATE_KEY": pem,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_SLUG": "blameless-bot",
        "BLAMELESS_DATA_DIR": data_dir,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--redis", help="a Redis URL; default is the SQLite queue")
    args = parser.parse_args()
    payload = json.loads((ROOT / "app/server/data/incident-labeled.json").read_text("utf-8"))
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings.from_env(environment(data_dir, args.redis))
        queue = DeliveryQueue(settings, router=ROUTER)
        client = create_app(settings, queue=queue, router=ROUTER).test_client()
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        timings = []
        for number in range(args.deliveries):
            headers = {
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": f"bench-{number}",
                "X-Hub-Signature-256": signature,
                "Content-Type": "application/json",
            }
            start = time.perf_counter()
            response = client.post("/webhook", data=body, headers=headers)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 202, response.get_data(as_text=True)
    backend = "redis" if args.redis else "sqlite"
    print(
        f"{backend}: {args.deliveries} deliveries, p50 {statistics.median(timings):.2f} ms, "
        f"p95 {percentile(timings, 0.95):.2f} ms, p99 {percentile(timings, 0.99):.2f} ms, "
        f"max {max(timings):.1f} ms"
    )


if __name__ == "__main__":
    main()
