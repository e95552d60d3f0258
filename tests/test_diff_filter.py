"""Findings filtered by a unified diff, as reviewdog's filter_mode: added, diff_context, file, nofilter."""

import json
import subprocess
from pathlib import Path

import pytest

from checks.cli import main
from checks.diff_filter import filter_results, parse_unified_diff
from checks.engine import check_text

DOC = "docs/postmortems/x.md"
BEFORE = """# Database failover

## Summary

Dave was careless and broke the database.

## Impact

Checkout failed for 12 minutes.

## Timeline

All times UTC.

- 14:02 Latency rose.
"""
OLD_LINE = "Checkout failed for 12 minutes."
AFTER = BEFORE.replace(OLD_LINE, OLD_LINE + " Sarah should have known better.")
DIFF = "\n".join(
    [
        f"diff --git a/{DOC} b/{DOC}",
        f"--- a/{DOC}",
        f"+++ b/{DOC}",
        "@@ -7,3 +7,3 @@",
        " ## Impact",
        " ",
        f"-{OLD_LINE}",
        f"+{OLD_LINE} Sarah should have known better.",
        "",
    ]
)


def test_the_diff_gives_added_and_shown_lines_on_the_new_side():
    changes = parse_unified_diff(DIFF)[DOC]
    assert changes.added == {9}
    assert changes.shown == {7, 8, 9}


@pytest.mark.parametrize(
    ("mode", "old_line_kept", "new_line_kept"),
    [("added", False, True), ("diff_context", False, True), ("file", True, True), ("nofilter", True, True)],
)
def test_each_mode_keeps_what_reviewdog_keeps(mode, old_line_kept, new_line_kept):
    everything = check_text(AFTER, DOC).findings
    lines = {f.line for f in everything}
    assert {5, 9} <= lines  # the old blame (line 5) and the new one (line 9)
    (result,) = filter_results([check_text(AFTER, DOC)], mode, DIFF)
    kept = {f.line for f in result.findings}
    assert (5 in kept) is old_line_kept
    assert (9 in kept) is new_line_kept


def test_a_file_outside_the_diff_keeps_nothing_unless_nofilter():
    (result,) = filter_results([check_text(AFTER, "docs/postmortems/other.md")], "file", DIFF)
    assert result.findings == []


def test_the_cli_filters_by_a_diff_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs/postmortems").mkdir(parents=True)
    (tmp_path / DOC).write_text(AFTER)
    (tmp_path / "change.diff").write_text(DIFF)
    main(["check", DOC, "--format", "json", "--diff", "change.diff"])
    assert {f["line"] for f in json.loads(capsys.readouterr().out)["findings"]} == {9}
    main(["check", DOC, "--format", "json"])
    assert 5 in {f["line"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert main(["check", DOC, "--filter-mode", "added"]) == 2  # no diff to filter by
    assert "--diff" in capsys.readouterr().err


def test_the_cli_filters_by_git_from_a_base_ref(tmp_path, monkeypatch, capsys):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    monkeypatch.chdir(tmp_path)
    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "T")
    Path(tmp_path / "docs/postmortems").mkdir(parents=True)
    (tmp_path / DOC).write_text(BEFORE)
    git("add", ".")
    git("commit", "-qm", "first")
    (tmp_path / DOC).write_text(AFTER)
    main(["check", DOC, "--format", "json", "--diff-base", "main"])
    assert {f["line"] for f in json.loads(capsys.readouterr().out)["findings"]} == {9}
