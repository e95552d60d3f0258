"""The Action's entry point, run as a workflow step would run it, for every job.

Each test writes a simulated runner environment (GITHUB_EVENT_PATH holding a real payload from
@octokit/webhooks-examples, adapted where the scenario needs it; GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, GITHUB_REPOSITORY, GITHUB_EVENT_NAME, INPUT_*), calls
`action.main.main` with a client factory pointed at the shared fake GitHub (or, in the contract
tests, at Prism), and reads back what a workflow would see: the exit code, the workflow commands
on standard output, the outputs and the job summary.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from action.check import ANNOTATIONS_PER_JOB, ANNOTATIONS_PER_LEVEL, job_summary
from action.jobs import WritePace
from action.main import ACTION_ITEMS, CHECK, OPEN_POSTMORTEM, SWEEP, choose_command, main
from action.workflow import SUMMARY_MAX_BYTES
from app.github import markers
from app.github.client import GitHubClient
from app.jobs.open_postmortem.plan import POSTMORTEM_FOR
from checks.batch import MAX_DOCUMENT_BYTES
from checks.engine import check_text
from checks.findings import Finding, Level
from checks.output.formats import all_findings, prioritised
from tests.fake_github import ACTIONS_TOKEN, FakeGitHub, assert_all_routed
from tests.webhook_examples import load_examples

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "postmortems"
CLEAN = (EXAMPLES / "2026-03-14-checkout-latency.md").read_text("utf-8")
BLAMEFUL = (EXAMPLES / "2026-05-02-blameful-draft.md").read_text("utf-8")
OWNERS = ["octo-sre-lead", "octo-db-lead", "octo-platform", "octo-oncall-lead"]
CLEAN_DOC = "docs/postmortems/2026-03-14-checkout-latency.md"
BLAMEFUL_DOC = "docs/postmortems/2026-05-02-blameful-draft.md"
CONFIG = ".github/blameless.yml"
# The webhook examples' repository, so the real payloads need no rewriting of names.
OWNER, REPO = "Codertocat", "Hello-World"
COMMAND = re.compile(r"^::(?P<name>[a-z-]+)(?: (?P<props>[^:]*))?::(?P<message>.*)$")


# --- a simulated runner -------------------------------------------------------------------------


def real_payload(event: str, action: str | None) -> dict:
    """The first api.github.com example of `event.action` from @octokit/webhooks-examples."""
    for example in load_examples({event}, sources=["api.github.com"]):
        if example.action == action:
            return copy.deepcopy(example.payload)
    raise LookupError(f"no example for {event}.{action}")


@dataclass
class Annotation:
    level: str
    properties: dict[str, str]
    message: str


@dataclass
class StepResult:
    exit_code: int
    stdout: str
    outputs: dict[str, str]
    summary: str
    calls: list = field(default_factory=list)

    @property
    def annotations(self) -> list[Annotation]:
        found = []
        for line in self.stdout.splitlines():
            match = COMMAND.match(line)
            if match and match["name"] in ("error", "warning", "notice"):
                props = dict(p.split("=", 1) for p in (match["props"] or "").split(",") if p)
                found.append(Annotation(match["name"], props, match["message"]))
        return found

    def levels(self) -> list[str]:
        return [a.level for a in self.annotations]

    @property
    def created_issues(self) -> list[dict]:
        return json.loads(self.outputs["created-issues"])


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: `name=value` and `name<<DELIMITER` blocks."""
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            outputs[name] = "\n".join(value)
        elif line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


class Runner:
    """One GitHub-hosted runner's view of a step: files, environment, and the fake behind it."""

    def __init__(self, tmp_path: Path, fake: FakeGitHub | None):
        self.tmp = tmp_path
        self.fake = fake
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir()
        self.slept: list[float] = []
        self.factory_calls = 0

    def write(self, path: str, text: str) -> None:
        target = self.workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")

    def client_factory(self, token: str, owner: str, repo: str, api_url: str) -> GitHubClient:
        self.factory_calls += 1
        assert self.fake is not None, "this step must not talk to GitHub"
        assert api_url == "https://api.github.com"
        return GitHubClient.for_token(
            token, owner, repo, base_url=self.fake.base_url, transport=self.fake.transport
        )

    def run(
        self, event_name: str, payload: dict | None, *, factory=None, attempt: str = "1", **inputs: str
    ) -> StepResult:
        event_path = self.tmp / "event.json"
        event_path.write_text(json.dumps(payload or {}), "utf-8")
        output_path, summary_path = self.tmp / "output.txt", self.tmp / "summary.md"
        output_path.write_text("", "utf-8")
        summary_path.write_text("", "utf-8")
        environ = {
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_OUTPUT": str(output_path),
            "GITHUB_STEP_SUMMARY": str(summary_path),
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
            "GITHUB_API_URL": "https://api.github.com",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_RUN_ATTEMPT": attempt,
            "INPUT_TOKEN": ACTIONS_TOKEN,
            "INPUT_CONFIG": CONFIG,
            "INPUT_COMMAND": "auto",
        }
        environ |= {"INPUT_" + k.upper(): v for k, v in inputs.items()}
        out = io.StringIO()
        calls_before = len(self.fake.calls) if self.fake else 0
        code = main(
            [],
            environ=environ,
            out=out,
            client_factory=factory or self.client_factory,
            pace=WritePace(interval=0.0, sleep=self.slept.append),
        )
        return StepResult(
            exit_code=code,
            stdout=out.getvalue(),
            outputs=parse_outputs(output_path.read_text("utf-8")),
            summary=summary_path.read_text("utf-8"),
            calls=self.fake.calls[calls_before:] if self.fake else [],
        )


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub()
    # The step runs on the runner's clock, and GitHub's timestamps (which leases are measured
    # on) are on the same time: the fake's clock starts at the present.
    fake.advance((datetime.now(UTC) - fake.now).total_seconds())
    fake.add_repo(OWNER, REPO, assignable=OWNERS)
    yield fake
    assert_all_routed(fake)


@pytest.fixture
def runner(tmp_path, fake) -> Runner:
    return Runner(tmp_path, fake)


def pull_request_event(fake: FakeGitHub, pull: dict, action: str = "opened") -> dict:
    """The real pull_request example, pointed at the fake's pull request."""
    payload = real_payload("pull_request", action if action != "closed" else "closed")
    payload["action"] = action
    payload["number"] = pull["number"]
    payload["pull_request"].update(
        number=pull["number"], head=pull["head"], base=pull["base"], body=pull["body"]
    )
    return payload


def expected_findings(*documents: tuple[str, str]):
    return prioritised([f for path, text in documents for f in check_text(text, path).findings])


# --- choosing the job ---------------------------------------------------------------------------


def merged(payload: dict) -> dict:
    payload["pull_request"]["merged"] = True
    return payload


def approved(payload: dict) -> dict:
    payload["review"]["state"] = "approved"
    return payload


@pytest.mark.parametrize(
    ("event", "action", "adapt", "expected"),
    [
        ("issues", "labeled", None, OPEN_POSTMORTEM),
        ("issues", "opened", None, None),
        ("issues", "edited", None, None),
        ("issues", "reopened", None, ACTION_ITEMS),
        ("pull_request", "opened", None, CHECK),
        ("pull_request", "synchronize", None, CHECK),
        ("pull_request", "reopened", None, CHECK),
        ("pull_request", "ready_for_review", None, CHECK),
        ("pull_request", "closed", None, None),
        ("pull_request", "closed", merged, ACTION_ITEMS),
        ("pull_request_review", "submitted", None, None),
        ("pull_request_review", "submitted", approved, ACTION_ITEMS),
        ("pull_request_review", "dismissed", None, None),
    ],
)
def test_the_job_is_chosen_from_real_payloads(event, action, adapt, expected):
    payload = real_payload(event, action)
    assert choose_command(event, adapt(payload) if adapt else payload) == expected


def test_events_without_webhook_examples_choose_their_jobs():
    assert choose_command("schedule", {"schedule": "0 6 * * *"}) == SWEEP
    assert choose_command("push", {"ref": "refs/heads/main"}) == CHECK
    assert choose_command("workflow_dispatch", {}) == CHECK
    assert choose_command("issues", {"action": "closed"}) == ACTION_ITEMS
    assert choose_command("merge_group", {}) is None


def test_pull_request_target_never_checks_the_pull_requests_checkout():
    """Under pull_request_target the token can write and the checkout is the base branch:
    the Action only does job 3 there (which reads the PR through the API), never a check."""
    opened = real_payload("pull_request", "opened")
    assert choose_command("pull_request_target", opened) is None
    assert choose_command("pull_request_target", merged(real_payload("pull_request", "closed"))) == (
        ACTION_ITEMS
    )


def test_an_event_without_a_job_succeeds_quietly(runner):
    result = runner.run("issues", real_payload("issues", "edited"))
    assert result.exit_code == 0
    assert "nothing to do for `issues.edited`" in result.stdout
    assert result.annotations == []
    assert result.outputs == {"errors": "0", "warnings": "0", "created-issues": "[]", "sarif-file": ""}
    assert runner.factory_calls == 0


@pytest.mark.parametrize(
    ("inputs", "complaint"),
    [
        ({"fail_on": "sometimes"}, "fail-on: 'sometimes'"),
        ({"command": "deploy"}, "command: 'deploy'"),
    ],
)
def test_bad_inputs_fail_the_step_with_a_usage_error(runner, inputs, complaint):
    result = runner.run("push", {}, **inputs)
    assert result.exit_code == 2
    assert [a.level for a in result.annotations] == ["error"]
    assert complaint in result.annotations[0].message


# --- job 2: check -------------------------------------------------------------------------------


def test_check_annotates_the_most_important_first_within_githubs_caps(runner, fake):
    """The blameful example has more than 10 errors and 10 warnings: GitHub would drop the
    rest silently, so exactly the first 10 of each level (errors before warnings) are
    annotated, the log says how many were held back, and the summary lists every finding."""
    fake.repo(OWNER, REPO).assignable.update({"dave-ops", "sarah-k"})  # engine findings only
    runner.write(BLAMEFUL_DOC, BLAMEFUL)
    runner.write(CLEAN_DOC, CLEAN)
    pull = fake.add_pull(OWNER, REPO, head_sha="a" * 40, files={BLAMEFUL_DOC: BLAMEFUL, CLEAN_DOC: CLEAN})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    findings = expected_findings((BLAMEFUL_DOC, BLAMEFUL), (CLEAN_DOC, CLEAN))
    errors = [f for f in findings if f.level.name == "ERROR"]
    warnings = [f for f in findings if f.level.name == "WARNING"]
    assert len(errors) > ANNOTATIONS_PER_LEVEL and len(warnings) > ANNOTATIONS_PER_LEVEL
    assert result.exit_code == 1  # errors, and the default fail_on is error
    annotated = result.annotations
    assert result.levels() == ["error"] * 10 + ["warning"] * 10
    assert len(annotated) <= ANNOTATIONS_PER_JOB
    expected = [*errors[:10], *warnings[:10]]
    assert [(a.properties["file"], int(a.properties["line"]), a.properties["title"]) for a in annotated] == [
        (f.path, f.line, f.rule) for f in expected
    ]
    held = len(findings) - 20
    assert f"{held} more findings are not annotated" in result.stdout
    assert result.outputs["errors"] == str(len(errors))
    assert result.outputs["warnings"] == str(len(warnings))
    rows = [line for line in result.summary.splitlines() if line.startswith("| `docs/")]
    assert len(rows) == len(findings)
    assert "GitHub shows at most 10 annotations of each level per step" in result.summary
    assert "guardrail share 2 of 4" in result.summary  # the shared renderer's figures
    assert not fake.calls_to("POST") and not fake.calls_to("PATCH")  # read-only


def test_check_reads_only_the_documents_the_pull_request_changes(runner, fake):
    runner.write(BLAMEFUL_DOC, BLAMEFUL)  # in the checkout, but not changed by this PR
    runner.write(CLEAN_DOC, CLEAN)
    pull = fake.add_pull(OWNER, REPO, head_sha="b" * 40, files={CLEAN_DOC: CLEAN})

    result = runner.run("pull_request", pull_request_event(fake, pull, "synchronize"))

    assert result.exit_code == 0
    assert result.annotations == []
    assert result.summary.startswith("### Postmortem checks: No findings")
    assert "Checked 1 postmortem document." in result.summary
    assert result.outputs["errors"] == "0"


def test_a_pull_request_without_postmortems_passes_and_says_so(runner, fake):
    runner.write("src/app.py", "print('hi')\n")
    pull = fake.add_pull(OWNER, REPO, head_sha="c" * 40, files={"src/app.py": "print('hi')\n"})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert result.exit_code == 0
    assert "changes no postmortem document" in result.summary
    assert result.outputs["errors"] == "0" and result.outputs["created-issues"] == "[]"


def test_check_takes_the_config_from_the_base_branch_not_the_pull_request(runner, fake):
    """A pull request cannot relax the checks that judge it: its own config is ignored."""
    runner.write(CONFIG, "fail_on: never\n")  # the PR head's attempt
    runner.write(BLAMEFUL_DOC, BLAMEFUL)
    fake.repo(OWNER, REPO).put_file(CONFIG, "fail_on: error\n")
    pull = fake.add_pull(
        OWNER, REPO, head_sha="d" * 40, files={BLAMEFUL_DOC: BLAMEFUL, CONFIG: "fail_on: never\n"}
    )

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert result.exit_code == 1
    assert fake.calls_to("GET", r"/contents/\.github")  # read through the API


def test_check_reads_the_config_at_the_base_commit(runner, fake):
    repo = fake.repo(OWNER, REPO)
    pull = fake.add_pull(OWNER, REPO, head_sha="e" * 40, files={BLAMEFUL_DOC: BLAMEFUL})
    repo.put_file(CONFIG, "fail_on: never\n", ref=pull["base"]["sha"])
    runner.write(BLAMEFUL_DOC, BLAMEFUL)

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert result.exit_code == 0
    assert result.outputs["errors"] != "0"
    assert [c.query.get("ref") for c in fake.calls_to("GET", "/contents/")] == [pull["base"]["sha"]]


def test_a_broken_config_fails_the_check_and_names_file_line_and_key(runner, fake):
    fake.repo(OWNER, REPO).put_file(CONFIG, "fail_on: error\nrulez: {}\n")
    pull = fake.add_pull(OWNER, REPO, head_sha="f" * 40, files={CLEAN_DOC: CLEAN})
    runner.write(CLEAN_DOC, CLEAN)

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert result.exit_code == 2
    assert result.levels() == ["error"]
    assert "rulez" in result.annotations[0].message and ":2:" in result.annotations[0].message
    assert "the configuration has problems" in result.summary
    assert "`rulez`" in result.summary
    assert result.outputs["errors"] == "1"


@pytest.mark.parametrize(("fail_on", "code"), [("never", 0), ("warning", 1), ("error", 0)])
def test_fail_on_decides_the_exit_code(runner, fake, fail_on, code):
    only_warnings = CLEAN.replace("## Impact\n", "## Impact\n\nThese things happen.\n", 1)
    assert {f.level.name for f in check_text(only_warnings, CLEAN_DOC).findings} == {"WARNING"}
    runner.write(CLEAN_DOC, only_warnings)
    pull = fake.add_pull(OWNER, REPO, head_sha="1" * 40, files={CLEAN_DOC: only_warnings})

    result = runner.run("pull_request", pull_request_event(fake, pull), fail_on=fail_on)

    assert result.exit_code == code
    assert result.outputs["warnings"] != "0"


def test_check_writes_sarif_for_code_scanning(runner, fake):
    fake.repo(OWNER, REPO).assignable.update({"dave-ops", "sarah-k"})  # engine findings only
    runner.write(BLAMEFUL_DOC, BLAMEFUL)
    pull = fake.add_pull(OWNER, REPO, head_sha="2" * 40, files={BLAMEFUL_DOC: BLAMEFUL})

    result = runner.run("pull_request", pull_request_event(fake, pull), sarif_file="reports/blameless.sarif")

    assert result.outputs["sarif-file"] == "reports/blameless.sarif"
    sarif = json.loads((runner.workspace / "reports/blameless.sarif").read_text("utf-8"))
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert len(results) == len(expected_findings((BLAMEFUL_DOC, BLAMEFUL)))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {BLAMEFUL_DOC}  # relative to the repository root, as upload-sarif wants


def test_check_on_push_checks_every_selected_document_without_github(runner):
    """Without a token (and on push, where the checkout is the trusted branch) the check is
    local: the workspace's config and documents, no client is ever built."""
    runner.fake = None
    runner.write(CONFIG, "paths: ['postmortems/**/*.md']\n")
    runner.write("postmortems/2026/blameful.md", BLAMEFUL)
    runner.write("postmortems/clean.md", CLEAN)
    runner.write(BLAMEFUL_DOC, BLAMEFUL)  # not under the configured paths

    result = runner.run("push", {"ref": "refs/heads/main"}, token="")

    assert result.exit_code == 1
    assert runner.factory_calls == 0
    files = {a.properties["file"] for a in result.annotations}
    assert files == {"postmortems/2026/blameful.md"}
    assert "Checked 2 postmortem documents." in result.summary


def test_paths_input_names_what_to_check_with_globs_and_directories(runner, fake):
    runner.write("examples/a/blameful.md", BLAMEFUL)
    runner.write("examples/b/clean.md", CLEAN)
    runner.write("notes/clean.md", CLEAN)

    result = runner.run("workflow_dispatch", {}, paths="examples/a\nnotes/*.md", fail_on="never")

    assert result.exit_code == 0
    assert "Checked 2 postmortem documents." in result.summary
    assert {a.properties["file"] for a in result.annotations} == {"examples/a/blameful.md"}


def test_a_missing_path_is_a_usage_error(runner):
    result = runner.run("push", {}, paths="no/such/dir", token="")
    assert result.exit_code == 2
    assert "no/such/dir" in result.annotations[0].message


def run_within(seconds: float, step):
    """The step's result, or a failure if it has not finished in `seconds` (a FIFO blocks for ever)."""
    done: list = []
    thread = threading.Thread(target=lambda: done.append(step()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"the step did not finish within {seconds} s"
    return done[0]


def test_a_pull_request_cannot_make_the_check_read_outside_the_workspace(runner, fake, tmp_path):
    """A postmortem in the pull request that is a link to /etc/passwd is refused, not read."""
    secret = tmp_path / "secret.md"
    secret.write_text("## Summary\n\nroot:x:0:0:the runner's secret\n", "utf-8")
    runner.write(CLEAN_DOC, CLEAN)
    (runner.workspace / BLAMEFUL_DOC).symlink_to(secret)
    pull = fake.add_pull(OWNER, REPO, head_sha="e" * 40, files={CLEAN_DOC: CLEAN, BLAMEFUL_DOC: "x"})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert result.exit_code == 2
    [error] = result.annotations
    assert error.level == "error" and error.message.startswith(f"{BLAMEFUL_DOC}: a symbolic link")
    assert "the runner's secret" not in result.stdout + result.summary


def test_a_config_linked_out_of_the_workspace_is_refused(runner, tmp_path):
    """Without a token the checkout's own config is read: it must not lead out of the workspace."""
    runner.fake = None
    runner.write("docs/postmortems/clean.md", CLEAN)
    (tmp_path / "elsewhere.yml").write_text("fail_on: never\n", "utf-8")
    (runner.workspace / CONFIG).parent.mkdir(parents=True, exist_ok=True)
    (runner.workspace / CONFIG).symlink_to(tmp_path / "elsewhere.yml")

    result = run_within(20, lambda: runner.run("push", {}, token=""))

    assert result.exit_code == 2
    [error] = result.annotations
    assert error.message.startswith(f"{CONFIG}: a symbolic link that leads out of ")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "oversized", "link-out-of-a-directory"])
def test_the_check_reads_only_regular_files_of_bounded_size(runner, kind, tmp_path):
    runner.fake = None
    runner.write("docs/postmortems/clean.md", CLEAN)
    document = runner.workspace / "docs/postmortems/odd.md"
    if kind == "fifo":
        os.mkfifo(document)
    elif kind == "dev-zero":
        document.symlink_to("/dev/zero")
    elif kind == "oversized":
        document.write_text(CLEAN + "\n" + "x" * MAX_DOCUMENT_BYTES, "utf-8")
    else:
        (tmp_path / "elsewhere.md").write_text(CLEAN, "utf-8")
        document.symlink_to(tmp_path / "elsewhere.md")

    result = run_within(20, lambda: runner.run("push", {}, paths="docs/postmortems", token=""))

    assert result.exit_code == 2
    [error] = result.annotations
    assert error.level == "error" and error.message.startswith("docs/postmortems/odd.md: ")


def test_changed_files_come_from_git_when_the_checkout_has_the_merge_commit(runner, fake):
    """actions/checkout with fetch-depth 2 gives the PR's merge commit and its parents: the
    changed files come from `git diff HEAD^1 HEAD`, and GitHub's file list is not needed."""
    ws = runner.workspace

    def git(*args):
        subprocess.run(["git", "-C", str(ws), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "ci@example.com")
    git("config", "user.name", "CI")
    runner.write(BLAMEFUL_DOC, BLAMEFUL)
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "feature")
    runner.write(CLEAN_DOC, CLEAN)
    git("add", ".")
    git("commit", "-q", "-m", "postmortem")
    head = subprocess.run(
        ["git", "-C", str(ws), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    git("checkout", "-q", "main")
    git("merge", "-q", "--no-ff", "-m", "merge", "feature")
    pull = fake.add_pull(OWNER, REPO, head_sha=head, files={CLEAN_DOC: CLEAN})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert result.exit_code == 0, result.stdout
    assert "Checked 1 postmortem document." in result.summary
    assert not fake.calls_to("GET", r"/pulls/\d+/files")


def test_unassignable_owners_are_reported_as_in_the_app(runner, fake):
    fake.repo(OWNER, REPO).assignable.discard("octo-db-lead")
    runner.write(CLEAN_DOC, CLEAN)
    pull = fake.add_pull(OWNER, REPO, head_sha="4" * 40, files={CLEAN_DOC: CLEAN})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert [a.properties["title"] for a in result.annotations] == ["action-items.owner-not-assignable"]
    assert "octo-db-lead" in result.annotations[0].message


def test_document_text_in_the_log_cannot_act_as_a_workflow_command(runner, fake):
    """Findings quote the document; a PR could put `::` commands in it. The plain listing is
    printed with commands switched off, and annotations escape their message."""
    hostile = BLAMEFUL.replace(
        "These things happen", "These things happen\n::add-mask::x\n%0A::error::forged"
    )
    runner.write(BLAMEFUL_DOC, hostile)
    pull = fake.add_pull(OWNER, REPO, head_sha="5" * 40, files={BLAMEFUL_DOC: hostile})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("::stop-commands::"))
    token = lines[start].removeprefix("::stop-commands::")
    end = lines.index(f"::{token}::")
    listing = lines[start + 1 : end]
    assert all(line.startswith((BLAMEFUL_DOC, "  suggestion: ")) for line in listing[:-1])
    assert listing[-1].startswith("1 postmortem checked, ")
    assert not any("forged" in a.message and a.message.startswith("forged") for a in result.annotations)
    for line in lines[:start] + lines[end + 1 :]:
        assert not line.startswith("::add-mask::")


def test_the_job_summary_stays_under_one_mebibyte(runner, fake):
    """Thousands of findings (in multi-byte text) still give a summary GitHub accepts: the
    table is cut, with a line saying how many rows were left out."""
    line = "Ünïcödé Dave was careless — “human error” again, these things happen.\n"
    huge = BLAMEFUL + "\n## Notes\n\n" + line * 6000
    runner.write(BLAMEFUL_DOC, huge)
    pull = fake.add_pull(OWNER, REPO, head_sha="6" * 40, files={BLAMEFUL_DOC: huge})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    size = len(result.summary.encode("utf-8"))
    assert SUMMARY_MAX_BYTES // 2 < size <= SUMMARY_MAX_BYTES
    assert re.search(r"… and [\d,]+ more findings", result.summary)
    assert result.levels().count("error") == ANNOTATIONS_PER_LEVEL


def test_job_summary_counts_bytes_not_characters():
    text = "Dave was careless: “human error” — ünïcödé.\n" * 300
    results = [check_text(BLAMEFUL + text, BLAMEFUL_DOC)]
    budget = 20_000
    summary = job_summary(results, budget=budget)
    assert len(summary.encode("utf-8")) <= budget
    assert len(all_findings(results)) > summary.count("\n| `")


# --- job 1: open the postmortem -----------------------------------------------------------------


def incident_event(fake: FakeGitHub, issue: dict, label: str = "incident") -> dict:
    payload = real_payload("issues", "labeled")
    current = fake.repo(OWNER, REPO).issues[issue["number"]]
    payload["issue"].update(
        number=current["number"],
        id=current["id"],
        title=current["title"],
        body=current["body"],
        labels=current["labels"],
        created_at=current["created_at"],
    )
    payload["label"] = {**payload["label"], "name": label}
    return payload


def test_an_incident_label_opens_one_postmortem_issue(runner, fake):
    incident = fake.add_issue(OWNER, REPO, "Checkout returned 502s", labels=["incident", "sev1"])
    event = incident_event(fake, incident)

    first = runner.run("issues", event)
    again = runner.run("issues", event)  # a re-run of the same workflow run

    assert first.exit_code == 0, first.stdout
    postmortems = [i for i in fake.issues(OWNER, REPO) if markers.find(i["body"], POSTMORTEM_FOR) is not None]
    assert len(postmortems) == 1
    assert [i["number"] for i in first.created_issues] == [postmortems[0]["number"]]
    assert first.created_issues[0]["title"].startswith("Postmortem: Checkout returned 502s")
    assert f"#{postmortems[0]['number']}" in first.summary
    assert again.exit_code == 0 and again.created_issues == []
    assert "nothing opened" not in again.summary
    comments = fake.comments_on(OWNER, REPO, incident["number"])
    assert len(comments) == 1 and comments[0]["user"]["login"] == "github-actions[bot]"


@pytest.mark.parametrize("login", ["release-bot", "postmortems-app[bot]"])
def test_with_another_token_the_action_knows_its_own_comments(runner, fake, login):
    """A personal or an App's token writes as its own account: the Action asks GitHub who that
    is, so a re-run finds its link comment and opens no second postmortem."""
    fake.add_token("other-token", app_id=None if "[" not in login else 777, login=login)
    incident = fake.add_issue(OWNER, REPO, "Checkout returned 502s", labels=["incident", "sev1"])
    event = incident_event(fake, incident)

    runner.run("issues", event, token="other-token")
    again = runner.run("issues", event, token="other-token")

    assert again.exit_code == 0 and again.created_issues == []
    postmortems = [i for i in fake.issues(OWNER, REPO) if markers.find(i["body"], POSTMORTEM_FOR) is not None]
    assert [p["user"]["login"] for p in postmortems] == [login]


def test_a_link_comment_forged_by_someone_else_does_not_fool_the_action(runner, fake):
    incident = fake.add_issue(OWNER, REPO, "Checkout returned 502s", labels=["incident", "sev1"])
    forged = markers.render("postmortem-link", postmortem=incident["number"])
    fake.add_comment(OWNER, REPO, incident["number"], forged, user="mallory")

    result = runner.run("issues", incident_event(fake, incident))

    assert result.exit_code == 0 and len(result.created_issues) == 1


def test_a_label_that_is_not_an_incident_label_opens_nothing(runner, fake):
    bug = fake.add_issue(OWNER, REPO, "Typo on the pricing page", labels=["bug"])

    result = runner.run("issues", incident_event(fake, bug, label="bug"))

    assert result.exit_code == 0
    assert result.created_issues == []
    assert "nothing opened" in result.summary
    assert len(fake.issues(OWNER, REPO)) == 1


def test_command_input_opens_a_postmortem_for_an_issue_opened_with_the_label(runner, fake):
    incident = fake.add_issue(OWNER, REPO, "Queue backlog", labels=["incident"])
    payload = real_payload("issues", "opened")
    payload["issue"].update(
        number=incident["number"], id=incident["id"], title=incident["title"], labels=incident["labels"]
    )

    result = runner.run("issues", payload, command="open-postmortem")

    assert result.exit_code == 0
    assert len(result.created_issues) == 1


def test_write_jobs_read_the_default_branchs_config_and_report_its_problems(runner, fake):
    fake.repo(OWNER, REPO).put_file(CONFIG, "incidents:\n  labelz: [sev*]\n")
    incident = fake.add_issue(OWNER, REPO, "Checkout returned 502s", labels=["incident"])

    result = runner.run("issues", incident_event(fake, incident))

    assert result.exit_code == 2
    assert "labelz" in result.annotations[0].message
    assert result.created_issues == []
    comment = fake.comments_on(OWNER, REPO, incident["number"])[0]["body"]
    assert "labelz" in comment


def test_transient_github_failures_are_retried_in_the_step(runner, fake):
    """No worker re-queues a job in Actions: the step retries it, honouring retry-after."""
    incident = fake.add_issue(OWNER, REPO, "Checkout returned 502s", labels=["incident"])
    fake.fail_next(502, method="POST", path=r"/issues$")

    result = runner.run("issues", incident_event(fake, incident))

    assert result.exit_code == 0, result.stdout
    assert len(result.created_issues) == 1
    assert len(runner.slept) == 1


def test_a_re_run_attempt_finishes_what_the_failed_attempt_claimed(runner, fake):
    """Attempt 1 claims the incident and then fails; "Re-run failed jobs" (same run id, next
    attempt) takes its own claim up again at once instead of waiting out the claim's lease."""
    fake.advance((datetime.now(UTC) - fake.now).total_seconds())  # claims are fresh, not stale
    incident = fake.add_issue(OWNER, REPO, "Checkout returned 502s", labels=["incident"])
    fake.fail_next(422, method="POST", path=r"/issues$")

    failed = runner.run("issues", incident_event(fake, incident))
    rerun = runner.run("issues", incident_event(fake, incident), attempt="2")

    assert failed.exit_code == 1 and failed.created_issues == []
    assert rerun.exit_code == 0, rerun.stdout
    assert len(rerun.created_issues) == 1
    assert len(fake.comments_on(OWNER, REPO, incident["number"])) == 1  # the claim became the link


def test_a_refused_write_fails_the_step_with_a_permission_hint(runner, fake):
    incident = fake.add_issue(OWNER, REPO, "Checkout returned 502s", labels=["incident"])
    fake.fail_next(403, method="POST", path=r"/comments$", headers={})

    result = runner.run("issues", incident_event(fake, incident))

    assert result.exit_code == 1
    assert result.levels() == ["error"]
    assert "permissions:" in result.annotations[0].message
    request = f"POST /repos/{OWNER}/{REPO}/issues/{incident['number']}/comments"
    assert request in result.annotations[0].message
    assert request in result.summary
    assert ACTIONS_TOKEN not in result.stdout + result.summary


def test_write_jobs_need_a_token(runner):
    result = runner.run("issues", real_payload("issues", "labeled"), token="")
    assert result.exit_code == 2
    assert "needs the `token` input" in result.annotations[0].message


# --- job 3: action items ------------------------------------------------------------------------


def dated(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def merged_pull(fake: FakeGitHub, document: str = CLEAN, head_sha: str = "7" * 40) -> dict:
    pull = fake.add_pull(OWNER, REPO, head_sha=head_sha, files={CLEAN_DOC: document})
    repo = fake.repo(OWNER, REPO)
    repo.pulls[pull["number"]].update(state="closed", merged=True, merge_commit_sha=head_sha)
    return repo.pulls[pull["number"]]


def test_a_merged_postmortem_turns_its_action_items_into_issues_once(runner, fake):
    pull = merged_pull(fake)
    event = pull_request_event(fake, pull, "closed")
    event["pull_request"].update(merged=True, merge_commit_sha=pull["merge_commit_sha"])

    first = runner.run("pull_request", event)
    again = runner.run("pull_request", event)

    assert first.exit_code == 0, first.stdout
    titles = sorted(i["title"] for i in first.created_issues)
    assert len(titles) == 4
    assert any("canary stage" in t for t in titles)
    assert "4 opened" in first.summary
    assert again.exit_code == 0 and again.created_issues == []
    items = [i for i in fake.issues(OWNER, REPO) if "action-item" in {lb["name"] for lb in i["labels"]}]
    assert len(items) == 4
    assert {a["login"] for i in items for a in i["assignees"]} == set(OWNERS)


def test_an_approval_creates_issues_only_when_the_config_says_so(runner, fake):
    pull = fake.add_pull(OWNER, REPO, head_sha="8" * 40, files={CLEAN_DOC: CLEAN})
    review = approved(real_payload("pull_request_review", "submitted"))
    review["review"]["commit_id"] = pull["head"]["sha"]
    review["pull_request"].update(number=pull["number"], head=pull["head"], base=pull["base"], body="")

    on_merge = runner.run("pull_request_review", review)
    fake.repo(OWNER, REPO).put_file(CONFIG, "action_items:\n  create_on: approval\n")
    on_approval = runner.run("pull_request_review", review)

    assert on_merge.exit_code == 0 and on_merge.created_issues == []
    assert "create_on: merge" in on_merge.summary
    assert on_approval.exit_code == 0 and len(on_approval.created_issues) == 4


def test_closing_an_action_item_issue_updates_the_status_lists(runner, fake):
    pull = merged_pull(fake)
    event = pull_request_event(fake, pull, "closed")
    event["pull_request"].update(merged=True, merge_commit_sha=pull["merge_commit_sha"])
    created = runner.run("pull_request", event).created_issues
    number = created[0]["number"]
    issue = fake.repo(OWNER, REPO).issues[number]
    issue["state"] = "closed"
    closed = real_payload("issues", "reopened")
    closed["action"] = "closed"
    closed["issue"] = {**closed["issue"], **issue}
    closed["sender"] = {"login": "octo-sre-lead", "type": "User"}

    result = runner.run("issues", closed)

    assert result.exit_code == 0, result.stdout
    assert "Updated the status lists of 1 postmortem document" in result.summary
    status = [c for c in fake.comments_on(OWNER, REPO, pull["number"]) if "action-items-status" in c["body"]]
    assert len(status) == 1 and f"#{number}" in status[0]["body"]


def test_a_scheduled_run_labels_overdue_action_items(runner, fake):
    document = CLEAN.replace("2026-03-31", dated(-3)).replace("2026-04-15", dated(30))
    document = document.replace("2026-04-30", dated(30))
    pull = merged_pull(fake, document)
    event = pull_request_event(fake, pull, "closed")
    event["pull_request"].update(merged=True, merge_commit_sha=pull["merge_commit_sha"])
    runner.run("pull_request", event)

    sweep = runner.run("schedule", {"schedule": "0 6 * * *", "workflow": ".github/workflows/x.yml"})
    again = runner.run("schedule", {"schedule": "0 6 * * *"})

    assert sweep.exit_code == 0, sweep.stdout
    overdue = [i for i in fake.issues(OWNER, REPO) if "overdue" in {lb["name"] for lb in i["labels"]}]
    assert len(overdue) == 1 and "checkout error rate" in overdue[0]["title"].lower()
    assert "Labelled 1 overdue" in sweep.summary
    assert "Labelled 0 overdue" in again.summary
    # The scheduled run also keeps the health report: in the summary, and in one issue.
    assert [i["title"] for i in sweep.created_issues] == ["Postmortem health"]
    assert again.created_issues == []
    assert "## Postmortem health" in again.summary and "Action items" in again.summary


# --- the contract: every request the Action makes, against GitHub's OpenAPI description --------


class ScriptedAnswers(httpx.BaseTransport):
    """Every request goes to Prism, which checks it against GitHub's description; for the few
    answers a scenario needs real content in (documents, the PR's files, a missing config),
    Prism's canned example is then replaced. Requests are never replaced, only answers."""

    def __init__(self, inner: httpx.BaseTransport, files: dict[str, str], pull_files: list[str]):
        self.inner, self.files, self.pull_files = inner, files, pull_files

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/graphql"):  # not in the REST description: who the token is, answered here
            return httpx.Response(200, json={"data": {"viewer": {"login": "github-actions[bot]"}}})
        answer = self.inner.handle_request(request)
        if request.method == "GET" and "/contents/" in path:
            text = self.files.get(path.split("/contents/", 1)[1])
            if text is None:
                return httpx.Response(404, json={"message": "Not Found"}, request=request)
            return httpx.Response(200, text=text, request=request)
        if request.method == "GET" and re.search(r"/pulls/\d+/files$", path):
            files = [{"filename": name, "status": "added"} for name in self.pull_files]
            return httpx.Response(200, json=files, request=request)
        return answer


@pytest.fixture
def prism_runner(tmp_path, prism_github, prism_url):
    """A Runner whose GitHub is Prism; the test's documents are served as the repository's."""
    runner = Runner(tmp_path, None)
    runner.files, runner.pull_files = {}, []

    def factory(token, owner, repo, api_url):
        transport = ScriptedAnswers(prism_github.recorder.transport(), runner.files, runner.pull_files)
        return GitHubClient.for_token(
            "ghs_contract", owner, repo, base_url=prism_url + "/", transport=transport
        )

    runner.client_factory = factory
    return runner


@pytest.mark.contract
def test_check_requests_pass_githubs_description(prism_runner):
    prism_runner.write(CLEAN_DOC, CLEAN)
    prism_runner.pull_files.append(CLEAN_DOC)

    result = prism_runner.run("pull_request", real_payload("pull_request", "opened"))

    assert result.exit_code == 0, result.stdout
    assert "Checked 1 postmortem document." in result.summary


@pytest.mark.contract
def test_open_postmortem_requests_pass_githubs_description(prism_runner):
    payload = real_payload("issues", "labeled")
    payload["label"]["name"] = "incident"

    result = prism_runner.run("issues", payload)

    assert result.exit_code == 0, result.stdout


@pytest.mark.contract
def test_action_items_requests_pass_githubs_description(prism_runner):
    payload = merged(real_payload("pull_request", "closed"))
    payload["pull_request"]["merge_commit_sha"] = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    prism_runner.files[CLEAN_DOC] = CLEAN
    prism_runner.pull_files.append(CLEAN_DOC)

    result = prism_runner.run("pull_request", payload)

    assert result.exit_code == 0, result.stdout


@pytest.mark.contract
def test_sweep_requests_pass_githubs_description(prism_runner):
    result = prism_runner.run("schedule", {"schedule": "0 6 * * *"})

    assert result.exit_code == 0, result.stdout


def test_multi_line_outputs_use_a_heredoc_delimiter(tmp_path):
    from action.workflow import Workflow

    output = tmp_path / "output"
    output.write_text("", "utf-8")
    workflow = Workflow({"GITHUB_OUTPUT": str(output)}, io.StringIO())
    workflow.set_outputs({"one": "1", "many": "a\nb=c\n<<x"})
    text = output.read_text("utf-8")
    assert re.search(r"^many<<ghadelimiter_[0-9a-f]{32}$", text, re.M)
    assert parse_outputs(text) == {"one": "1", "many": "a\nb=c\n<<x"}


def test_an_explicit_check_under_pull_request_target_refuses(runner, fake):
    runner.write(BLAMEFUL_DOC, BLAMEFUL)
    result = runner.run("pull_request_target", real_payload("pull_request", "opened"), command="check")
    assert result.exit_code == 0
    assert result.levels() == ["warning"] and "pull_request_target" in result.annotations[0].message
    assert fake.calls == []


def test_paths_input_honours_the_config_exclude(runner, fake):
    runner.write(CONFIG, "paths: ['examples/**/*.md']\nexclude: ['examples/a/*.md']\n")
    runner.write("examples/a/blameful.md", BLAMEFUL)
    runner.write("examples/b/clean.md", CLEAN)

    result = runner.run("workflow_dispatch", {}, paths="examples/a/blameful.md examples/b/clean.md")

    assert result.exit_code == 0
    assert "Checked 1 postmortem document." in result.summary
    assert not result.annotations


def test_a_paths_glob_that_matches_nothing_is_warned_about(runner, fake):
    runner.write("examples/b/clean.md", CLEAN)

    result = runner.run("workflow_dispatch", {}, paths="nothing/*.md")

    assert result.exit_code == 0
    warnings = [a.message for a in result.annotations if a.level == "warning"]
    assert any("`nothing/*.md` matches no file" in w for w in warnings)
    assert any("0 postmortems checked" in w for w in warnings)


def test_annotations_are_shared_across_the_files(runner, fake):
    second = "docs/postmortems/2026-05-03-another.md"
    runner.write(BLAMEFUL_DOC, BLAMEFUL)
    runner.write(second, BLAMEFUL)

    result = runner.run("workflow_dispatch", {}, paths=f"{BLAMEFUL_DOC} {second}", fail_on="never")

    errors = [a.properties["file"] for a in result.annotations if a.level == "error"]
    assert len(errors) == 10
    assert errors.count(BLAMEFUL_DOC) == 5 and errors.count(second) == 5


def test_the_steps_own_warnings_count_against_the_cap_and_the_summary_names_the_rest(runner, fake):
    runner.write(BLAMEFUL_DOC, BLAMEFUL)

    result = runner.run("workflow_dispatch", {}, paths=f"nothing/*.md {BLAMEFUL_DOC}", fail_on="never")

    total = int(re.search(r"Postmortem checks: (\d+) findings", result.stdout)[1])
    assert result.levels().count("warning") == 10  # one of them the step's own
    shown = [a for a in result.annotations if a.properties.get("title") != "blameless"]
    assert len(shown) == 19
    held = total - len(shown)
    assert held > 0
    assert f"{held} more findings are not annotated" in result.stdout
    assert f"{len(shown)} of {total} findings are annotated" in result.summary
    listed = [line for line in result.summary.splitlines() if line.startswith(f"> - `{BLAMEFUL_DOC}:")]
    assert len(listed) == held
    annotated = {(a.properties["file"], a.properties["line"], a.properties["title"]) for a in shown}
    for line in listed:
        place, _level, rule = line.removeprefix("> - ").split(" ")
        path, number = place.strip("`").rsplit(":", 1)
        assert (path, number, rule.strip("`")) not in annotated


def test_filter_mode_added_reports_only_what_the_pull_request_changed(runner, fake):
    """An old postmortem with findings, edited by a pull request: with `filter-mode: added`
    only the findings on the lines it adds are reported (the diff from git here)."""
    ws = runner.workspace

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(ws), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("config", "user.email", "ci@example.com")
    git("config", "user.name", "CI")
    runner.write(BLAMEFUL_DOC, BLAMEFUL)
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("checkout", "-q", "-b", "feature")
    edited = BLAMEFUL + "\nAlso, Sarah should have known better.\n"
    runner.write(BLAMEFUL_DOC, edited)
    git("commit", "-q", "-am", "edit")
    head = git("rev-parse", "HEAD")
    git("checkout", "-q", "main")
    git("merge", "-q", "--no-ff", "-m", "merge", "feature")
    pull = fake.add_pull(OWNER, REPO, head_sha=head, files={BLAMEFUL_DOC: edited})
    added_line = edited.count("\n")

    everything = runner.run("pull_request", pull_request_event(fake, pull), fail_on="never")
    only_added = runner.run("pull_request", pull_request_event(fake, pull), filter_mode="added")

    assert len({a.properties["line"] for a in everything.annotations}) > 1
    lines = {int(a.properties["line"]) for a in only_added.annotations}
    assert lines == {added_line}
    assert only_added.exit_code == 1  # the added blame is an error


def test_an_unknown_filter_mode_is_a_usage_error(runner):
    result = runner.run("push", {}, filter_mode="everything", token="")
    assert result.exit_code == 2
    assert "filter-mode" in result.annotations[0].message


def finding_at(path: str, line: int) -> Finding:
    return Finding(path, line, 1, line, 2, "language.moral", "m", Level.ERROR)


def test_file_names_in_the_summary_cannot_close_their_code_span():
    from action.check import _held_listing

    listing = _held_listing([finding_at("docs/a`b.md", 3), finding_at("`x``.md", 1)])
    assert "``docs/a`b.md:3``" in listing
    assert "``` `x``.md:1 ```" in listing


def test_a_refused_file_list_is_logged_with_its_request(runner, fake):
    runner.write(CLEAN_DOC, CLEAN)
    pull = fake.add_pull(OWNER, REPO, head_sha="6" * 40, files={CLEAN_DOC: CLEAN})
    fake.fail_next(403, method="GET", path=r"/pulls/\d+/files$", headers={})

    result = runner.run("pull_request", pull_request_event(fake, pull))

    assert f"GET /repos/{OWNER}/{REPO}/pulls/{pull['number']}/files" in result.stdout
    assert "Checked 1 postmortem document." in result.summary
