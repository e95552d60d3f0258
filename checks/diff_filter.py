"""Only the findings a change is responsible for: filter findings by a unified diff (reviewdog's filter_mode).

Teams that edit an old postmortem want to hear about the lines they touched, not about every
finding the document had before. The modes are reviewdog's:

- `added`: findings on lines the diff adds or changes;
- `diff_context`: findings on any line the diff shows (added lines and their context);
- `file`: findings in any file the diff touches;
- `nofilter`: every finding.

A finding spanning several lines counts when any of its lines qualifies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checks.config import repo_relative

if TYPE_CHECKING:  # the CLI imports FILTER_MODES to build its parser, before any engine is needed
    from checks.findings import Result

FILTER_MODES = ("added", "diff_context", "file", "nofilter")
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass
class FileChanges:
    added: set[int] = field(default_factory=set)
    shown: set[int] = field(default_factory=set)  # added lines and context lines


def parse_unified_diff(text: str) -> dict[str, FileChanges]:
    """New-side line numbers per file (`+++ b/path`), from `git diff` or GitHub's patches."""
    files: dict[str, FileChanges] = {}
    current: FileChanges | None = None
    line = 0
    for raw in text.splitlines():
        if raw.startswith("+++ "):
            name = raw[4:].split("\t", 1)[0]
            if name == "/dev/null":
                current = None
                continue
            name = name[2:] if name.startswith("b/") else name
            current = files.setdefault(repo_relative(name), FileChanges())
        elif raw.startswith("--- ") or raw.startswith("diff "):
            continue
        elif (match := HUNK.match(raw)) and current is not None:
            line = int(match[1])
        elif current is not None and line:
            if raw.startswith("+"):
                current.added.add(line)
                current.shown.add(line)
                line += 1
            elif raw.startswith(" ") or raw == "":
                current.shown.add(line)
                line += 1
            # "-" lines and "\ No newline at end of file" take no new-side line
    return files


def keep(mode: str, changes: dict[str, FileChanges], path: str, first: int, last: int) -> bool:
    if mode == "nofilter":
        return True
    changed = changes.get(repo_relative(path))
    if changed is None:
        return False
    if mode == "file":
        return True
    lines = changed.added if mode == "added" else changed.shown
    return any(n in lines for n in range(first, max(first, last) + 1))


def filter_results(results: list[Result], mode: str, diff: str) -> list[Result]:
    """The same results, each holding only the findings `mode` keeps for this diff."""
    if mode not in FILTER_MODES:
        raise ValueError(f"filter mode {mode!r} is not one of {', '.join(FILTER_MODES)}")
    if mode == "nofilter":
        return results
    changes = parse_unified_diff(diff)
    for result in results:
        result.findings = [f for f in result.findings if keep(mode, changes, f.path, f.line, f.end_line)]
    return results
