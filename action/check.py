"""Job 2 in a workflow: check the postmortem documents in the checkout, and report the Actions way.

Where the App publishes check runs, the Action needs no write permission at all, so it also works
on pull requests from forks (read-only token): it reads the documents from the workspace checkout,
reports findings as workflow-command annotations, writes the job summary with the shared Markdown
renderer, optionally writes SARIF for `github/codeql-action/upload-sarif`, and exits by `fail-on`.

Which documents: the `paths` input when given (files, directories or globs, like the CLI's
arguments); else, on a pull request, the changed files the config selects (from git when the
checkout has the base commit, else from the pull request's file list); else every document the
config selects.

GitHub shows only 10 annotations of each level per step (50 per job), the step's own warnings
included, and drops the rest silently: so the most important go first (errors, then warnings, then
notices, the files taking turns), within what the step's own messages left; the job summary lists
every finding and names each one that was not annotated.
"""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from action.workflow import (
    ANNOTATIONS_PER_JOB,
    ANNOTATIONS_PER_LEVEL,
    SUMMARY_MAX_BYTES,
    Outcome,
    Workflow,
)
from checks.cli import EXIT_USAGE, UsageError, check_files, collect, exit_code
from checks.cli import load_config as load_local_config
from checks.config import DEFAULT_CONFIG_PATH, Config, ConfigError, selects
from checks.diff_filter import filter_results
from checks.findings import Finding, Level, Result
from checks.output import safe_markdown
from checks.output.formats import all_findings, github_command, prioritised, to_sarif, to_text
from checks.output.summary import plural, render_markdown

if TYPE_CHECKING:
    from app.github.client import GitHubClient

SUMMARY_MARGIN = 4096  # room for the notes appended after the rendered summary

# User-facing text.
NO_DOCUMENTS = "### Postmortem checks: nothing to check\n\n{reason}\n"
NO_CHANGED_DOCUMENTS = "This pull request changes no postmortem document (config `paths`: {paths})."
NO_GIVEN_DOCUMENTS = (
    "None of the given `paths` holds a postmortem document (Markdown the config does not exclude)."
)
FILTER_WITHOUT_DIFF = (
    "filter-mode {mode}: the pull request's diff could not be read (no history in the checkout "
    "and no token), so every finding is reported."
)
PATHS_MATCH_NOTHING = "paths: `{glob}` matches no file in the checkout."
NO_SELECTED_DOCUMENTS = "No postmortem document matches the config's `paths` ({paths})."
CAPPED_NOTE = (
    "\n> [!NOTE]\n> GitHub shows at most {per_level} annotations of each level per step "
    "(this step's own messages included): {shown} of {total} findings are annotated on the files. "
    "These {held} are only in the table above and the step's log:\n{listing}"
)
CAPPED_LOG = (
    "{held} more findings are not annotated (GitHub shows {per_level} per level per step, this "
    "step's own messages included): {counts}; see the job summary or the list above."
)
HELD_LISTED = 200  # held findings named one by one in the summary note
CONFIG_TITLE = "### Postmortem checks: the configuration has problems\n\n{problems}\n"
UNTRUSTED_CONFIG = (
    "No token, so the config was read from the pull request's own checkout, which the pull "
    "request can change. Give the step a token (contents: read) to use the base branch's."
)
TARGET_EVENT_WARNING = (
    "pull_request_target checks out the base branch, not the pull request: run the check on "
    "`pull_request` instead (it needs no write permission, so it works for forks too)."
)


@dataclass(frozen=True)
class CheckRequest:
    """What the step was asked to check, from the inputs and the event."""

    config_path: str
    paths: list[str]
    fail_on: str | None  # None: the config's fail_on
    sarif_file: str | None
    filter_mode: str = "nofilter"  # on a pull request: which findings of the change to report


def run_check(
    workflow: Workflow, request: CheckRequest, payload: dict, github: GitHubClient | None
) -> Outcome:
    """The whole check step. `github` is None when there is no token (local files only)."""
    if workflow.event_name == "pull_request_target":
        workflow.command("warning", TARGET_EVENT_WARNING, title="blameless")
        return Outcome(0)
    pull = payload.get("pull_request") if workflow.event_name == "pull_request" else None
    with contextlib.chdir(workflow.workspace):  # findings carry paths relative to the repository
        config = _config(workflow, request, pull, github)
        if isinstance(config, ConfigError):
            report_config_problems(workflow, config)
            return Outcome(EXIT_USAGE, errors=len(config.problems))
        try:
            documents, reason = _documents(workflow, request, config, pull, github)
            # The checkout is the pull request's: a document may be a link to /etc/passwd or a FIFO.
            results = check_files(documents, config, within=Path.cwd())
        except UsageError as exc:
            workflow.command("error", str(exc), title="blameless")
            return Outcome(EXIT_USAGE)
        if github is not None:
            _add_owner_findings(workflow, github, results, config)
        if request.filter_mode != "nofilter":
            results = _filtered(workflow, request.filter_mode, pull, github, results)
        if not results:
            if reason.startswith(NO_CHANGED_DOCUMENTS.split("(")[0]):
                workflow.line(f"0 postmortems checked: {reason}")
            else:  # the `paths` input or the config's `paths` select nothing: likely a mistake
                workflow.command("warning", f"0 postmortems checked: {reason}", title="blameless")
            workflow.append_summary(NO_DOCUMENTS.format(reason=reason))
        else:
            report(workflow, results)
        sarif_file = _write_sarif(request.sarif_file, results)
    findings = all_findings(results)
    return Outcome(
        exit_code(results, request.fail_on or config["fail_on"]),
        errors=sum(1 for f in findings if f.level == Level.ERROR),
        warnings=sum(1 for f in findings if f.level == Level.WARNING),
        sarif_file=sarif_file,
    )


# --- config -----------------------------------------------------------------------------------


def _config(
    workflow: Workflow, request: CheckRequest, pull: dict | None, github: GitHubClient | None
) -> Config | ConfigError:
    """On a pull request, the base commit's config through the API (the checkout holds the PR's
    own, which must not relax the checks that judge it). Elsewhere the checkout is the trusted
    branch itself, so its file is read directly."""
    if pull is not None and github is not None:
        from action.github_access import trusted_config

        return trusted_config(github, request.config_path, ref=pull["base"]["sha"])
    if pull is not None and Path(request.config_path).is_file():
        workflow.command("warning", UNTRUSTED_CONFIG, title="blameless")
    named = None if request.config_path == DEFAULT_CONFIG_PATH else request.config_path
    try:
        return load_local_config(named, within=Path.cwd())  # a pull request's checkout may link out
    except ConfigError as error:
        return error


def report_config_problems(workflow: Workflow, error: ConfigError) -> None:
    """Each problem as an error annotation on the config file (when it is in the checkout), and
    the list in the job summary."""
    from app.github.repo_config import problems_markdown

    for problem in error.problems:
        properties = {"title": "blameless config"}
        path = problem.file.split(":", 1)[-1]  # "owner/repo:.github/blameless.yml" from the API
        if Path(path).is_file():
            properties |= {"file": path, "line": str(max(problem.line, 1))}
        workflow.command("error", str(problem), **properties)
    workflow.append_summary(CONFIG_TITLE.format(problems=problems_markdown(error)))


# --- which documents --------------------------------------------------------------------------


def _documents(
    workflow: Workflow,
    request: CheckRequest,
    config: Config,
    pull: dict | None,
    github: GitHubClient | None,
) -> tuple[list[Path], str]:
    """The documents to check, and what to say if there are none."""
    patterns = ", ".join(f"`{p}`" for p in config["paths"])
    if request.paths:
        names = _expand(workflow, request.paths)
        return collect(names, config, within=Path.cwd(), force_exclude=True), NO_GIVEN_DOCUMENTS
    if pull is not None:
        changed = changed_files(workflow, pull, github)
        if changed is not None:
            # Present in the checkout, whatever it is: a link or a FIFO is refused when read, not skipped.
            documents = [Path(p) for p in changed if selects(config, p) and os.path.lexists(p)]
            return documents, NO_CHANGED_DOCUMENTS.format(paths=patterns)
        workflow.line("Could not tell the changed files apart; checking every document.")
    return collect([], config), NO_SELECTED_DOCUMENTS.format(paths=patterns)


def _expand(workflow: Workflow, paths: list[str]) -> list[str]:
    """Globs expanded (relative to the workspace), a warning for each that matches no file;
    plain names left for `collect` to judge."""
    expanded: list[str] = []
    for name in paths:
        if glob.has_magic(name):
            matches = sorted(glob.glob(name, recursive=True))
            if not matches:
                workflow.command("warning", PATHS_MATCH_NOTHING.format(glob=name), title="blameless")
            expanded += matches
        else:
            expanded.append(name)
    return expanded


def changed_files(workflow: Workflow, pull: dict, github: GitHubClient | None) -> list[str] | None:
    """Files the pull request adds or changes: from git when the checkout has the history, else
    from GitHub's list (a read: no write permission), else None (GitHub's refusal logged)."""
    changed = _git_changed(pull["base"]["sha"], pull["head"]["sha"])
    if changed is None and github is not None:
        from app.github.client import GitHubError

        try:
            files = github.list_pull_files(pull["number"])
        except GitHubError as exc:
            workflow.line(f"GitHub refused the pull request's file list: {exc}")
            return None
        changed = [f["filename"] for f in files if f.get("status") != "removed"]
    return changed


def _filtered(
    workflow: Workflow, mode: str, pull: dict | None, github: GitHubClient | None, results: list[Result]
) -> list[Result]:
    """Only the findings the pull request is responsible for (the `filter-mode` input)."""
    if pull is None:
        workflow.line(f"filter-mode {mode} applies to pull requests; every finding is reported.")
        return results
    diff = pull_diff(workflow, pull, github)
    if diff is None:
        workflow.command("warning", FILTER_WITHOUT_DIFF.format(mode=mode), title="blameless")
        return results
    return filter_results(results, mode, diff)


def pull_diff(workflow: Workflow, pull: dict, github: GitHubClient | None) -> str | None:
    """The pull request's unified diff: from git when the checkout has the history (as for
    `changed_files`), else from the patches in GitHub's file list, else None."""
    diff = _git_diff(pull["base"]["sha"], pull["head"]["sha"], names_only=False)
    if diff is not None or github is None:
        return diff
    from app.github.client import GitHubError

    try:
        files = github.list_pull_files(pull["number"])
    except GitHubError as exc:
        workflow.line(f"GitHub refused the pull request's file list: {exc}")
        return None
    return "".join(
        f"--- a/{f['filename']}\n+++ b/{f['filename']}\n{f['patch']}\n"
        for f in files
        if f.get("status") != "removed" and f.get("patch")
    )


def _git_changed(base_sha: str, head_sha: str) -> list[str] | None:
    names = _git_diff(base_sha, head_sha, names_only=True)
    return None if names is None else [n for n in names.split("\0") if n]


def _git_diff(base_sha: str, head_sha: str, *, names_only: bool) -> str | None:
    """`actions/checkout` of a pull request gives its merge commit, whose second parent is the
    PR's head: with `fetch-depth: 2` the diff from the first parent is exactly the PR's change.
    A checkout with the base commit present diffs from the merge base. Anything else: None."""
    form = ("--name-only", "-z") if names_only else ("--no-color", "--no-ext-diff", "--unified=3")
    if (_git("rev-parse", "--verify", "--quiet", "HEAD^2") or "").strip() == head_sha:
        return _git("diff", *form, "--diff-filter=d", "HEAD^1", "HEAD")
    if _git("cat-file", "-e", f"{base_sha}^{{commit}}") is not None:
        return _git("diff", *form, "--diff-filter=d", f"{base_sha}...HEAD")
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=False,
        )
    except OSError:  # no git on the runner
        return None
    return done.stdout if done.returncode == 0 else None


def _add_owner_findings(
    workflow: Workflow, github: GitHubClient, results: list[Result], config: Config
) -> None:
    """The App's `owner-not-assignable` check (a read of /assignees); skipped, not failed, when
    the token may not read it."""
    from app.github.client import GitHubError
    from app.jobs.check_postmortem import owner_findings

    assignable: dict[str, bool] = {}
    try:
        for result in results:
            found = owner_findings(github, result, config, assignable)
            result.findings = sorted({*result.findings, *found})
    except GitHubError as exc:
        workflow.line(f"Owners not checked for assignability ({exc}).")


# --- reporting --------------------------------------------------------------------------------


def split_annotations(
    findings: list[Finding], used: Counter[str] | None = None
) -> tuple[list[Finding], list[Finding]]:
    """(annotated, not annotated) within GitHub's caps, less the annotations already `used`.

    Errors first, then warnings, then notices; within a level the files take turns (each file's
    first finding, then each file's second, …), so every file with findings gets annotations."""
    used = used or Counter()
    room = {level: max(0, ANNOTATIONS_PER_LEVEL - used[str(level)]) for level in Level}
    job_room = max(0, ANNOTATIONS_PER_JOB - sum(used.values()))
    shown, held = [], []
    for level in sorted(Level, reverse=True):
        for finding in _files_take_turns([f for f in prioritised(findings) if f.level == level]):
            if room[level] > 0 and job_room > 0:
                room[level] -= 1
                job_room -= 1
                shown.append(finding)
            else:
                held.append(finding)
    return shown, held


def _files_take_turns(findings: list[Finding]) -> list[Finding]:
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.path, []).append(finding)
    turns = [
        (rank, path_order, f)
        for path_order, group in enumerate(by_file.values())
        for rank, f in enumerate(group)
    ]
    return [f for _, _, f in sorted(turns, key=lambda t: (t[0], t[1]))]


def report(workflow: Workflow, results: list[Result]) -> None:
    findings = all_findings(results)
    workflow.command("group", f"Postmortem checks: {plural(len(findings), 'finding')}")
    workflow.untrusted(to_text(results))
    workflow.command("endgroup")
    shown, held = split_annotations(findings, workflow.annotated)
    workflow.raw(github_command(f) for f in shown)
    note = ""
    if held:
        counts = ", ".join(
            plural(n, str(level)) for level in sorted(Level, reverse=True) if (n := _count(held, level))
        )
        workflow.line(CAPPED_LOG.format(held=len(held), per_level=ANNOTATIONS_PER_LEVEL, counts=counts))
        note = CAPPED_NOTE.format(
            per_level=ANNOTATIONS_PER_LEVEL,
            shown=len(shown),
            total=len(findings),
            held=len(held),
            listing=_held_listing(held),
        )
    workflow.append_summary(
        job_summary(results, SUMMARY_MAX_BYTES - SUMMARY_MARGIN - len(note.encode())) + note
    )


def _count(findings: list[Finding], level: Level) -> int:
    return sum(1 for f in findings if f.level == level)


def _held_listing(held: list[Finding]) -> str:
    lines = [
        f"> - {safe_markdown.code(f'{f.path}:{f.line}')} {f.level} `{f.rule}`" for f in held[:HELD_LISTED]
    ]
    if len(held) > HELD_LISTED:
        lines.append(f"> - … and {len(held) - HELD_LISTED} more")
    return "\n".join(lines) + "\n"


def job_summary(results: list[Result], budget: int = SUMMARY_MAX_BYTES - SUMMARY_MARGIN) -> str:
    """The shared summary, its findings table cut to fit `budget` bytes of UTF-8.

    The renderer counts characters; emoji and non-Latin text take up to 4 bytes each, so the
    limit shrinks until the encoded text fits (rarely more than one extra render).
    """
    limit = budget
    while True:
        text = render_markdown(results, limit=limit)
        size = len(text.encode("utf-8"))
        if size <= budget:
            return text
        limit = max(1, limit * budget // size - 256)


def _write_sarif(path: str | None, results: list[Result]) -> str:
    if not path:
        return ""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(to_sarif(results), "utf-8")
    return path
