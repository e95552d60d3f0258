"""The `blameless` command: check postmortem files, list the rules, write a starter config."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from checks.config import DEFAULT_CONFIG_PATH, Config, ConfigError, parse_config, render_commented, selects
from checks.document.template import load_template
from checks.engine import Result, check_text
from checks.findings import Level
from checks.output.formats import FORMATTERS
from checks.output.summary import FAMILY_TITLES, render_markdown
from checks.report.command import SourceError
from checks.report.command import add_arguments as report_arguments
from checks.report.history import HistoryError
from checks.rules.catalog import catalog

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
TEMPLATE_PATH = "docs/postmortems/TEMPLATE.md"
# A long postmortem is some 100 KB; a document ten times that is not one, and costs seconds to check.
MAX_DOCUMENT_BYTES = 1024 * 1024


class UsageError(Exception):
    """Bad arguments, an unreadable file or a broken config: exit code 2."""


def load_config(path: str | None, within: Path | None = None) -> Config:
    """The config named on the command line, else `.github/blameless.yml` if present, else defaults.
    It is read like a document: a regular file, bounded in size, inside `within` when given."""
    candidate = Path(path) if path else Path(DEFAULT_CONFIG_PATH)
    if not (candidate.exists() or candidate.is_symlink()):
        if path:
            raise UsageError(f"{path}: config file not found")
        return Config()
    return parse_config(read_document(candidate, within), str(candidate))


def _default_documents(config: Config) -> list[Path]:
    found = [p for p in Path(".").rglob("*.md") if ".git" not in p.parts and "node_modules" not in p.parts]
    return sorted(p for p in found if selects(config, p.as_posix()))


def collect(paths: list[str], config: Config, within: Path | None = None) -> list[Path]:
    """Files as given; directories expanded to their Markdown files minus the config's excludes.

    A file found in a directory must lie inside it: a symbolic link out of the tree is refused,
    not followed. With `within` (the Action's workspace), every path named must lie inside it.
    """
    if not paths:
        return _default_documents(config)
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if within is not None:
            _refuse_outside(path, within)
        if path.is_dir():
            excluded = Config(data={**config.data, "paths": ["**/*.md"]})
            found = sorted(p for p in path.rglob("*.md") if selects(excluded, p.as_posix()))
            for document in found:
                _refuse_outside(document, path)
            files += found
        elif path.is_file() or path.is_symlink() or path.exists():
            files.append(path)  # read_document judges what it is
        else:
            raise UsageError(f"{name}: no such file or directory")
    return files


def _refuse_outside(path: Path, tree: Path) -> None:
    if not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(tree)):
        raise UsageError(f"{path}: a symbolic link that leads out of {tree}; not read")


def read_document(path: Path, within: Path | None = None) -> str:
    """The text of one document, read only when it is a regular file (a FIFO or a device would
    hang or never end) of at most MAX_DOCUMENT_BYTES and, with `within`, inside that directory
    once symbolic links are resolved. Anything else is a UsageError naming the file."""
    if within is not None:
        _refuse_outside(path, within)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)  # a FIFO opens at once
    try:
        descriptor = os.open(os.path.realpath(path), flags)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    with open(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UsageError(f"{path}: not a regular file (a device, pipe or socket); not read")
        data = file.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UsageError(f"{path}: larger than {MAX_DOCUMENT_BYTES / 2**20:g} MiB; not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def check_files(files: list[Path], config: Config, within: Path | None = None) -> list[Result]:
    return [check_text(read_document(path, within), path.as_posix(), config) for path in files]


def exit_code(results: list[Result], fail_on: str) -> int:
    if fail_on == "never":
        return EXIT_CLEAN
    threshold = Level.parse(fail_on)
    failing = any(f.level >= threshold for r in results for f in r.findings)
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def run_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    results = check_files(collect(args.paths, config), config)
    output = FORMATTERS[args.format](results) if args.format != "markdown" else render_markdown(results)
    if args.output:
        Path(args.output).write_text(output, "utf-8")
    else:
        sys.stdout.write(output)
    return exit_code(results, args.fail_on or config["fail_on"])


def run_init(args: argparse.Namespace) -> int:
    root = Path(args.directory)
    written = []
    for relative, content in ((DEFAULT_CONFIG_PATH, render_commented()), (TEMPLATE_PATH, load_template())):
        target = root / relative
        if target.exists() and not args.force:
            print(f"{target}: exists, left unchanged (use --force to overwrite)", file=sys.stderr)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, "utf-8")
        written.append(str(target))
    for path in written:
        print(f"wrote {path}")
    return EXIT_CLEAN


def run_report(args: argparse.Namespace) -> int:
    from checks.report import build_report
    from checks.report.command import github_history, local_history, render, today_utc

    if args.repo and args.path:
        raise UsageError("give --repo OWNER/NAME or a PATH, not both")
    config = load_config(args.config)
    if args.repo:
        history = github_history(args.repo, args.since, config)
    else:
        history = local_history(collect([args.path] if args.path else [], config), args.history)
    report = build_report(
        history, args.until or today_utc(), since=args.since, config=config, repository=args.repo
    )
    output = render(report, args.format)
    if args.output:
        Path(args.output).write_text(output, "utf-8")
    else:
        sys.stdout.write(output)
    return EXIT_CLEAN


def rules_markdown() -> str:
    """The README's rule reference: one heading per rule id, so that findings link to it."""
    out = []
    family = None
    for rule in catalog().values():
        if rule.family != family:
            family = rule.family
            out.append(f"### {FAMILY_TITLES[family]}\n")
        out.append(f"#### `{rule.id}`\n")
        out.append(f"{rule.level!s} · [{rule.file}]({rule.file})\n")
        out.append(f"{rule.why}\n")
        if rule.suggestion:
            out.append(f"Suggestion: {rule.suggestion}\n")
    return "\n".join(out)


def run_rules(args: argparse.Namespace) -> int:
    if args.markdown:
        print(rules_markdown(), end="")
        return EXIT_CLEAN
    for rule in catalog().values():
        print(f"{rule.id:36} {rule.level!s:8} {rule.file}")
    return EXIT_CLEAN


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="blameless", description="Checks for blameless postmortems.")
    commands = top.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check postmortem documents")
    check.add_argument("paths", nargs="*", help="files or directories (default: the config's paths)")
    check.add_argument("--config", help=f"config file (default: {DEFAULT_CONFIG_PATH} if present)")
    check.add_argument("--format", choices=[*FORMATTERS, "markdown"], default="text")
    check.add_argument(
        "--fail-on", choices=["error", "warning", "never"], help="default: the config's fail_on"
    )
    check.add_argument("--output", help="write the report to this file instead of standard output")
    check.set_defaults(run=run_check)
    init = commands.add_parser("init", help="write .github/blameless.yml and the postmortem template")
    init.add_argument("directory", nargs="?", default=".")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(run=run_init)
    rules = commands.add_parser("rules", help="list every rule with its level and file")
    rules.add_argument("--markdown", action="store_true", help="print the README's rule reference")
    rules.set_defaults(run=run_rules)
    report = commands.add_parser("report", help="culture signals: is blameless culture working here?")
    report_arguments(report)
    report.set_defaults(run=run_report)
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"blameless: config error\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, HistoryError, SourceError) as exc:
        print(f"blameless: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
