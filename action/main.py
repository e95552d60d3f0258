"""The Action's entry point (`python -m action`): pick the job for the event, run it, report.

The job comes from the event that started the workflow, unless the `command` input names one:

| event (`GITHUB_EVENT_NAME`)                      | job                                    |
|--------------------------------------------------|----------------------------------------|
| `issues` labeled                                 | `open-postmortem` (job 1)              |
| `pull_request` opened, synchronize, …            | `check` (job 2, annotations + summary) |
| `pull_request` closed with `merged: true`        | `action-items` (job 3)                 |
| `pull_request_review` submitted, `approved`      | `action-items` (job 3)                 |
| `issues` closed or reopened                      | `action-items` (job 3: status back)    |
| `schedule`                                       | `sweep` (overdue items, health report) |
| `push`, `workflow_dispatch`                      | `check` (every selected document)      |

Whether action items become issues on approval or on merge is the config's `create_on`; job 3
decides, as in the App. Anything else is not an error: the step says so and succeeds.

`main()` takes the environment, the output stream and the GitHub client factory as arguments, so
tests run the real entry point against the shared fake GitHub or Prism.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from action import jobs
from action.github_access import ClientFactory, default_client_factory
from action.jobs import WritePace
from action.workflow import MissingEnvironment, Outcome, Workflow
from checks.cli import EXIT_USAGE, UsageError
from checks.config import DEFAULT_CONFIG_PATH
from checks.diff_filter import FILTER_MODES
from checks.output.safe_markdown import inline

CHECK, OPEN_POSTMORTEM, ACTION_ITEMS, SWEEP = "check", "open-postmortem", "action-items", "sweep"
COMMANDS = (CHECK, OPEN_POSTMORTEM, ACTION_ITEMS, SWEEP)
FAIL_ON_CHOICES = ("error", "warning", "never")
EXIT_JOB_FAILED = 1

# User-facing text.
NOTHING_TO_DO = "Blameless Bot: nothing to do for `{event}{action}`."
NO_TOKEN = "The `{command}` job writes to GitHub and needs the `token` input."
GITHUB_REFUSED = "GitHub refused a request ({error}). {hint}"
REFUSED_SUMMARY = "### Blameless Bot: GitHub refused a request\n\n`{error}`\n\n{hint}"
PERMISSION_HINT = "The job's `permissions:` block may lack what this job needs (see the docs)."
JOBS: dict[str, Callable[..., str]] = {
    OPEN_POSTMORTEM: jobs.open_postmortem,
    ACTION_ITEMS: jobs.action_items,
    SWEEP: jobs.sweep,
}
JOB_TITLES = {
    OPEN_POSTMORTEM: "open the postmortem",
    ACTION_ITEMS: "action items",
    SWEEP: "overdue sweep",
}


@dataclass(frozen=True)
class Inputs:
    """The action's inputs (see action.yml), checked."""

    token: str = ""
    config: str = DEFAULT_CONFIG_PATH
    paths: tuple[str, ...] = ()
    fail_on: str | None = None
    sarif_file: str | None = None
    command: str | None = None
    filter_mode: str = "nofilter"

    @classmethod
    def read(cls, workflow: Workflow) -> Inputs:
        fail_on = workflow.input("fail-on").lower() or None
        if fail_on is not None and fail_on not in FAIL_ON_CHOICES:
            raise UsageError(f"fail-on: {fail_on!r} is not one of {', '.join(FAIL_ON_CHOICES)}")
        command = workflow.input("command").lower() or None
        if command == "auto":
            command = None
        if command is not None and command not in COMMANDS:
            raise UsageError(f"command: {command!r} is not one of auto, {', '.join(COMMANDS)}")
        filter_mode = workflow.input("filter-mode", "nofilter").lower()
        if filter_mode not in FILTER_MODES:
            raise UsageError(f"filter-mode: {filter_mode!r} is not one of {', '.join(FILTER_MODES)}")
        return cls(
            filter_mode=filter_mode,
            token=workflow.input("token"),
            config=workflow.input("config", DEFAULT_CONFIG_PATH),
            paths=tuple(workflow.input("paths").split()),
            fail_on=fail_on,
            sarif_file=workflow.input("sarif-file") or None,
            command=command,
        )


def choose_command(event_name: str, payload: Mapping) -> str | None:
    """The job for this event, or None when the event asks for none (see the module docstring)."""
    action = payload.get("action")
    if event_name == "issues":
        if action == "labeled":
            return OPEN_POSTMORTEM
        return ACTION_ITEMS if action in ("closed", "reopened") else None
    if event_name == "pull_request":
        if action == "closed":
            return ACTION_ITEMS if (payload.get("pull_request") or {}).get("merged") else None
        return CHECK
    if event_name == "pull_request_target":  # a write token: never check the PR's checkout
        merged = (payload.get("pull_request") or {}).get("merged")
        return ACTION_ITEMS if action == "closed" and merged else None
    if event_name == "pull_request_review":
        state = ((payload.get("review") or {}).get("state") or "").lower()
        return ACTION_ITEMS if action == "submitted" and state == "approved" else None
    if event_name == "schedule":
        return SWEEP
    if event_name in ("push", "workflow_dispatch"):
        return CHECK
    return None


# --- running a job ----------------------------------------------------------------------------


def run_check_command(
    workflow: Workflow, inputs: Inputs, payload: dict, client_factory: ClientFactory
) -> Outcome:
    from action.check import CheckRequest, run_check

    request = CheckRequest(
        config_path=inputs.config,
        paths=list(inputs.paths),
        fail_on=inputs.fail_on,
        sarif_file=inputs.sarif_file,
        filter_mode=inputs.filter_mode,
    )
    if not inputs.token:  # local files only: no client, no githubkit to load
        return run_check(workflow, request, payload, None)
    github = _client(workflow, inputs, client_factory)
    return _refusals_reported(workflow, lambda: run_check(workflow, request, payload, github))


def run_write_job(
    command: str,
    workflow: Workflow,
    inputs: Inputs,
    payload: dict,
    client_factory: ClientFactory,
    pace: WritePace,
) -> Outcome:
    """Jobs 1 and 3: the App's job code with the workflow's token and the trusted config."""
    from action.check import report_config_problems
    from action.github_access import record_created_issues, trusted_config

    if not inputs.token:
        raise UsageError(NO_TOKEN.format(command=command))
    github = _client(workflow, inputs, client_factory)
    created = record_created_issues(github)
    event_name = jobs.SWEEP_EVENT if command == SWEEP else workflow.event_name
    if command == SWEEP:
        payload = {**payload, "action": jobs.SWEEP_ACTION}
    # The run id, the same for every attempt: a re-run takes up the claim its failed attempt left.
    delivery = f"actions-{workflow.env('GITHUB_RUN_ID', '0')}"

    def run() -> Outcome:
        config = trusted_config(github, inputs.config)
        ctx = jobs.job_context(event_name, payload, github, config, delivery)
        note = JOBS[command](ctx, pace)
        workflow.line(note)
        _summarise(workflow, command, note, created)
        if command == SWEEP and ctx.config_error is None:
            workflow.append_summary(jobs.health_report(ctx, pace))
        if ctx.config_error is not None:
            report_config_problems(workflow, ctx.config_error)
            return Outcome(EXIT_USAGE, errors=len(ctx.config_error.problems))
        return Outcome(0)

    outcome = _refusals_reported(workflow, run)
    return Outcome(outcome.exit_code, errors=outcome.errors, created_issues=created)


def _client(workflow: Workflow, inputs: Inputs, client_factory: ClientFactory):
    owner, repo = workflow.repository
    return client_factory(inputs.token, owner, repo, workflow.api_url)


def _refusals_reported(workflow: Workflow, run: Callable[[], Outcome]) -> Outcome:
    """Run a job; GitHub's refusals become one error annotation and a failed step."""
    from app.github.client import GitHubError

    try:
        return run()
    except GitHubError as exc:
        hint = PERMISSION_HINT if exc.status in (401, 403, 404) else ""
        workflow.command("error", GITHUB_REFUSED.format(error=exc, hint=hint).strip(), title="blameless")
        workflow.append_summary(REFUSED_SUMMARY.format(error=exc, hint=hint).strip() + "\n")
        return Outcome(EXIT_JOB_FAILED)


def _summarise(workflow: Workflow, command: str, note: str, created: list[dict]) -> None:
    lines = [f"### Blameless Bot: {JOB_TITLES[command]}", "", note, ""]
    if created:
        lines += ["Opened:", ""]
        for issue in created:
            link = f"[#{issue['number']}]({issue.get('html_url', '')})"
            lines.append(f"- {link} {inline(issue.get('title', ''))}")
        lines.append("")
    workflow.append_summary("\n".join(lines))


# --- the entry point --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m action",
        description=(
            "Blameless Bot as a GitHub Action step. Reads the action's inputs (INPUT_*) and the "
            "workflow's environment (GITHUB_*); runs the job the event calls for: "
            + ", ".join(COMMANDS)
            + "."
        ),
    )


def main(
    argv: list[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    client_factory: ClientFactory = default_client_factory,
    pace: WritePace | None = None,
) -> int:
    """Run the step; returns its exit code (0 done, 1 findings or a failed job, 2 usage/config).

    `client_factory` and `pace` are the seams for tests: GitHub and the waiting between writes.
    """
    parser().parse_args(argv)
    workflow = Workflow(os.environ if environ is None else environ, out or sys.stdout)
    try:
        inputs = Inputs.read(workflow)
        payload = workflow.event_payload()
        command = inputs.command or choose_command(workflow.event_name, payload)
        if command is None:
            action = payload.get("action")
            workflow.line(
                NOTHING_TO_DO.format(event=workflow.event_name, action=f".{action}" if action else "")
            )
            outcome = Outcome(0)
        elif command == CHECK:
            outcome = run_check_command(workflow, inputs, payload, client_factory)
        else:
            outcome = run_write_job(command, workflow, inputs, payload, client_factory, pace or WritePace())
    except (UsageError, MissingEnvironment) as exc:
        workflow.command("error", str(exc), title="blameless")
        outcome = Outcome(EXIT_USAGE)
    workflow.set_outputs(outcome.outputs())
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
