"""The CLI's speed targets, measured end to end as a user runs it, and side by side with other prose linters.

Run: python bench/targets.py [--runs 3] [--tools DIR]

Every case runs `python -m checks.cli check …` in a fresh interpreter (start-up, imports, rule data,
reading, checking, printing) and reports the best of `--runs` wall-clock times, timed around that
command alone, and the peak memory of the process tree. Bytecode is cached as in a user's install
(PYTHONDONTWRITEBYTECODE is dropped from the environment; a warm-up run writes the caches).
The documents are the bundled example postmortems (real prose, good and blameful), put together:

| case | target |
|---|---|
| one small file (the good example, 2.9 KB) | ≤ 150 ms |
| 1 MB, one file (the three examples repeated) | ≤ 1.0 s |
| 10 MB, one file | ≤ 10 × the 1 MB time |
| 1,000 files of ~7 KB (each: the three examples and half the good one again), `--jobs 2` | ≤ 4 s |

These cases check every file (`--no-cache`). A re-run is then measured as a user repeats one:
the small file and the 1,000 files (`--jobs 2`) unchanged, and the 1,000 files with 10 of them
edited before each run, where only the edited files are checked and the rest come from the
results cache.

`--tools DIR` also runs proselint (DIR/venv/bin/proselint) and alex and write-good
(DIR/node/node_modules/.bin/) on the same files, each as its own CLI; a tool that is missing is
reported as such. They check different things (general style, insensitive words, weak writing), so
the comparison is of cost per document, not of findings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "postmortems"
GOOD = (EXAMPLES / "2026-03-14-checkout-latency.md").read_text("utf-8")
ALL = "\n".join(p.read_text("utf-8") for p in sorted(EXAMPLES.glob("*.md")))
SEVEN_KB = ALL + "\n" + GOOD[: len(GOOD) // 2]


def repeated(text: str, size: int) -> str:
    return (text + "\n") * (size // (len(text) + 1) + 1)


# Runs the command and prints its wall-clock seconds, the CPU seconds and peak RSS of its whole
# process tree: on a shared machine wall-clock time also counts the other tenants' work, CPU time
# does not. The clock runs inside this wrapper, around the command alone, so the wrapper's own
# interpreter start-up is not counted against the CLI.
USAGE = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "wall = time.perf_counter() - started\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(wall, u.ru_utime + u.ru_stime, u.ru_maxrss, done.returncode)\n"
)


def run(
    command: list[str], runs: int, env: dict[str, str], before: Callable[[int], None] | None = None
) -> tuple[float, float, float, int]:
    """(best wall seconds, best CPU seconds, peak RSS in MB of the largest process, exit code).
    `before(n)`, when given, runs untimed before the n-th run."""
    wall, cpu, peak, code = float("inf"), float("inf"), 0.0, 0
    for number in range(runs):
        if before is not None:
            before(number)
        done = subprocess.run(
            [sys.executable, "-c", USAGE, *command], env=env, cwd=ROOT, capture_output=True, text=True
        )
        elapsed, seconds, rss, code = done.stdout.split()
        wall = min(wall, float(elapsed))
        cpu = min(cpu, float(seconds))
        peak = max(peak, int(rss) / 1024)
    return wall, cpu, peak, int(code)


def blameless(*args: str, cache: bool = False) -> list[str]:
    """The CLI's command line; without `cache`, every file is checked (`--no-cache`)."""
    command = [sys.executable, "-m", "checks.cli", "check", "--format", "json", "--fail-on", "never", *args]
    return command if cache else [*command, "--no-cache"]


def edit_files(files: list[Path]) -> Callable[[int], None]:
    """Before the n-th run: a new line at the end of each of `files`, as an edit would add."""

    def edit(number: int) -> None:
        for path in files:
            with path.open("a", encoding="utf-8") as file:
                file.write(f"\nEdited before run {number}.\n")

    return edit


EXIT_IS_A_COUNT = {"write-good"}  # exits with the number of suggestions, not 0 or 1


def competitors(tools: Path | None) -> dict[str, list[str] | None]:
    if tools is None:
        return {}
    found = {
        "proselint": tools / "venv" / "bin" / "proselint",  # `proselint check PATHS` (0.16)
        "alex": tools / "node" / "node_modules" / ".bin" / "alex",
        "write-good": tools / "node" / "node_modules" / ".bin" / "write-good",
    }
    subcommand = {"proselint": ["check"]}
    return {
        name: [str(path), *subcommand.get(name, [])] if path.exists() else None
        for name, path in found.items()
    }


# How fast this machine runs plain Python: the same figures differ two- or threefold between the
# machines a benchmark lands on, so each run prints this yardstick beside them.
YARDSTICK = (
    "import time\n"
    "started = time.process_time()\n"
    "total = 0\n"
    "for n in range(10_000_000):\n"
    "    total += n\n"
    "print(time.process_time() - started)\n"
)


def yardstick(runs: int) -> float:
    """CPU seconds of ten million Python additions in a loop, best of `runs` fresh interpreters."""
    return min(
        float(subprocess.run([sys.executable, "-c", YARDSTICK], capture_output=True, text=True).stdout)
        for _ in range(runs)
    )


def report(label: str, wall: float, cpu: float, peak: float, target: str = "", code: int = 0) -> None:
    if code not in (0, 1):  # 1: findings; anything else: the tool failed, and its time means nothing
        target = f"exit {code}!"
    print(
        f"{label:48} wall {wall:7.3f} s  cpu {cpu:7.3f} s  {target:>11}  peak RSS {peak:4.0f} MB", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tools", type=Path, help="folder with proselint, alex and write-good installed")
    parser.add_argument("--skip-10mb", action="store_true", help="leave out the 10 MB case (minutes today)")
    args = parser.parse_args()
    # As a user runs it: bytecode cached after the first run (the warm-up below writes it), so the
    # variables that turn the cache off (set in some CI and container images) are dropped.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"yardstick: 10 million additions in a Python loop take {yardstick(args.runs):.2f} s of CPU here\n")

    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        # The package's parsed rule data is cached, as after a user's first run; findings are
        # cached only in the cases that say so.
        env["BLAMELESS_CACHE_DIR"] = str(scratch / "cache")
        env.pop("BLAMELESS_NO_CACHE", None)
        subprocess.run(blameless(str(EXAMPLES)), env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        small = EXAMPLES / "2026-03-14-checkout-latency.md"
        one_mb, ten_mb = scratch / "one-mb.md", scratch / "ten-mb.md"
        one_mb.write_text(repeated(ALL, 1_000_000), "utf-8")
        ten_mb.write_text(repeated(ALL, 10_000_000), "utf-8")
        many = scratch / "many"
        many.mkdir()
        for index in range(1000):
            (many / f"2026-{index:04d}.md").write_text(SEVEN_KB, "utf-8")

        cases = [
            ("one small file (2.9 KB)", [str(small)], "≤ 0.150 s"),
            ("1 MB, one file", [str(one_mb)], "≤ 1.0 s"),
            (f"1,000 files of {len(SEVEN_KB) / 1000:.1f} KB, --jobs 2", [str(many), "--jobs", "2"], "≤ 4 s"),
            ("1,000 files, --jobs 1", [str(many), "--jobs", "1"], ""),
            ("10 MB, one file", [str(ten_mb)], "≤ 10× 1 MB"),
        ]
        times = {}
        for label, arguments, target in cases:
            if "10 MB" in label and args.skip_10mb:
                continue
            wall, cpu, peak, code = run(blameless(*arguments), 1 if "10 MB" in label else args.runs, env)
            times[label] = (wall, cpu)
            report(f"blameless: {label}", wall, cpu, peak, target, code)
        # A re-run: the findings of files unchanged since the last run come from the results cache.
        tenth = sorted(many.iterdir())[::100]
        rerun = [
            ("one small file, unchanged", [str(small)], "≤ 0.150 s", None),
            ("1,000 files, unchanged", [str(many), "--jobs", "2"], "≤ 4 s", None),
            ("1,000 files, 10 edited", [str(many), "--jobs", "2"], "≤ 4 s", edit_files(tenth)),
        ]
        print()
        for label, arguments, target, before in rerun:
            subprocess.run(blameless(*arguments, cache=True), env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            wall, cpu, peak, code = run(blameless(*arguments, cache=True), args.runs, env, before)
            report(f"blameless re-run: {label}", wall, cpu, peak, target, code)
        if "10 MB, one file" in times:
            ten, one = times["10 MB, one file"], times["1 MB, one file"]
            print(f"\n10 MB / 1 MB: wall {ten[0] / one[0]:.1f}×, cpu {ten[1] / one[1]:.1f}×")
        print()

        for tool, command in competitors(args.tools).items():
            if command is None:
                print(f"{tool}: not installed under {args.tools}")
                continue
            for label, arguments in (
                ("one small file", [str(small)]),
                ("1 MB, one file", [str(one_mb)]),
                ("1,000 files", sorted(str(p) for p in many.iterdir())),
            ):
                wall, cpu, peak, code = run(command + arguments, 1, env)
                if tool in EXIT_IS_A_COUNT:
                    code = min(code, 1)
                report(f"{tool}: {label}", wall, cpu, peak, "", code)


if __name__ == "__main__":
    main()
