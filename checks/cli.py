"""The `blameless` command: check postmortem files, list the rules, write a starter config."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from checks import pattern_store

# Before the imports below: they (and markdown-it and PyYAML under them) compile their patterns.
pattern_store.preload()

from checks.batch import STDIN  # noqa: E402
from checks.config import DEFAULT_CONFIG_PATH, Config, ConfigError  # noqa: E402
from checks.diff_filter import FILTER_MODES  # noqa: E402
from checks.report.arguments import add_arguments as report_arguments  # noqa: E402

if TYPE_CHECKING:
    from checks.findings import Result

# Only what building the parser needs is imported here (the config's defaults, the filter modes):
# each command imports its own work, so `--version`, `--help` and `rules` never load the engine,
# markdown-it or PyYAML, and `check` loads only what checking needs.
FORMATS = ("text", "json", "sarif", "github")  # checks.output.formats.FORMATTERS, without importing it

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
TEMPLATE_PATH = "docs/postmortems/TEMPLATE.md"


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
    from checks.batch import UnreadableFile, read_document
    from checks.config import parse_config

    try:
        text = read_document(candidate, within)
    except UnreadableFile as exc:
        raise UsageError(str(exc)) from None
    return parse_config(text, str(candidate))


def _default_documents(config: Config) -> list[Path]:
    from checks.config import selects

    found = [p for p in Path(".").rglob("*.md") if ".git" not in p.parts and "node_modules" not in p.parts]
    return sorted(p for p in found if selects(config, p.as_posix()))


def collect(
    paths: list[str], config: Config, *, within: Path | None = None, force_exclude: bool = False
) -> list[Path]:
    """Files as given; directories expanded to their Markdown files minus the config's excludes.

    A file named explicitly is checked even when the config excludes it, unless `force_exclude`
    (as ruff's `--force-exclude`: for pre-commit and the Action, which name every file). A file
    found in a directory must lie inside it: a symbolic link out of the tree is refused, not
    followed. With `within` (the Action's workspace), every path named must lie inside it.
    """
    if not paths:
        return _default_documents(config)
    from checks.config import selects

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
        elif name == STDIN:
            files.append(path)
        elif path.is_file() or path.is_symlink() or path.exists():
            if not (force_exclude and excluded_by_config(config, path)):
                files.append(path)  # read_document judges what it is
        else:
            raise UsageError(f"{name}: no such file or directory")
    return files


def _refuse_outside(path: Path, tree: Path) -> None:
    from checks.batch import outside

    if outside(path, tree):
        raise UsageError(f"{path}: a symbolic link that leads out of {tree}; not read")


def excluded_by_config(config: Config, path: Path) -> bool:
    """The config's `exclude` applied to a file named on the command line (relative to here)."""
    from checks.config import excluded

    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return False
    return excluded(config, path.as_posix())


def check_files(
    files: list[Path],
    config: Config,
    *,
    keep_documents: bool = True,
    jobs: int | None = 1,
    stdin_name: str = "<stdin>",
    within: Path | None = None,
    cache: bool = False,
):
    """One Result per file (see checks.batch); unreadable files are usage errors."""
    from checks.batch import UnreadableFile, check_paths

    try:
        return check_paths(
            files,
            config,
            keep_documents=keep_documents,
            jobs=jobs,
            stdin_name=stdin_name,
            within=within,
            cache=cache,
        )
    except UnreadableFile as exc:
        raise UsageError(str(exc)) from None


def exit_code(results: list[Result], fail_on: str) -> int:
    if fail_on == "never":
        return EXIT_CLEAN
    from checks.findings import Level

    threshold = Level.parse(fail_on)
    failing = any(f.level >= threshold for r in results for f in r.findings)
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def run_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    files = collect(args.paths, config, force_exclude=args.force_exclude)
    # Only the Markdown summary needs the parsed documents (its figures); the other formats
    # need findings alone, which lets a large run spread over processes in flat memory.
    results = check_files(
        files,
        config,
        keep_documents=args.format == "markdown",
        jobs=args.jobs,
        stdin_name=args.stdin_filename or "<stdin>",
        cache=args.cache,
    )
    if not results:
        print(f"blameless: warning: {nothing_checked(args.paths, config)}", file=sys.stderr)
    mode = args.filter_mode or ("added" if args.diff or args.diff_base else "nofilter")
    if mode != "nofilter":
        from checks.diff_filter import filter_results

        results = filter_results(results, mode, read_diff(args))
    write_output(render_check(results, args), args.output)
    return exit_code(results, args.fail_on or config["fail_on"])


def render_check(results: list[Result], args: argparse.Namespace):
    """The report in the chosen format: a string, or (JSON) an iterable of its lines."""
    if args.format == "markdown":
        from checks.output.summary import render_markdown

        return render_markdown(results)
    from checks.output.formats import FORMATTERS, json_lines, to_text

    if args.format == "text":
        return to_text(results, color=use_color(args.color, args.output))
    if args.format == "json":
        return json_lines(results)
    return FORMATTERS[args.format](results)


def write_output(output, target: str | None) -> None:
    """Write the report to `target` (or standard output); a report given as lines is written as it
    is produced, so a large JSON report is never held twice in memory."""
    chunks = [output] if isinstance(output, str) else output
    if target:
        with open(target, "w", encoding="utf-8") as file:
            file.writelines(chunks)
    else:
        sys.stdout.writelines(chunks)


def read_diff(args: argparse.Namespace) -> str:
    """The unified diff that --filter-mode filters by: --diff FILE (- for standard input), or
    `git diff` from the merge base with --diff-base REF to the working tree."""
    if args.diff:
        try:
            return sys.stdin.read() if args.diff == STDIN else Path(args.diff).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--diff {args.diff}: {exc}") from None
    if args.diff_base:
        base = _git("merge-base", args.diff_base, "HEAD").strip()
        return _git("diff", "--no-color", "--no-ext-diff", "--relative", "--unified=3", base)
    raise UsageError("--filter-mode needs --diff FILE or --diff-base REF")


def _git(*arguments: str) -> str:
    import subprocess  # only for --diff-base: 11 ms of imports every other run would pay

    try:
        done = subprocess.run(
            ["git", *arguments], capture_output=True, text=True, encoding="utf-8", check=False
        )
    except OSError as exc:
        raise UsageError(f"--diff-base needs git: {exc.strerror}") from None
    if done.returncode != 0:
        raise UsageError(f"git {' '.join(arguments)}: {done.stderr.strip()}")
    return done.stdout


def use_color(choice: str, output: str | None) -> bool:
    """Colour on a terminal (never into a file), unless NO_COLOR is set (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    if output or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def nothing_checked(paths: list[str], config: Config) -> str:
    if paths:
        return "no postmortem to check among the given paths (none is Markdown, or the config excludes them)"
    globs = ", ".join(config["paths"])
    return f"no file matches the config's paths ({globs}): 0 postmortems checked"


def run_init(args: argparse.Namespace) -> int:
    from checks.config import JSON_SCHEMA_ID, render_commented
    from checks.document.template import load_template

    root = Path(args.directory)
    written = []
    # The first line lets editors with the YAML language server complete and check the file.
    config = f"# yaml-language-server: $schema={JSON_SCHEMA_ID}\n" + render_commented()
    for relative, content in ((DEFAULT_CONFIG_PATH, config), (TEMPLATE_PATH, load_template())):
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
    from checks.report.command import SourceError
    from checks.report.history import HistoryError

    try:
        return _report(args)
    except (HistoryError, SourceError) as exc:  # imported here: `check` never loads the report
        raise UsageError(str(exc)) from None


def _report(args: argparse.Namespace) -> int:
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
    from checks.output.summary import FAMILY_TITLES
    from checks.rules.catalog import catalog

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
    from checks.rules.catalog import catalog

    for rule in catalog().values():
        print(f"{rule.id:36} {rule.level!s:8} {rule.file}")
    return EXIT_CLEAN


class VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked (importlib.metadata is slow)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from checks import tool_version

        print(f"blameless {tool_version()}")
        parser.exit()


def run_schema(args: argparse.Namespace) -> int:
    from checks.config import render_json_schema

    print(render_json_schema(), end="")
    return EXIT_CLEAN


def _terminal_columns() -> int:
    """`shutil.get_terminal_size().columns`, without importing shutil (and its compression modules)."""
    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized as argparse sizes it. argparse makes one for every argument
    added (to check its metavar), and each imported shutil to measure the terminal: a few
    milliseconds of every run, for help text that is rarely printed."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        width = _terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="blameless", description="Checks for blameless postmortems.", formatter_class=HelpFormatter
    )
    top.add_argument("--version", action=VersionAction, help="print the version and exit")
    subparser = functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, parser_class=subparser)
    check = commands.add_parser("check", help="check postmortem documents")
    check.add_argument(
        "paths", nargs="*", help="files or directories (default: the config's paths); - reads standard input"
    )
    check.add_argument("--config", help=f"config file (default: {DEFAULT_CONFIG_PATH} if present)")
    check.add_argument("--format", choices=[*FORMATS, "markdown"], default="text")
    check.add_argument(
        "--fail-on", choices=["error", "warning", "never"], help="default: the config's fail_on"
    )
    check.add_argument("--output", help="write the report to this file instead of standard output")
    check.add_argument(
        "--force-exclude",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="apply the config's `exclude` to files named on the command line too (the pre-commit hook does)",
    )
    check.add_argument(
        "--stdin-filename",
        metavar="PATH",
        help="the path to report findings under when - reads standard input (for editors)",
    )
    check.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="processes for a large run (default: one per CPU; the markdown format uses one)",
    )
    check.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reuse the findings of files unchanged since an earlier run (kept in the user's cache "
        "folder; BLAMELESS_NO_CACHE=1 turns every cache off)",
    )
    check.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto", help="colour the text format"
    )
    check.add_argument(
        "--filter-mode",
        choices=FILTER_MODES,
        help="report only findings on lines a diff adds (added), shows (diff_context), in files it "
        "touches (file), or all (nofilter); default: added with a diff, else nofilter",
    )
    check.add_argument("--diff", metavar="FILE", help="a unified diff to filter by (- reads standard input)")
    check.add_argument("--diff-base", metavar="REF", help="filter by `git diff` from REF's merge base")
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
    schema = commands.add_parser(
        "schema", help="print the JSON Schema of .github/blameless.yml (for editors and SchemaStore)"
    )
    schema.set_defaults(run=run_schema)
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
    except UsageError as exc:
        print(f"blameless: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run() -> NoReturn:
    """The `blameless` command: `main`, then out of the process without tearing the interpreter down.

    Freeing every module, rule table and parsed document one by one at exit cost a small file's
    run about 7% of its time, for memory the operating system takes back anyway. Output
    is flushed first, and every file the run writes is closed where it is written; nothing here
    registers work for exit. A reader that went away (`blameless check … | head`) ends the run
    quietly, with exit code 1 unless the run had already decided its own.
    """
    try:
        code = main()
    except BrokenPipeError:
        code = 1  # the rest of the output had no reader
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    except OSError as exc:  # e.g. a full disk under a redirected stdout
        print(f"blameless: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        code = code or 1
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    pattern_store.save_new()  # after the output: only a run that met new patterns writes
    os._exit(code)


if __name__ == "__main__":
    run()
