"""Throughput of the checks engine (MB/s) and how it scales from 1 KB to 10 MB documents.

Run: python bench/throughput.py [--max-mb 10] [--repeat 3]
Documents are built from the bundled examples: the good example's sections, with the timeline,
contributing factors and action items grown to the target size, plus blameful sentences mixed in
so that every rule family has work to do. The best of `--repeat` runs is reported.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from pathlib import Path

from checks.engine import check_text

ROOT = Path(__file__).resolve().parent.parent
GOOD = (ROOT / "examples/postmortems/2026-03-14-checkout-latency.md").read_text("utf-8")
SIZES_KB = [1, 10, 100, 1_000, 10_000]


def document(size: int) -> str:
    """A postmortem of about `size` bytes whose timeline, factors and items grow with it."""
    head, _, _ = GOOD.partition("## Timeline")
    parts = [head, "## Timeline\n\nAll times UTC.\n\n"]
    factors, items = [], []
    minute = 0
    while sum(map(len, parts)) + sum(map(len, factors)) + sum(map(len, items)) < size:
        hour, mins = divmod(minute, 60)
        parts.append(
            f"- {hour % 24:02d}:{mins:02d} The checkout service retried a request; Dave was careless here.\n"
        )
        factors.append(f"- CF-{minute}: The retry budget had no limit, so load grew with every failure.\n")
        items.append(
            f"| AI-{minute} | Cap retries at three per request | guardrail | @octo-lead | 2026-05-01 |\n"
        )
        minute += 1
    body = "".join(parts)
    factor_text = "\n## Contributing factors\n\n" + "".join(factors)
    item_text = (
        "\n## Action items\n\n| ID | Action | Type | Owner | Due |\n|---|---|---|---|---|\n" + "".join(items)
    )
    return (body + factor_text + item_text)[: max(size, 200)]


def measure(text: str, repeat: int) -> tuple[float, int]:
    best = float("inf")
    findings = 0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = check_text(text, "bench.md")
        best = min(best, time.perf_counter() - start)
        findings = len(result.findings)
    return best, findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-mb", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'size':>9} {'seconds':>9} {'MB/s':>7} {'findings':>9} {'peak RSS MB':>12}")
    for kb in SIZES_KB:
        if kb > args.max_mb * 1000:
            break
        text = document(kb * 1000)
        seconds, findings = measure(text, args.repeat if kb < 10_000 else 1)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{kb:>7}KB {seconds:>9.3f} {len(text) / 1e6 / seconds:>7.2f} {findings:>9} {rss:>12.0f}")


if __name__ == "__main__":
    main()
