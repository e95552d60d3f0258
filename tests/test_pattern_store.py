"""The command's store of compiled patterns: a rebuilt pattern is the pattern, the store is written
once and read back, and anything it cannot trust is left to the regex compiler."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checks import pattern_store
from checks.document import timeline_entries

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "postmortems" / "2026-03-14-checkout-latency.md"

# Shapes the engine and its libraries use: named groups, flags given both ways, classes, Unicode,
# lookarounds, backreferences, possessive and atomic groups, a long alternation.
PATTERNS = [
    (r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?:UTC|Z)?", 0),
    (r"\b(?:be\s+(?:more\s+)?careful|double[- ]check|make\s+sure)\b", re.IGNORECASE),
    (r"(?i)^(?:time|timestamp|when|date\s*/\s*time)", 0),
    (r"(?<![\w@])@[A-Za-z0-9][A-Za-z0-9-]{0,38}(?!\w)", 0),
    (r"(['\"])(.*?)\1", re.DOTALL),
    (r"[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]", 0),
    (r"(?>a+)b|c++d", 0),
    (r"^\s*[-*+]\s+\[[ xX]\]\s+", re.MULTILINE),
    (
        r"""
        (?P<word>[^\W\d_]+)   # letters only
        (?:['’](?:s|t))?      # a possessive or a contraction
     """,
        re.VERBOSE,
    ),
    (
        "|".join(
            f"(?:{w})" for w in ("rollback", "failover", "mitigat\\w*", "drain(?:ed|s)?", "scaled\\s+up")
        ),
        re.I,
    ),
]
TEXTS = [
    "14:02 UTC the on-call engineer (@kim-lee) paged; Make sure to double-check! 'quoted' \"twice\"",
    "Time (UTC)\n- [x] aaab cccd Maren’s rollback drained the pool; ſ İ K \x07",
    "",
]


@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_a_rebuilt_pattern_is_the_compiled_pattern(pattern, flags):
    compiled = re.compile(pattern, flags)
    entry = json.loads(json.dumps(pattern_store.compiled_entry(pattern, int(flags))))
    rebuilt = pattern_store.rebuilt(entry)
    assert rebuilt is not compiled
    assert (rebuilt.pattern, rebuilt.flags, rebuilt.groups, rebuilt.groupindex) == (
        compiled.pattern,
        compiled.flags,
        compiled.groups,
        compiled.groupindex,
    )
    for text in TEXTS:
        assert [m.span() + m.groups() for m in rebuilt.finditer(text)] == [
            m.span() + m.groups() for m in compiled.finditer(text)
        ]
        assert rebuilt.sub("-", text) == compiled.sub("-", text)


def _fresh_state():
    pattern_store._stored.clear()
    re.purge()


def _one_run(patterns_before_preload, patterns_after):
    """One process's life: some patterns compiled before the store is read (as the `json` module
    compiles its own), the store read, the run's patterns compiled, the store saved."""
    _fresh_state()
    for pattern in patterns_before_preload:
        re.compile(pattern)
    pattern_store.preload()
    for pattern in patterns_after:
        re.compile(pattern)
    pattern_store.save_new()


def test_patterns_saved_by_one_run_are_what_re_compile_returns_in_the_next():
    unique = r"stored-(\d+)-pattern"
    _one_run([], [unique, "stored-a", "stored-b"])
    path = pattern_store._store_path()
    assert unique in {entry[0] for entry in json.loads(path.read_text("utf-8"))}
    _fresh_state()
    assert pattern_store.preload() > 0
    preloaded = re._cache[str, unique, 0]
    assert re.compile(unique) is preloaded
    assert preloaded.findall("stored-12-pattern stored-x-pattern") == ["12"]


def test_a_run_that_meets_fewer_than_three_new_patterns_leaves_the_store_alone():
    _one_run([], ["first-a", "first-b", "first-c"])
    path = pattern_store._store_path()
    written = path.read_text("utf-8")
    _one_run([], ["first-a", "first-b", "first-c", "this-process-only-1", "this-process-only-2"])
    assert path.read_text("utf-8") == written
    re.compile("this-process-only-3")
    pattern_store.save_new()
    assert "this-process-only-3" in path.read_text("utf-8")


def test_an_entry_the_regex_engine_refuses_is_compiled_instead():
    _fresh_state()
    path = pattern_store._store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    good = pattern_store.compiled_entry(r"kept-(\w+)", 0)
    refused = [r"refused-(\w+)", 0, 32, "AQAAAAIAAAADAAAA", 1, [None, None]]  # code words 1, 2, 3
    path.write_text(json.dumps([refused, good]), "utf-8")
    assert pattern_store.preload() == 1
    assert (str, r"refused-(\w+)", 0) not in re._cache
    assert re.compile(r"refused-(\w+)").findall("refused-ok") == ["ok"]


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', "[[1, 2]]", ""])
def test_a_broken_store_is_ignored(content):
    _fresh_state()
    path = pattern_store._store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, "utf-8")
    assert pattern_store.preload() == 0
    assert re.compile(r"after-(\d)").findall("after-1") == ["1"]


def test_another_interpreter_reads_another_store(monkeypatch):
    mine = pattern_store._store_path()
    monkeypatch.setattr(sys, "version", sys.version + " (patched)")
    assert pattern_store._store_path() != mine


def test_no_store_when_caching_is_off(monkeypatch):
    monkeypatch.setenv("BLAMELESS_NO_CACHE", "1")
    _fresh_state()
    re.compile(r"never-stored")
    pattern_store.save_new()
    assert pattern_store._store_path() is None
    assert not any(Path(os.environ["BLAMELESS_CACHE_DIR"]).glob("patterns-*"))


def test_the_command_keeps_its_patterns_and_gives_the_same_findings_from_them():
    def check() -> str:
        run = subprocess.run(
            [sys.executable, "-m", "checks.cli", "check", str(EXAMPLE), "--no-cache", "--format", "json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        return run.stdout

    first = check()
    stores = list(Path(os.environ["BLAMELESS_CACHE_DIR"]).glob("patterns-*.json"))
    assert len(stores) == 1
    stored = {entry[0] for entry in json.loads(stores[0].read_text("utf-8"))}
    assert timeline_entries._TIME_HEADERS.pattern in stored  # the engine's own
    assert len(stored) > 100  # and markdown-it's and PyYAML's
    written = stores[0].stat().st_mtime_ns
    assert check() == first
    assert stores[0].stat().st_mtime_ns == written


def test_a_process_with_no_home_folder_runs_without_a_store(monkeypatch):
    monkeypatch.delenv("BLAMELESS_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert pattern_store.preload() == 0
    pattern_store.save_new()  # nothing to write to, and no error


def test_a_re_module_without_the_cache_it_expects_is_left_alone(monkeypatch):
    _one_run([], ["odd-a", "odd-b", "odd-c"])
    path = pattern_store._store_path()
    written = path.read_text("utf-8")
    pattern_store._stored.clear()
    monkeypatch.setattr(re, "_cache", [("a", "cache", "of another", "shape")])
    assert pattern_store.preload() == 0
    pattern_store.save_new()  # keys of another shape: no store, and no error
    assert path.read_text("utf-8") == written


def test_a_full_store_settles_after_one_write_for_a_run_it_lacked():
    early = [f"early-{n}" for n in range(8)]
    _one_run(early, [f"filler-{n}" for n in range(pattern_store.LIMIT)])
    path = pattern_store._store_path()
    assert len(json.loads(path.read_text("utf-8"))) == pattern_store.LIMIT
    own = [f"own-{n}" for n in range(5)]
    _one_run(early, own)
    written = path.read_text("utf-8")
    stored = [entry[0] for entry in json.loads(written)]
    assert stored[:5] == own and len(stored) == pattern_store.LIMIT
    _one_run(early, own)
    assert path.read_text("utf-8") == written


def test_a_pattern_utf8_cannot_hold_is_stored_and_read_back():
    lone_surrogate = "docs/\udc80[^/]*\\.md"
    _one_run([], [lone_surrogate, "other-1", "other-2"])
    _fresh_state()
    assert pattern_store.preload() >= 3
    assert re._cache[str, lone_surrogate, 0].match("docs/\udc80x.md")


def test_a_store_nested_too_deep_to_read_is_ignored():
    _fresh_state()
    path = pattern_store._store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[" * 200_000, "utf-8")
    assert pattern_store.preload() == 0


def test_a_store_others_can_write_is_not_read_and_a_written_one_is_private():
    _one_run([], ["private-1", "private-2", "private-3"])
    path = pattern_store._store_path()
    assert path.stat().st_mode & 0o777 == 0o600
    _fresh_state()
    assert pattern_store.preload() > 0
    path.chmod(0o666)
    _fresh_state()
    assert pattern_store.preload() == 0
