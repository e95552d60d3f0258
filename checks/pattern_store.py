"""Compiled regular expressions kept between runs of the command, so start-up skips the compiler.

Python's regex compiler is written in Python: the patterns the engine and its parser libraries
(markdown-it, PyYAML) compile at import and on a small document cost about a fifth of a small
file's run. What it produces for a pattern is a list of integers that depends only on the pattern,
its flags and the interpreter, and the `re` module keeps compiled patterns in a cache keyed by
pattern and flags. So the command keeps each pattern's compiled code in the user's cache folder,
in a file named for the exact interpreter and regex engine, and at start-up puts the rebuilt
patterns into `re`'s cache: every later `re.compile` of the same pattern and flags is a lookup.

The code is produced by the interpreter's own regex compiler and checked again by `_sre` when a
pattern is rebuilt (it refuses malformed code); anything unexpected — another Python, a broken
file, an entry `_sre` refuses — leaves the pattern to the regex compiler, as without the store.
Since the code decides what a pattern matches, the store is written private to its user and read
only while it stays so.
The store is read when `checks.cli` is imported (the `blameless` command and the Action) and
written only by the command; a library caller of the engine never touches it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from array import array
from binascii import a2b_base64, b2a_base64

try:
    import _sre
    from re import _compiler, _parser

    CODE_TYPE = next(kind for kind in "ILQ" if array(kind).itemsize == _sre.CODESIZE)  # a code word
except ImportError:  # an interpreter without CPython's regex engine: nothing to keep
    _sre = None

STORE_FORMAT = 2
LIMIT = 400  # patterns kept: below `re`'s own cache size (512), so preloading never evicts
# New patterns that make a run rewrite the store. Some patterns are built afresh in every process
# (markdown-it joins a character class from a set, in that process's hash order), so one or two
# unknown patterns are the normal state, and rewriting the store (some 180 KB) for them on every
# run would cost more than compiling them.
NEW_PATTERNS_TO_WRITE = 3
_stored: dict[tuple[str, int], list] = {}  # (pattern, flags) → entry, as read at start-up


def _store_path():
    from checks.packaged import cache_path  # the folder every cache of the command uses

    if _sre is None or sys.implementation.name != "cpython":
        return None
    interpreter = [STORE_FORMAT, sys.version, sys.byteorder, _sre.MAGIC, _sre.CODESIZE, sys.maxunicode]
    try:
        return cache_path("patterns", interpreter)
    except (RuntimeError, KeyError, OSError):  # no home folder to find a cache folder in
        return None


def compiled_entry(pattern: str, flags: int) -> list:
    """What `re.compile(pattern, flags)` hands to `_sre.compile`, as JSON can hold it.

    The code words are kept as the base64 of their bytes: JSON reads one string in C where a list
    of thousands of numbers took most of the start-up the store saves."""
    parsed = _parser.parse(pattern, flags)
    code = array(CODE_TYPE, _compiler._code(parsed, flags)).tobytes()
    names = [None] * parsed.state.groups
    for name, index in parsed.state.groupdict.items():
        names[index] = name
    return [
        pattern,
        flags,
        flags | parsed.state.flags,
        b2a_base64(code, newline=False).decode(),
        parsed.state.groups - 1,
        names,
    ]


def rebuilt(entry: list) -> re.Pattern[str]:
    pattern, _, flags, packed, groups, names = entry
    code = array(CODE_TYPE)
    code.frombytes(a2b_base64(packed, strict_mode=True))
    index = {name: number for number, name in enumerate(names) if name is not None}
    return _sre.compile(pattern, flags, code.tolist(), groups, index, tuple(names))


def _trusted(path) -> bool:
    """Whether the store is this user's own and nobody else can write it: its code decides what
    the patterns match, and `_sre` checks only that the code is well formed."""
    status = path.stat()
    own = status.st_uid == os.getuid() if hasattr(os, "getuid") else True  # no owners to compare
    return own and not status.st_mode & 0o022


def preload() -> int:
    """Puts the stored patterns into `re`'s cache; returns how many."""
    path = _store_path()
    if path is None:
        return 0
    try:
        if not _trusted(path):
            return 0
        entries = json.loads(path.read_text("utf-8"))
    except Exception:  # none yet, unreadable, or not JSON (even nested too deep to read)
        return 0  # the compiler does the work, as without a store
    cache = getattr(re, "_cache", None)  # keyed (type, pattern, flags) on CPython 3.11 to 3.13
    if not isinstance(entries, list) or not isinstance(cache, dict):
        return 0
    for entry in entries[:LIMIT]:
        try:
            key = (str, entry[0], entry[1])
            if key not in cache:
                cache[key] = rebuilt(entry)
            _stored[entry[0], entry[1]] = entry
        except Exception:  # any entry this interpreter refuses is compiled instead
            continue
    return len(_stored)


def save_new() -> None:
    """Adds the patterns this run compiled to the store, when it met NEW_PATTERNS_TO_WRITE or more
    that the store did not hold.

    The new patterns come first, then the stored ones in their order, up to LIMIT: when the store
    is full, the patterns added longest ago leave it first."""
    path = _store_path()
    if path is None:
        return
    try:
        used = [
            (pattern, flags)
            for kind, pattern, flags in list(re._cache)
            if kind is str and not flags & (re.DEBUG | re.LOCALE)
        ]
        new = [key for key in used if key not in _stored]
        if len(new) < NEW_PATTERNS_TO_WRITE:
            return
        entries = {key: compiled_entry(*key) for key in new}
        for key, entry in _stored.items():
            entries.setdefault(key, entry)
        from checks.packaged import write_atomically

        # ASCII JSON: a pattern may hold a lone surrogate, which UTF-8 cannot write.
        write_atomically(path, json.dumps(list(entries.values())[:LIMIT]), mode=0o600)  # see _trusted
    except Exception:  # a `re` unlike the one this was written against: keep no store
        return
