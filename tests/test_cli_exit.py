"""The `blameless` command leaves its process without interpreter teardown: nothing may be lost.

The command is run as a user runs it, in its own process, and what it printed, wrote and
returned is compared with `main` called in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from checks.cli import main

ROOT = Path(__file__).resolve().parent.parent
BLAMEFUL = ROOT / "examples" / "postmortems" / "2026-05-02-blameful-draft.md"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def command(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "checks.cli", *args], cwd=ROOT, env=ENV, stderr=subprocess.PIPE, **kwargs
    )


def many_findings(tmp_path: Path) -> Path:
    """A document whose findings print well past a pipe's buffer (64 KiB on Linux)."""
    big = tmp_path / "big.md"
    big.write_text("\n".join([BLAMEFUL.read_text("utf-8")] * 40), "utf-8")
    return big


def test_the_whole_output_and_the_exit_code_reach_the_caller(tmp_path, capsys):
    big = many_findings(tmp_path)
    expected_code = main(["check", "--format", "json", str(big)])
    expected = json.loads(capsys.readouterr().out)
    process = command("check", "--format", "json", str(big), stdout=subprocess.PIPE)
    out, err = process.communicate(timeout=120)
    assert len(out) > 64 * 1024
    assert json.loads(out) == expected and expected["findings"]
    assert process.returncode == expected_code == 1
    assert err == b""


def test_a_report_written_to_a_file_is_complete(tmp_path):
    big = many_findings(tmp_path)
    target = tmp_path / "findings.sarif"
    process = command("check", "--format", "sarif", "--output", str(target), str(big), stdout=subprocess.PIPE)
    process.communicate(timeout=120)
    assert process.returncode == 1
    sarif = json.loads(target.read_text("utf-8"))
    assert len(sarif["runs"][0]["results"]) > 100


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path):
    big = many_findings(tmp_path)
    process = command("check", "--format", "json", str(big), stdout=subprocess.PIPE)
    assert process.stdout.read(100)
    process.stdout.close()  # like `blameless check … | head -c 100`
    err = process.stderr.read()
    process.wait(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err
    assert process.returncode == 1
