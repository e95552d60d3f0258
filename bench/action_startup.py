"""Start-up time of the Action's entry point, and what installing it costs on a fresh runner.

Run: python bench/action_startup.py [--runs 15] [--importtime] [--install]

Each case starts a new interpreter, as the runner does for a step, and is timed `--runs` times
(median, min, max in ms), hyperfine style:

- `python -c pass`: the interpreter alone (the floor);
- `python -m action --help`: the entry point and the checks engine imported, nothing run;
- check step, no token: a real `check` of examples/postmortems in a simulated runner
  environment (annotations, job summary, outputs), without githubkit;
- write-job imports: what jobs 1 and 3 load before their first request (githubkit included).

`--importtime` prints the slowest imports of the entry point (`python -X importtime`).
`--install` times what action.yml's install step does on a runner with an empty pip cache: a
fresh venv and `pip install -r action/requirements.txt --no-cache-dir` (needs the package index).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRITE_JOB_IMPORTS = (
    "import action.main, app.github.client, app.jobs.open_postmortem.issue, app.jobs.action_items"
)


def timed(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return times


def runner_environment(scratch: Path) -> dict[str, str]:
    """A push event's step environment, checking the bundled examples without a token."""
    event = scratch / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}), "utf-8")
    for name in ("output", "summary"):
        (scratch / name).write_text("", "utf-8")
    return {
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_OUTPUT": str(scratch / "output"),
        "GITHUB_STEP_SUMMARY": str(scratch / "summary"),
        "GITHUB_WORKSPACE": str(ROOT),
        "GITHUB_REPOSITORY": "blameless-bot/blameless-bot",
        "INPUT_PATHS": "examples/postmortems",
        "INPUT_FAIL_ON": "never",
        "INPUT_TOKEN": "",
    }


def report(label: str, times: list[float]) -> None:
    print(
        f"{label:34} median {statistics.median(times):7.1f} ms   "
        f"min {min(times):7.1f}   max {max(times):7.1f}   (n={len(times)})"
    )


def slowest_imports(env: dict[str, str], count: int = 12) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "action", "--help"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    print("\nslowest imports of `python -m action --help` (cumulative µs):")
    for cumulative, name in sorted(rows, reverse=True)[:count]:
        print(f"  {cumulative:8d}  {name}")


def install_time() -> None:
    requirements = ROOT / "action" / "requirements.txt"
    with tempfile.TemporaryDirectory() as scratch:
        venv = Path(scratch) / "venv"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        made = time.perf_counter()
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                *("-m", "pip", "install", "--quiet", "--no-cache-dir"),
                *("--disable-pip-version-check", "--requirement", str(requirements)),
            ],
            check=True,
        )
        end = time.perf_counter()
        size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 1e6
    print(
        f"\ninstall (fresh venv, cold pip cache): venv {made - start:.1f} s + "
        f"pip {end - made:.1f} s = {end - start:.1f} s, {size:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime", action="store_true", help="list the slowest imports")
    parser.add_argument("--install", action="store_true", help="time the install step too")
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "0"}
    python = sys.executable
    # One warm-up so every case reads compiled bytecode, as the second run on a runner would;
    # a runner's first run also compiles, which the `--install` figure dwarfs.
    subprocess.run([python, "-m", "action", "--help"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    subprocess.run([python, "-c", WRITE_JOB_IMPORTS], env=env, cwd=ROOT, check=True)
    print(f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs\n")
    report("python -c pass", timed([python, "-c", "pass"], env, args.runs))
    report("python -m action --help", timed([python, "-m", "action", "--help"], env, args.runs))
    with tempfile.TemporaryDirectory() as scratch:
        step_env = {**env, **runner_environment(Path(scratch))}
        report("check step, no token (3 docs)", timed([python, "-m", "action"], step_env, args.runs))
    report("write-job imports (githubkit)", timed([python, "-c", WRITE_JOB_IMPORTS], env, args.runs))
    if args.importtime:
        slowest_imports(env)
    if args.install:
        install_time()


if __name__ == "__main__":
    main()
