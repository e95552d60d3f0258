"""What installing Blameless Bot costs: the hook's environment, and the Action's install step.

Run: python bench/install.py [--runs 3]   (needs the package index; results vary with the network)

- Hook environment: a fresh venv with `pip install <project wheel>` as pre-commit makes it, for the
  default install (engine + CLI) and for the default plus the `[app,action]` extras (what every
  install pulled before the dependencies were split by role). Size of the venv on disk and time.
- The Action's install step, as action.yml runs it: a venv without pip, then the setup Python's
  pip installing action/requirements.txt into it (`--require-hashes --only-binary :all:
  --no-deps`), timed three ways:
  - cold: nothing cached, every wheel downloaded from the index (`--no-cache-dir`);
  - warm wheels: the same wheels already on disk (`pip download` beforehand, then `--no-index
    --find-links`), i.e. the install minus the network;
  - cached: what a cache hit costs instead: unpacking the venv (about 7,700 files) from a tar
    archive with tar(1), as actions/cache restores it (the archive's download from GitHub's cache
    is not simulated), and the first `python -m action --help` from it.
  and, for comparison, the step as it was (a venv with pip, `pip install -r` of the unlocked
  requirements, no cache).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "action" / "requirements.txt"
UNLOCKED = ROOT / "action" / "requirements.in"
PIP = (sys.executable, "-m", "pip")
QUIET = ("--quiet", "--disable-pip-version-check", "--no-input")


def run(*command: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(c) for c in command], check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(action) -> tuple[float, float]:
    """(wall, CPU) seconds: on a shared machine the wall clock also counts other people's work,
    the CPU time (this process and the ones it waited for) does not; network waits count in
    neither the CPU time nor, fairly, anyone's control."""
    started, cpu = time.perf_counter(), cpu_seconds()
    action()
    return time.perf_counter() - started, cpu_seconds() - cpu


def hook_environment(scratch: Path, wheel: Path, extras: str) -> tuple[float, float]:
    venv = scratch / f"hook{extras or '-default'}"
    shutil.rmtree(venv, ignore_errors=True)

    def install() -> None:
        run(sys.executable, "-m", "venv", venv)
        run(venv_python(venv), "-m", "pip", "install", *QUIET, "--no-cache-dir", f"{wheel}{extras}")

    wall, _cpu = timed(install)
    return wall, size_mb(venv), packages_mb(venv)


def packages_mb(venv: Path) -> float:
    """The installed packages alone: site-packages without pip and setuptools, which every venv has."""
    (site,) = venv.glob("lib/python*/site-packages")
    own = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")
    return sum(
        size_mb(p) if p.is_dir() else p.stat().st_size / 1e6
        for p in site.iterdir()
        if not p.name.startswith(own)
    )


def action_install(venv: Path, *extra: str) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    run(
        *PIP, "--python", venv_python(venv), "install", *QUIET, "--require-hashes",
        *("--only-binary", ":all:", "--no-deps", "--requirement", LOCK), *extra,
    )  # fmt: skip


def old_action_install(venv: Path) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    run(sys.executable, "-m", "venv", venv)
    run(venv_python(venv), "-m", "pip", "install", *QUIET, "--no-cache-dir", "--requirement", UNLOCKED)


def report(label: str, times: list[tuple[float, float]], extra: str = "") -> None:
    wall = [w for w, _ in times]
    cpu = [c for _, c in times]
    print(
        f"{label:46} wall median {statistics.median(wall):6.2f} s (min {min(wall):5.2f})  "
        f"cpu median {statistics.median(cpu):5.2f} s  {extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {sys.platform}\n")
    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        source = scratch / "source"  # built from a copy: setuptools leaves build/ where it builds
        for name in ("pyproject.toml", "README.md", "checks", "app", "action"):
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                source.mkdir(exist_ok=True)
                shutil.copy2(ROOT / name, source / name)
        run(*PIP, "wheel", *QUIET, "--no-deps", "--wheel-dir", scratch / "dist", source)
        wheel = next((scratch / "dist").glob("*.whl"))
        for extras in ("", "[app,action]"):
            label = f"hook env, {'+ ' + extras if extras else 'default install'}"
            seconds, size, packages = hook_environment(scratch, wheel, extras)
            print(f"{label:46} {seconds:6.2f} s  venv {size:6.1f} MB, packages {packages:6.1f} MB")
        print()

        venv = scratch / "action-venv"
        cold = [timed(lambda: action_install(venv, "--no-cache-dir")) for _ in range(args.runs)]
        report("action install, cold (download, hashes)", cold, f"{size_mb(venv):.1f} MB")
        wheels = scratch / "wheels"
        run(*PIP, "download", *QUIET, "--require-hashes", "--only-binary", ":all:", "--no-deps",
            "--requirement", LOCK, "--dest", wheels)  # fmt: skip
        local = ("--no-index", "--find-links", str(wheels))
        warm = [timed(lambda: action_install(venv, "--no-cache-dir", *local)) for _ in range(args.runs)]
        report("action install, wheels on disk", warm)

        archive = scratch / "venv.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(venv, arcname="action-venv")
        restored = scratch / "restored"

        def restore() -> None:  # with tar(1), as actions/cache restores (it adds zstd)
            shutil.rmtree(restored, ignore_errors=True)
            restored.mkdir()
            run("tar", "-xf", archive, "-C", restored)
            python = venv_python(restored / "action-venv")
            subprocess.run(
                [python, "-m", "action", "--help"],
                check=True,
                stdout=subprocess.DEVNULL,
                env={"PYTHONPATH": str(ROOT), "PYTHONSAFEPATH": "1"},
            )

        cached = [timed(restore) for _ in range(args.runs)]
        archived = f"{archive.stat().st_size / 1e6:.1f} MB archive"
        report("action install, cache hit (untar + first run)", cached, archived)
        old = [timed(lambda: old_action_install(venv)) for _ in range(args.runs)]
        report("action install as it was (pip venv, no lock)", old, f"{size_mb(venv):.1f} MB")


if __name__ == "__main__":
    main()
