"""Job 2: postmortem documents in a pull request get one check run per family of checks.

Triggered by pull_request (opened, synchronize, reopened, ready_for_review), check_suite
(requested, rerequested) and check_run (rerequested, and the "Check again" button). The files
come from the PR at its head SHA; the config is the base branch's, loaded by the worker (a PR
cannot relax the checks that judge it). A PR that changes no postmortem document gets no runs.

Each family's run goes in_progress, then completed with its annotations (in PATCHes of 50), the
shared Markdown summary and a conclusion (failure at or above `fail_on`). Before completing, a run
makes sure it is still the one that counts: if the PR moved to a newer head, or a newer run of the
same name exists on the same SHA (a second delivery for the same push), it completes as neutral,
"superseded", so a stale result never shows as current.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.github.client import CheckAction, GitHubClient
from app.github.context import DOCS_URL, JobContext
from app.github.repo_config import config_at, problems_markdown
from app.github.router import Router
from app.jobs.action_items.plan import resolve_owner
from checks.config import DEFAULT_CONFIG_PATH, Config, ConfigError, selects
from checks.document.model import ActionItem
from checks.engine import Result, check_text, to_finding
from checks.findings import FAMILIES, Finding, Hit, Level
from checks.output.summary import headline, render_markdown
from checks.rules.action_items import USER_LOGIN
from checks.suppress import Suppressions

log = logging.getLogger(__name__)
router = Router()

CHECK_NAMES = {
    "language": "Postmortem: blameless language",
    "structure": "Postmortem: structure",
    "timeline": "Postmortem: timeline",
    "action-items": "Postmortem: action items",
}
CONFIG_CHECK_NAME = "Postmortem: configuration"
OWNER_NOT_ASSIGNABLE = "action-items.owner-not-assignable"
RECHECK = CheckAction("Check again", "Run the postmortem checks again", "recheck")
ANNOTATION_LEVELS = {Level.ERROR: "failure", Level.WARNING: "warning", Level.NOTICE: "notice"}
FAIL_AT = {"error": Level.ERROR, "warning": Level.WARNING, "never": None}

# User-facing text.
SUPERSEDED_TITLE = "Superseded"
SUPERSEDED_BY_PUSH = "A newer commit was pushed to this pull request; its checks replace this run."
SUPERSEDED_BY_RUN = "A newer run of this check on the same commit replaces this one."
UNFINISHED_TITLE = "The checks could not finish"
UNFINISHED_SUMMARY = (
    "Something went wrong while checking this commit; the bot retries on its own. "
    "If this stays, “Re-run” should start the checks again."
)
CONFIG_TITLE = "The configuration has problems"
CONFIG_SUMMARY = (
    "The postmortem checks did not run, because the configuration they read from the base "
    "branch seems to have problems:\n\n{problems}\n\n"
    "[Configuration reference]({docs}#configuration)"
)


@dataclass(frozen=True)
class Target:
    """What to check: a pull request at one head SHA."""

    number: int
    head_sha: str
    base_ref: str | None = None  # the branch the PR merges into; its config judges the PR


# --- triggers -----------------------------------------------------------------------------------


@router.register(
    "pull_request.opened",
    "pull_request.synchronize",
    "pull_request.reopened",
    "pull_request.ready_for_review",
)
def on_pull_request(ctx: JobContext) -> None:
    pull = ctx.payload["pull_request"]
    base_ref = (pull.get("base") or {}).get("ref")
    run_checks(ctx, Target(pull["number"], pull["head"]["sha"], base_ref), rerun=False)


@router.register("check_suite.requested", "check_suite.rerequested")
def on_check_suite(ctx: JobContext) -> None:
    suite = ctx.payload["check_suite"]
    rerun = ctx.event.action == "rerequested"
    for target in _targets(ctx, suite.get("pull_requests"), suite["head_sha"]):
        run_checks(ctx, target, rerun=rerun)


@router.register("check_run.rerequested", "check_run.requested_action")
def on_check_run(ctx: JobContext) -> None:
    run = ctx.payload["check_run"]
    if run.get("name") not in (*CHECK_NAMES.values(), CONFIG_CHECK_NAME):
        return
    action = (ctx.payload.get("requested_action") or {}).get("identifier")
    if ctx.event.action == "requested_action" and action != RECHECK.identifier:
        return
    for target in _targets(ctx, run.get("pull_requests"), run["head_sha"]):
        run_checks(ctx, target, rerun=True)


def _targets(ctx: JobContext, pulls: list[dict] | None, head_sha: str) -> list[Target]:
    """This repository's PRs at `head_sha`, one per SHA (check runs belong to a commit).

    Fork PRs come with an empty list here; their pull_request events cover them.
    """
    repo_id = ctx.event.repository.get("id")
    seen, targets = set(), []
    for pull in pulls or []:
        base_repo = ((pull.get("base") or {}).get("repo") or {}).get("id")
        if repo_id is not None and base_repo not in (None, repo_id):
            continue
        if head_sha not in seen:
            seen.add(head_sha)
            targets.append(Target(pull["number"], head_sha, (pull.get("base") or {}).get("ref")))
    return targets


# --- the job ------------------------------------------------------------------------------------


def base_config(ctx: JobContext, target: Target) -> tuple[Config, ConfigError | None]:
    """The config of the PR's base branch: the worker loaded the default branch's, which is the
    base of most PRs; a PR into another branch (a release branch) is judged by that branch's file."""
    default = ctx.event.repository.get("default_branch")
    if not target.base_ref or not default or target.base_ref == default or ctx.config_error is not None:
        return ctx.config, ctx.config_error
    loaded = config_at(ctx.github, target.base_ref)
    if isinstance(loaded, ConfigError):
        return ctx.config, loaded
    return (loaded or ctx.config), None  # no file on the base branch: the default branch's or the org's


def run_checks(ctx: JobContext, target: Target, *, rerun: bool) -> None:
    github = ctx.github
    config, config_error = base_config(ctx, target)
    files = github.list_pull_files(target.number)
    documents = [
        f["filename"] for f in files if f.get("status") != "removed" and selects(config, f["filename"])
    ]
    if config_error is not None:
        changed = {f["filename"] for f in files}
        if documents or DEFAULT_CONFIG_PATH in changed:
            report_config_problem(ctx, target, config_error, rerun=rerun)
        return
    if not documents:
        return  # no postmortem in this PR: no runs, no noise
    existing = github.list_check_runs(target.head_sha)
    if not rerun and _already_checked(existing, CHECK_NAMES.values()):
        return
    if ctx.dry_run:
        results = check_documents(github, target.head_sha, documents, config)
        log.info("dry run: would publish", extra={"findings": sum(len(r.findings) for r in results)})
        return
    runs: dict[str, dict] = {}
    spinning = _spinning(existing)
    finished = set() if rerun else _finished(existing)  # by an attempt that died after them
    try:
        for (
            family,
            name,
        ) in CHECK_NAMES.items():  # inside the try: a failure on the third leaves none spinning
            if family in finished:
                continue
            runs[family] = spinning.get(family) or github.create_check_run(
                name, target.head_sha, external_id=f"blameless:{family}"
            )
        results = check_documents(github, target.head_sha, documents, config)
        reason = superseded(github, target, runs)
        if reason:
            stand_down(github, runs, reason)
            return
        publish(github, runs, results, config)
    except Exception:
        abandon(github, runs)
        raise


def _spinning(runs: list[dict]) -> dict[str, dict]:
    """Our runs still in progress on the SHA, by family: a worker died while they ran (deliveries
    for a repository run one at a time), and its retry takes them over instead of leaving them
    spinning beside new ones."""
    found = {}
    for run in sorted(runs, key=lambda r: r["id"]):
        family = (run.get("external_id") or "").removeprefix("blameless:")
        if run.get("status") != "completed" and CHECK_NAMES.get(family) == run.get("name"):
            found.setdefault(family, run)
    return found


def _finished(runs: list[dict]) -> set[str]:
    """The families whose run on the SHA holds a result already (not given up, not superseded)."""
    latest: dict[str, dict] = {}
    for run in sorted(runs, key=lambda r: r["id"]):
        family = (run.get("external_id") or "").removeprefix("blameless:")
        if CHECK_NAMES.get(family) == run.get("name"):
            latest[family] = run
    return {
        family
        for family, run in latest.items()
        if run.get("status") == "completed"
        and (run.get("output") or {}).get("title") not in (UNFINISHED_TITLE, SUPERSEDED_TITLE)
    }


def _already_checked(runs: list[dict], names) -> bool:
    """Every family has a finished run on this SHA already (another trigger of the same push).

    Runs this job gave up on do not count, so the worker's retry of a failed job does check; nor
    do runs still in progress: deliveries for a repository run one at a time, so a run in progress
    now belongs to a worker that died, and would otherwise block the commit for good.
    """
    live = {
        run["name"]
        for run in runs
        if run.get("status") == "completed" and (run.get("output") or {}).get("title") != UNFINISHED_TITLE
    }
    return set(names) <= live


def check_documents(github: GitHubClient, head_sha: str, paths: list[str], config: Config) -> list[Result]:
    """Each document read at the head SHA and checked, owners checked for assignability too."""
    results, assignable = [], {}
    for path in paths:
        text = github.get_file(path, ref=head_sha)
        if text is None:
            continue  # gone at this SHA (a later rename, a submodule): nothing to check
        result = check_text(text, path, config)
        result.findings = sorted({*result.findings, *owner_findings(github, result, config, assignable)})
        results.append(result)
    return results


def owner_findings(
    github: GitHubClient, result: Result, config: Config, cache: dict[str, bool]
) -> list[Finding]:
    """`action-items.owner-not-assignable` for each single owner GitHub will not assign.

    Only well-formed single owners are asked about: the engine already reports missing, multiple
    and malformed owners. A team owner is checked through the user the config maps it to.
    """
    doc, found = result.document, []
    suppressions = Suppressions.from_document(doc)
    for item in doc.action_items:
        login = _single_login(item, config)
        if login is None:
            continue
        if login.lower() not in cache:
            cache[login.lower()] = github.is_assignable(login)
        if cache[login.lower()]:
            continue
        hit = Hit(OWNER_NOT_ASSIGNABLE, item.owner_span or item.text_span, params={"match": login})
        finding = to_finding(doc, hit, config)
        if finding and not suppressions.suppressed(finding.rule, finding.line):
            found.append(finding)
    return found


def _single_login(item: ActionItem, config: Config) -> str | None:
    """The login job 3 would assign (a team through `team_owners`, as job 3 maps it)."""
    if item.owner_text is not None and "@" not in item.owner_text:
        return None  # "Sarah": the engine reports the format; there is no one to ask about
    owner = resolve_owner(item, config)
    login = owner.login if owner else None
    return login if login and USER_LOGIN.fullmatch(login) else None


# --- publishing ---------------------------------------------------------------------------------


def superseded(github: GitHubClient, target: Target, runs: dict[str, dict]) -> str | None:
    """Why these runs no longer count, if they do not: a newer head, or newer runs."""
    if github.get_pull(target.number)["head"]["sha"] != target.head_sha:
        return SUPERSEDED_BY_PUSH
    ours = {run["name"]: run["id"] for run in runs.values()}
    for run in github.list_check_runs(target.head_sha):
        if run["name"] in ours and run["id"] > ours[run["name"]]:
            return SUPERSEDED_BY_RUN
    return None


def publish(github: GitHubClient, runs: dict[str, dict], results: list[Result], config: Config):
    fail_at = FAIL_AT[config["fail_on"]]
    for family in (f for f in FAMILIES if f in runs):
        findings = [f for r in results for f in r.findings if f.family == family]
        failing = fail_at is not None and any(f.level >= fail_at for f in findings)
        github.complete_check_run(
            runs[family]["id"],
            conclusion="failure" if failing else "success",
            title=headline(findings),
            summary=render_markdown(results, family=family),
            annotations=[annotation(f) for f in findings],
            actions=[RECHECK] if failing else (),
        )


def annotation(finding: Finding) -> dict:
    """A finding as a check run annotation: rule id as title, the why and link in details."""
    message = finding.message
    if finding.suggestion:
        message += f"\n\nSuggestion: {finding.suggestion}"
    out = {
        "path": finding.path,
        "start_line": finding.line,
        "end_line": max(finding.line, finding.end_line),
        "annotation_level": ANNOTATION_LEVELS[finding.level],
        "message": message,
        "title": finding.rule,
        "raw_details": f"{finding.why}\n\n{finding.link}".strip(),
    }
    if out["start_line"] == out["end_line"]:
        # Finding columns end exclusive; GitHub's end_column is the last column covered.
        out["start_column"] = finding.column
        out["end_column"] = max(finding.column, finding.end_column - 1)
    return out


def stand_down(github: GitHubClient, runs: dict[str, dict], reason: str) -> None:
    for run in runs.values():
        github.complete_check_run(run["id"], conclusion="neutral", title=SUPERSEDED_TITLE, summary=reason)


def abandon(github: GitHubClient, runs: dict[str, dict]) -> None:
    """Best effort: leave no run spinning forever when the job fails (the retry makes new ones)."""
    for run in runs.values():
        try:
            github.complete_check_run(
                run["id"], conclusion="neutral", title=UNFINISHED_TITLE, summary=UNFINISHED_SUMMARY
            )
        except Exception:  # GitHub is failing us already; the original error is what matters
            log.warning("could not close an abandoned check run", extra={"run": run["id"]})


def report_config_problem(ctx: JobContext, target: Target, error: ConfigError, *, rerun: bool) -> None:
    """One failing run that names file, line and key, in place of the family runs."""
    github = ctx.github
    if not rerun and _already_checked(github.list_check_runs(target.head_sha), [CONFIG_CHECK_NAME]):
        return
    if ctx.dry_run:
        log.info("dry run: would report config problems", extra={"count": len(error.problems)})
        return
    run = github.create_check_run(CONFIG_CHECK_NAME, target.head_sha)
    summary = CONFIG_SUMMARY.format(problems=problems_markdown(error), docs=DOCS_URL)
    github.complete_check_run(
        run["id"], conclusion="failure", title=CONFIG_TITLE, summary=summary, actions=[RECHECK]
    )
