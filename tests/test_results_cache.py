"""The CLI's results cache: an unchanged file's findings come back exactly, and only unchanged ones."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

import checks.engine
from checks import results_cache
from checks.batch import check_paths
from checks.cli import main
from checks.config import Config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "postmortems"
BLAMEFUL = "\n\nThe outage happened because Priya was careless and ignored the alert.\n"


@pytest.fixture
def postmortems(tmp_path, monkeypatch) -> Path:
    """The example postmortems copied into a fresh working directory, as `pm/`."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "pm")
    return Path("pm")


@pytest.fixture
def checked(monkeypatch) -> list[str]:
    """The names of the documents the engine actually checks (in this process)."""
    names: list[str] = []
    real = checks.engine.check_text

    def counting(text, path="postmortem.md", config=None, jobs=1):
        names.append(path)
        return real(text, path, config, jobs)

    monkeypatch.setattr(checks.engine, "check_text", counting)
    return names


def everything(results) -> list[tuple]:
    """Every field of every finding (equality of Finding compares only some of them)."""
    return [(r.path, [dataclasses.astuple(f) for f in r.findings]) for r in results]


def run(paths, config: Config | None = None, **options):
    files = sorted(Path(p) for p in paths)
    return check_paths(files, config or Config(), keep_documents=False, jobs=1, cache=True, **options)


def documents(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.md"))


def test_an_unchanged_file_is_not_checked_again_and_gets_every_field_back(postmortems, checked):
    first = run(documents(postmortems))
    assert len(checked) == 3
    assert sum(len(r.findings) for r in first) > 10  # the blameful draft has many
    again = run(documents(postmortems))
    assert len(checked) == 3  # nothing checked the second time
    assert everything(again) == everything(first)
    assert everything(again) == everything(
        check_paths(documents(postmortems), Config(), keep_documents=False, jobs=1)
    )


def test_an_edited_file_is_checked_again_and_only_it(postmortems, checked):
    run(documents(postmortems))
    edited = postmortems / "2026-03-14-checkout-latency.md"
    edited.write_text(edited.read_text("utf-8") + BLAMEFUL, "utf-8")
    checked.clear()
    results = run(documents(postmortems))
    assert checked == [edited.as_posix()]
    found = {r.path: r.findings for r in results}[edited.as_posix()]
    assert any("Priya" in f.message or "Priya" in f.matched for f in found)


def test_another_config_checks_everything_again(postmortems, checked):
    run(documents(postmortems))
    checked.clear()
    config = Config()
    config.data["language"]["people"] = ["Zebulon"]
    run(documents(postmortems), config)
    assert len(checked) == 3


def test_another_engine_checks_everything_again(postmortems, checked, monkeypatch):
    run(documents(postmortems))
    checked.clear()
    fingerprint = results_cache.engine_fingerprint()
    monkeypatch.setattr(results_cache, "engine_fingerprint", lambda: [*fingerprint, "a newer rule file"])
    run(documents(postmortems))
    assert len(checked) == 3


def test_the_engine_fingerprint_follows_each_package_file(tmp_path, monkeypatch):
    package = tmp_path / "checks"
    (package / "data").mkdir(parents=True)
    rules = package / "data" / "rules.yaml"
    rules.write_text("a: 1\n")
    (package / "engine.py").write_text("")
    (package / "__pycache__").mkdir()
    monkeypatch.setattr(results_cache, "PACKAGE_ROOT", package)
    before = results_cache.engine_fingerprint()
    (package / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"compiled")
    assert results_cache.engine_fingerprint() == before  # compiled bytecode is not the engine
    stamp = rules.stat().st_mtime_ns
    rules.write_text("a: 2\n")
    os.utime(rules, ns=(stamp, stamp))  # an installer that keeps modification times
    assert results_cache.engine_fingerprint() != before  # an edited rule file, same size and time
    after_edit = results_cache.engine_fingerprint()
    os.utime(rules, ns=(stamp, stamp + 1_000_000_000))
    assert results_cache.engine_fingerprint() == after_edit  # touched, not changed
    (package / "data" / "new.yaml").write_text("")
    assert results_cache.engine_fingerprint() != after_edit


def test_a_broken_cache_file_is_ignored_and_replaced(postmortems, checked):
    first = run(documents(postmortems))
    [kept] = Path(os.environ["BLAMELESS_CACHE_DIR"]).glob("findings-*.json")
    for broken in ("{not json", json.dumps({"format": 1, "strings": [], "files": {"x": 3}}), "[]"):
        kept.write_text(broken, "utf-8")
        checked.clear()
        assert everything(run(documents(postmortems))) == everything(first)
        assert len(checked) == 3
    checked.clear()
    run(documents(postmortems))
    assert checked == []  # rewritten whole


@pytest.mark.parametrize(
    "breakage",
    [
        lambda row: row.pop(),  # a field short
        lambda row: row.__setitem__(5, len(row) * 10_000),  # a string number out of the table
        lambda row: row.__setitem__(5, -3),
        lambda row: row.__setitem__(0, "7"),  # a line that is not a number
    ],
)
def test_a_broken_entry_costs_only_its_own_file(postmortems, checked, breakage):
    first = run(documents(postmortems))
    [kept] = Path(os.environ["BLAMELESS_CACHE_DIR"]).glob("findings-*.json")
    data = json.loads(kept.read_text("utf-8"))
    draft = (postmortems / "2026-05-02-blameful-draft.md").as_posix()
    breakage(data["files"][draft][1][0])
    kept.write_text(json.dumps(data), "utf-8")
    checked.clear()
    assert everything(run(documents(postmortems))) == everything(first)
    assert checked == [draft]
    checked.clear()
    assert everything(run(documents(postmortems))) == everything(first)
    assert checked == []  # replaced by the run that checked it again


def test_a_cache_folder_that_cannot_be_written_costs_only_time(postmortems, checked, monkeypatch, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(blocked / "below"))
    first = run(documents(postmortems))
    assert everything(run(documents(postmortems))) == everything(first)
    assert len(checked) == 6


def test_no_cache_when_turned_off(postmortems, checked, monkeypatch):
    monkeypatch.setenv("BLAMELESS_NO_CACHE", "1")
    run(documents(postmortems))
    run(documents(postmortems))
    assert len(checked) == 6


def test_files_left_out_of_a_run_are_kept_unless_deleted(postmortems, checked):
    files = documents(postmortems)
    run(files)
    run(files[:1])  # a pre-commit hook names only the files a commit changes
    checked.clear()
    run(files)
    assert checked == []
    files[2].unlink()
    run(files[:1])
    [kept] = Path(os.environ["BLAMELESS_CACHE_DIR"]).glob("findings-*.json")
    assert sorted(json.loads(kept.read_text("utf-8"))["files"]) == [f.as_posix() for f in files[:2]]


def test_standard_input_is_checked_every_time(postmortems, checked, monkeypatch):
    text = (postmortems / "2026-05-02-blameful-draft.md").read_bytes()
    for _ in range(2):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
        run([Path("-")], stdin_name="draft.md")
    assert checked == ["draft.md", "draft.md"]


def test_files_checked_over_processes_are_remembered_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (EXAMPLES / "2026-05-02-blameful-draft.md").read_text("utf-8")
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(30):  # enough to start the pool
        (folder / f"{number:02d}.md").write_text(text.replace("Priya", f"Priya{number}"), "utf-8")
    files = sorted(Path("many").glob("*.md"))
    fresh = check_paths(files, Config(), keep_documents=False, jobs=2)
    first = check_paths(files, Config(), keep_documents=False, jobs=2, cache=True)
    again = check_paths(files, Config(), keep_documents=False, jobs=2, cache=True)
    assert everything(first) == everything(fresh) == everything(again)
    [kept] = Path(os.environ["BLAMELESS_CACHE_DIR"]).glob("findings-*.json")
    assert len(json.loads(kept.read_text("utf-8"))["files"]) == 30


def test_the_cli_uses_the_cache_unless_told_not_to(postmortems, checked, capsys):
    command = ["check", str(postmortems), "--format", "json", "--fail-on", "never"]
    outputs = []
    for extra in (["--no-cache"], ["--no-cache"], [], []):
        assert main(command + extra) == 0
        outputs.append(capsys.readouterr().out)
    assert len(checked) == 9  # twice without the cache, once to fill it, then never
    assert len(set(outputs)) == 1
    assert '"rule": "language.' in outputs[0]


def test_the_markdown_summary_never_uses_the_cache(postmortems, checked):
    for _ in range(2):
        assert main(["check", str(postmortems), "--format", "markdown", "--fail-on", "never"]) == 0
    assert len(checked) == 6  # it needs each parsed document, which the cache does not keep


def test_a_run_over_one_file_builds_only_that_files_findings(postmortems, checked, monkeypatch):
    files = documents(postmortems)
    first = run(files)
    built: list[str] = []
    real = results_cache._finding

    def counting(name, row, strings):
        built.append(name)
        return real(name, row, strings)

    monkeypatch.setattr(results_cache, "_finding", counting)
    draft = postmortems / "2026-05-02-blameful-draft.md"
    [again] = run([draft])
    assert set(built) == {draft.as_posix()}
    assert everything([again]) == everything([r for r in first if r.path == draft.as_posix()])
    run([draft])  # nothing changed: the file is not rewritten, and the others stay
    assert len(checked) == 3
    assert everything(run(files)) == everything(first)


def test_cache_files_unused_for_a_month_are_deleted_when_one_is_written(postmortems, tmp_path):
    folder = Path(os.environ["BLAMELESS_CACHE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stale, recent, other = (
        folder / "findings-old.json",
        folder / "findings-recent.json",
        folder / "rules-x.json",
    )
    for path in (stale, recent, other):
        path.write_text("{}")
    month = 31 * 86_400
    os.utime(stale, (stale.stat().st_atime - month, stale.stat().st_mtime - month))
    os.utime(other, (other.stat().st_atime - month, other.stat().st_mtime - month))
    scratch = folder / "findings-killed.4242.tmp"  # a run killed while writing
    scratch.write_text("{")
    os.utime(scratch, (scratch.stat().st_atime - month, scratch.stat().st_mtime - month))
    run(documents(postmortems))
    assert not stale.exists()
    assert not scratch.exists()
    assert recent.exists()
    assert other.exists()  # the rule data's cache is not this module's
    assert len(list(folder.glob("findings-*.json"))) == 2


def test_a_run_that_only_reads_the_cache_marks_it_used(postmortems):
    run(documents(postmortems))
    [kept] = Path(os.environ["BLAMELESS_CACHE_DIR"]).glob("findings-*.json")
    month_ago = kept.stat().st_mtime - 31 * 86_400
    os.utime(kept, (month_ago, month_ago))
    content = kept.read_bytes()
    run(documents(postmortems))  # every file found: nothing to write
    assert kept.read_bytes() == content
    assert kept.stat().st_mtime > month_ago + 30 * 86_400
    results_cache.forget_unused(kept.parent)
    assert kept.exists()


def test_a_file_saved_while_the_run_reads_it_is_kept_under_the_text_it_was_checked_in(
    postmortems, checked, monkeypatch
):
    # The run reads a file to look it up, then again to check it: an editor saving in between
    # must not leave the new text's findings filed under the old text's digest.
    import checks.batch

    good = postmortems / "2026-03-14-checkout-latency.md"
    before = good.read_text("utf-8")
    real_read = checks.batch.read_document
    reads: list[str] = []

    def saved_after_first_read(path, within=None):
        text = real_read(path, within)
        if Path(path) == good and not reads:
            reads.append(text)
            good.write_text(before + BLAMEFUL, "utf-8")
        return text

    monkeypatch.setattr(checks.batch, "read_document", saved_after_first_read)
    run([good])
    monkeypatch.setattr(checks.batch, "read_document", real_read)
    good.write_text(before, "utf-8")  # undone: back to the text first read
    checked.clear()
    [again] = run([good])
    assert checked == [good.as_posix()]  # not answered with the edited text's findings
    fresh = check_paths([good], Config(), keep_documents=False, jobs=1)
    assert everything([again]) == everything(fresh)
