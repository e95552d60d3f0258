"""Hostile documents: inputs that once made the engine quadratic or cubic, timed at two sizes.

Run: python bench/hostile_inputs.py
Each shape is checked end to end (`check_text`) at a size and at twice that size, best of three;
linear work takes about twice as long at the double size. The sizes are the ones that used to
stall: 20,000 headings took 32 s, 400,000 backticks 7 s, an action item with 1,600 spaces in it
37 s. A 1 MB postmortem built from the examples is timed last.
"""

from __future__ import annotations

import time
from pathlib import Path

from checks.engine import check_text

ROOT = Path(__file__).resolve().parent.parent

SHAPES = {
    "headings": (lambda n: "".join(f"## Heading {i}\n\nSome text {i}.\n\n" for i in range(n)), 10_000),
    "backticks": (lambda n: "## Summary\n\n" + "`" * n + "\n", 200_000),
    "spaces in an item": (lambda n: "## Action items\n\n- Fix" + " " * n + "x\n", 800),
    "masked code in an item": (lambda n: "## Action items\n\n- Fix `" + "a" * n + "` by\n", 800),
}


def best_of_three(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        check_text(text, "hostile.md")
        best = min(best, time.perf_counter() - started)
    return best


def realistic(size: int) -> str:
    parts = [p.read_text("utf-8") for p in sorted((ROOT / "examples/postmortems").glob("*.md"))]
    unit = "\n\n".join([*parts, (ROOT / "tests/data/sre-book-style.md").read_text("utf-8")]) + "\n\n"
    return unit * (size // len(unit) + 1)


def main() -> None:
    for name, (make, size) in SHAPES.items():
        small, large = best_of_three(make(size)), best_of_three(make(2 * size))
        print(f"{name:24} {size:>8,}: {small:7.3f} s   {2 * size:>8,}: {large:7.3f} s   x{large / small:.1f}")
    for size in (500_000, 1_000_000):
        print(f"{'examples, ' + format(size, ',') + ' bytes':42} {best_of_three(realistic(size)):7.2f} s")


if __name__ == "__main__":
    main()
