"""The `blameless` command: exit codes, formats, config errors and `init`."""

import io
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from checks.batch import MAX_DOCUMENT_BYTES
from checks.cli import main
from checks.document.template import load_template

EXAMPLES = Path(__file__).parent.parent / "examples" / "postmortems"
GOOD = str(EXAMPLES / "2026-03-14-checkout-latency.md")
BAD = str(EXAMPLES / "2026-05-02-blameful-draft.md")


def test_exit_codes_follow_fail_on(capsys):
    assert main(["check", GOOD]) == 0
    assert main(["check", BAD]) == 1
    assert main(["check", BAD, "--fail-on", "never"]) == 0
    capsys.readouterr()


def test_warnings_fail_only_with_fail_on_warning(tmp_path, capsys):
    doc = tmp_path / "pm.md"
    doc.write_text(Path(GOOD).read_text().replace("All times UTC, 2026-03-14.", "2026-03-14."))
    assert main(["check", str(doc)]) == 0  # timeline.timezone is a warning
    assert main(["check", str(doc), "--fail-on", "warning"]) == 1
    assert "timeline.timezone" in capsys.readouterr().out


def test_config_error_exits_2_naming_file_line_and_key(tmp_path, capsys):
    config = tmp_path / "blameless.yml"
    config.write_text("fail_on: error\nlanguage:\n  peple: [Dave]\n")
    assert main(["check", GOOD, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3: language.peple: unknown key" in err


def test_a_config_nested_thousands_deep_exits_2_naming_the_file(tmp_path, capsys):
    config = tmp_path / "blameless.yml"
    config.write_text("paths: " + "[" * 2000 + "]" * 2000 + "\n")
    assert main(["check", GOOD, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:1: not valid YAML: nested more than 50 levels deep" in err
    assert "Traceback" not in err


def test_missing_file_and_non_utf8_are_usage_errors(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.md")]) == 2
    binary = tmp_path / "bin.md"
    binary.write_bytes(b"## Summary\n\xff\xfe")
    assert main(["check", str(binary)]) == 2
    assert "bin.md: not UTF-8 text" in capsys.readouterr().err


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in its own process, with 1 GiB of address space: reading /dev/zero whole would
    end in MemoryError there, not in the test runner."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    return subprocess.run(
        [sys.executable, "-m", "checks.cli", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,  # a FIFO once blocked the read for ever
        preexec_fn=limit_memory,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (lambda p: os.mkfifo(p), "not a regular file (a device, pipe or socket)"),
        (lambda p: p.symlink_to("/dev/zero"), "not a regular file (a device, pipe or socket)"),
        (lambda p: p.write_text("x" * (MAX_DOCUMENT_BYTES + 1)), "larger than 10 MiB"),
    ],
    ids=["fifo", "dev-zero", "oversized"],
)
def test_only_regular_files_of_bounded_size_are_read(tmp_path, make, complaint):
    make(tmp_path / "odd.md")
    done = run_cli("odd.md", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"blameless: odd.md: {complaint}; not read\n"


def test_a_config_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    (tmp_path / "pm.md").write_text(Path(GOOD).read_text())
    os.mkfifo(tmp_path / "blameless.yml")
    done = run_cli("pm.md", "--config", "blameless.yml", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr == "blameless: blameless.yml: not a regular file (a device, pipe or socket); not read\n"
    )


def test_a_directory_is_checked_without_following_links_out_of_it(tmp_path):
    (tmp_path / "outside.md").write_text(Path(GOOD).read_text())
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pm.md").write_text(Path(GOOD).read_text())
    (docs / "linked.md").symlink_to(tmp_path / "outside.md")
    (docs / "inside.md").symlink_to(docs / "pm.md")  # a link within the tree is read
    done = run_cli("docs", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "blameless: docs/linked.md: a symbolic link that leads out of docs; not read\n"
    (docs / "linked.md").unlink()
    assert run_cli("docs", cwd=tmp_path).returncode == 0


def test_json_output_to_a_file(tmp_path, capsys):
    out = tmp_path / "report.json"
    main(["check", BAD, "--format", "json", "--output", str(out)])
    assert json.loads(out.read_text())["counts"]["error"] > 0
    assert capsys.readouterr().out == ""


def test_directories_are_expanded_and_readmes_excluded(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# Index\n")
    (tmp_path / "pm.md").write_text(Path(GOOD).read_text())
    assert main(["check", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == [f"{tmp_path.as_posix()}/pm.md"]


def test_init_writes_config_and_template_once(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    first, second = (tmp_path / ".github/blameless.yml").read_text().splitlines()[:2]
    assert first.startswith("# yaml-language-server: $schema=https://") and first.endswith(
        "checks/data/blameless.schema.json"
    )
    assert second.startswith("# Globs")
    assert (tmp_path / "docs/postmortems/TEMPLATE.md").read_text() == load_template()
    (tmp_path / ".github/blameless.yml").write_text("fail_on: never\n")
    main(["init", str(tmp_path)])
    assert (tmp_path / ".github/blameless.yml").read_text() == "fail_on: never\n"
    assert "exists" in capsys.readouterr().err


def test_init_config_is_used_by_check_from_the_repo_root(tmp_path, monkeypatch, capsys):
    main(["init", str(tmp_path)])
    target = tmp_path / "docs/postmortems/2026-01-01-x.md"
    target.write_text(Path(GOOD).read_text())
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--format", "json"]) == 0
    # the template is excluded by default; the one postmortem is found through the config's paths
    assert json.loads(capsys.readouterr().out)["files"] == ["docs/postmortems/2026-01-01-x.md"]


def test_usage_error_exits_2():
    assert main(["check", "--format", "yaml"]) == 2


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "checks.cli", "rules"], capture_output=True, text=True, check=True
    )
    assert "action-items.reminder" in out.stdout and "checks/rules/action-items/reminder.yaml" in out.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "markdown"])
def test_every_format_runs_on_the_unfilled_template(tmp_path, fmt, capsys):
    doc = tmp_path / "t.md"
    doc.write_text(load_template())
    assert main(["check", str(doc), "--format", fmt]) == 0  # placeholders are warnings
    assert "structure.placeholder" in capsys.readouterr().out


def _repo_with_an_excluded_template(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github/blameless.yml").write_text("paths: ['pm/**/*.md']\nexclude: ['pm/TEMPLATE.md']\n")
    (tmp_path / "pm").mkdir()
    (tmp_path / "pm/TEMPLATE.md").write_text(load_template())
    (tmp_path / "pm/x.md").write_text(Path(GOOD).read_text())


def test_force_exclude_applies_the_config_exclude_to_named_files(tmp_path, monkeypatch, capsys):
    _repo_with_an_excluded_template(tmp_path, monkeypatch)
    assert main(["check", "pm/TEMPLATE.md", "pm/x.md", "--force-exclude", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == ["pm/x.md"]
    main(["check", "pm/TEMPLATE.md", "--format", "json"])  # named without the flag: checked
    assert json.loads(capsys.readouterr().out)["files"] == ["pm/TEMPLATE.md"]


def test_the_pre_commit_hook_forces_the_config_exclude():
    hooks = yaml.safe_load((Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text())
    assert "--force-exclude" in hooks[0]["entry"].split()


def test_an_empty_run_says_what_was_checked(tmp_path, monkeypatch, capsys):
    _repo_with_an_excluded_template(tmp_path, monkeypatch)
    assert main(["check", "pm/x.md"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 postmortem checked, 0 findings."
    (tmp_path / ".github/blameless.yml").write_text("paths: ['nothing/**/*.md']\n")
    assert main(["check"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "0 postmortems checked, 0 findings.\n"
    assert "no file matches the config's paths (nothing/**/*.md)" in captured.err


def test_text_output_puts_the_suggestion_under_the_finding_and_a_summary_last(capsys):
    main(["check", BAD])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("  suggestion: ") for line in lines)
    assert lines[-1].startswith("1 postmortem checked, ") and "error" in lines[-1]


def test_version_names_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert re.fullmatch(r"blameless \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_a_dash_reads_the_document_from_standard_input(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(BAD).read_bytes())))
    assert main(["check", "-"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("<stdin>:") and out.splitlines()[-1].startswith("1 postmortem checked")


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    main(["check", BAD])
    assert "\x1b[" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    main(["check", BAD])
    assert "\x1b[" not in capsys.readouterr().out
    main(["check", BAD, "--color", "never"])
    assert "\x1b[" not in capsys.readouterr().out


def test_a_directory_checked_over_processes_gives_the_same_findings(tmp_path, capsys):
    for index in range(30):
        source = BAD if index % 3 == 0 else GOOD
        (tmp_path / f"pm-{index:02}.md").write_text(Path(source).read_text())
    assert main(["check", str(tmp_path), "--format", "json", "--jobs", "1"]) == 1
    serial = capsys.readouterr().out
    assert main(["check", str(tmp_path), "--format", "json", "--jobs", "2"]) == 1
    assert capsys.readouterr().out == serial
    assert len(json.loads(serial)["files"]) == 30


def test_stdin_findings_carry_the_name_the_editor_gives(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(BAD).read_bytes())))
    main(["check", "-", "--stdin-filename", "docs/postmortems/draft.md", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == ["docs/postmortems/draft.md"]
    assert {f["path"] for f in data["findings"]} == {"docs/postmortems/draft.md"}


# What a command imports decides how long the hook and an editor wait for it: `--version` and
# the parser must not load the engine, markdown-it or PyYAML (checked by module, never by time).
LOADED = (
    "import sys\n"
    "from checks.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(' '.join(sorted(sys.modules)))\n"
)


def _modules_after(*args: str, cache: Path | None = None) -> set[str]:
    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    if cache is not None:
        env["BLAMELESS_CACHE_DIR"] = str(cache)
        env.pop("BLAMELESS_NO_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, check=True, env=env, cwd=root
    )
    return set(done.stdout.split("\n")[-2].split())


def test_version_loads_neither_the_engine_nor_yaml():
    loaded = _modules_after("--version")
    assert "checks.cli" in loaded
    heavy = {"checks.engine", "yaml", "markdown_it", "checks.rules.language", "checks.document.parse"}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_checking_a_file_without_front_matter_needs_no_yaml(tmp_path):
    # The rule data, the config schema and the section titles come from the JSON cache.
    doc = tmp_path / "pm.md"
    doc.write_text(Path(BAD).read_text("utf-8"), "utf-8")
    _modules_after("check", str(doc), "--fail-on", "never", "--no-cache", cache=tmp_path)  # fills the cache
    loaded = _modules_after("check", str(doc), "--fail-on", "never", "--no-cache", cache=tmp_path)
    assert "checks.engine" in loaded
    assert "yaml" not in loaded


def test_rechecking_an_unchanged_file_loads_no_engine(tmp_path):
    # Its findings come from the results cache: neither the parser nor the rules are imported.
    doc = tmp_path / "pm.md"
    doc.write_text(Path(BAD).read_text("utf-8"), "utf-8")
    first = _modules_after("check", str(doc), "--fail-on", "never", cache=tmp_path)
    loaded = _modules_after("check", str(doc), "--fail-on", "never", cache=tmp_path)
    assert "checks.engine" in first
    assert not loaded & {"checks.engine", "markdown_it", "yaml", "checks.rules.language"}
    assert "checks.results_cache" in loaded


def test_checking_loads_none_of_the_culture_report(tmp_path):
    # The parser has the `report` command's arguments; its history and sources load only for it.
    doc = tmp_path / "pm.md"
    doc.write_text(Path(BAD).read_text("utf-8"), "utf-8")
    loaded = _modules_after("check", str(doc), "--fail-on", "never", cache=tmp_path)
    assert "checks.report.arguments" in loaded
    assert not loaded & {"checks.report.command", "checks.report.history"}


def test_the_parser_names_every_output_format():
    # Written out in cli.py so that building the parser imports no formatter code.
    from checks import cli
    from checks.output.formats import FORMATTERS

    assert tuple(FORMATTERS) == cli.FORMATS
