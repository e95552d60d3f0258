"""Findings kept between runs, per file, so a re-run checks only the files that changed.

A file's findings depend on its path, its text, the config and the engine, and on nothing else
(no clock, no environment, no other file). So an entry is looked up by the path and a digest of
the text, in a cache file named by a digest of the config and of the engine: the contents of the
checks package's own files (an upgrade or an edited rule file starts afresh), of the parser
libraries' `__init__` files (which name their release) and the Python version. One cache file is
kept per working directory in the user's cache folder (see `checks.packaged.cache_path`), written
whole and swapped in atomically: two runs at once cost each other entries, never correctness. A
cache file that cannot be read, or does not hold what this module writes, is ignored and replaced;
one no run has used for a month (an older engine's, a folder no longer checked) is deleted.

Strings repeat across findings (the same rule's message and why, thousands of times in a large
repository), so the file keeps each string once and the findings refer to them by number.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from importlib.util import find_spec
from pathlib import Path

from checks.findings import Finding, Level
from checks.packaged import PACKAGE_ROOT, cache_path, write_atomically

CACHE_FORMAT = 1
UNUSED_DAYS = 30  # a cache file no run has used for this long is deleted
# The libraries whose behaviour shapes findings: a new release may parse a document differently.
PARSER_LIBRARIES = ("markdown_it", "mdurl", "yaml")


def _file_digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def engine_fingerprint() -> list:
    """What the engine is made of: the contents of every file of the checks package and of each
    parser library's `__init__` (which names its release), where they are installed, and the
    Python version. Contents, not modification times: some installers keep or reset those."""
    package = [
        (path.relative_to(PACKAGE_ROOT).as_posix(), _file_digest(path))
        for path in sorted(PACKAGE_ROOT.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]
    libraries = []
    for name in PARSER_LIBRARIES:
        spec = find_spec(name)  # finds the package without importing it
        origin = spec.origin if spec else None
        libraries.append((name, origin, _file_digest(Path(origin)) if origin else None))
    return [CACHE_FORMAT, sys.version, str(PACKAGE_ROOT), package, libraries]


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class ResultsCache:
    """The findings of the files checked before in this directory with this config and engine.

    Entries read from the cache file stay as stored rows until a run asks for them: a hook that
    checks one file of a thousand builds the findings of that file only."""

    def __init__(self, path: Path, stored: Stored | None = None):
        self.path = path
        self._strings, self._stored = stored or ([], {})
        self._fresh: dict[str, tuple[str, list[Finding]]] = {}
        self._changed = False

    @classmethod
    def open(cls, config_data: dict, directory: Path | None = None) -> ResultsCache | None:
        """The cache for this config in `directory` (the working directory by default), or None
        when caching is off (`BLAMELESS_NO_CACHE`)."""
        directory = Path(os.path.realpath(directory or Path.cwd()))
        config = json.dumps(config_data, sort_keys=True, default=repr, ensure_ascii=False)
        path = cache_path("findings", [engine_fingerprint(), config, str(directory)])
        if path is None:
            return None
        return cls(path, _read(path))

    def findings(self, name: str, digest: str) -> list[Finding] | None:
        """The findings an earlier run kept for this file, if its text is the one they were found
        in. (A run looks every file up before it remembers any.)"""
        stored = self._stored.get(name)
        if stored is None or stored[0] != digest:
            return None
        try:
            return [_finding(name, row, self._strings) for row in stored[1]]
        except (ValueError, TypeError, IndexError):
            del self._stored[name]  # not what `_packed` writes: checked again and replaced
            return None

    def remember(self, name: str, digest: str, findings: list[Finding]) -> None:
        self._stored.pop(name, None)
        self._fresh[name] = (digest, findings)
        self._changed = True

    def save(self, checked: set[str]) -> None:
        """Writes the cache back when it changed. Entries of files not checked in this run are
        kept (a run over a few files must not forget the rest) unless the file is gone."""
        gone = [name for name in self._stored if name not in checked and not os.path.exists(name)]
        for name in gone:
            del self._stored[name]
        if self._changed or gone:
            # Written as it is: the packed form is plain JSON data, so `store`'s check that JSON
            # gives the data back (needed for YAML) would only parse the file a second time.
            write_atomically(
                self.path, json.dumps(_packed(self._fresh, self._stored, self._strings), ensure_ascii=False)
            )
            self._changed = False
            forget_unused(self.path.parent)
        else:
            with contextlib.suppress(OSError):
                os.utime(self.path)  # used, though unchanged: not to be forgotten as unused


def forget_unused(folder: Path, days: int = UNUSED_DAYS) -> None:
    """Deletes the findings cache files no run has used for `days` days (those of an older engine
    or config, or of a folder no longer checked, would otherwise stay for ever), and the scratch
    files of runs that were killed while writing one."""
    oldest = time.time() - days * 86_400
    for path in folder.glob("findings-*.*"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
        except OSError:
            pass  # gone already, or not ours to delete


# A finding as stored: its positions, level, and its strings by number in the file's string table
# (-1 for a suggestion that is None).
_POSITIONS = ("line", "column", "end_line", "end_column")
_STRINGS = ("rule", "message", "suggestion", "why", "matched")
_FIRST_STRING = len(_POSITIONS) + 1
# The string table and each file's (text digest, stored rows), as read from a cache file.
Stored = tuple[list[str], dict[str, tuple[str, list[list[int]]]]]


def _finding(name: str, row: list[int], strings: list[str]) -> Finding:
    line, column, end_line, end_column, level, rule, message, suggestion, why, matched = row
    if not all(type(value) is int for value in row):
        raise TypeError("a stored finding holds only numbers")
    if min(rule, message, why, matched) < 0 or suggestion < -1:
        raise IndexError("a string number out of the table")
    return Finding(
        path=name,
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        rule=strings[rule],
        message=strings[message],
        level=Level(level),
        suggestion=None if suggestion == -1 else strings[suggestion],
        why=strings[why],
        matched=strings[matched],
    )


def _packed(fresh: dict[str, tuple[str, list[Finding]]], stored: dict, old_strings: list[str]) -> dict:
    """The cache file's content: one string table for the fresh findings and the stored rows kept
    from the file read (renumbered into the new table, so strings no entry uses are dropped)."""
    strings: list[str] = []
    numbers: dict[str, int] = {}

    def number(value: str | None) -> int:
        if value is None:
            return -1
        found = numbers.get(value)
        if found is None:
            found = numbers[value] = len(strings)
            strings.append(value)
        return found

    def row(finding: Finding) -> list[int]:
        positions = [getattr(finding, key) for key in _POSITIONS]
        return [*positions, int(finding.level), *(number(getattr(finding, key)) for key in _STRINGS)]

    def renumbered(kept: list[int]) -> list[int]:
        texts = [None if n == -1 else old_strings[n] for n in kept[_FIRST_STRING:]]
        return [*kept[:_FIRST_STRING], *(number(text) for text in texts)]

    files: dict[str, list] = {}
    for name, (digest, rows) in stored.items():
        try:
            files[name] = [digest, [renumbered(r) for r in rows]]
        except (TypeError, IndexError):
            continue  # a broken entry is dropped: the next run checks that file again
    for name, (digest, findings) in fresh.items():
        files[name] = [digest, [row(f) for f in findings]]
    return {"format": CACHE_FORMAT, "strings": strings, "files": files}


def _read(path: Path) -> Stored | None:
    """The string table and entries of the cache file at `path`; None when it is missing or its
    shape is not what `_packed` writes (single rows are checked when they are used)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return None
    strings, files = data.get("strings"), data.get("files")
    if not isinstance(strings, list) or not isinstance(files, dict):
        return None
    entries = {}
    for name, entry in files.items():
        if (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], list)
        ):
            entries[name] = (entry[0], entry[1])
    return strings, entries
