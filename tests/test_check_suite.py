"""Job 2 on the shared fake: postmortem documents in a PR get one check run per family."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.github.client import TransientGitHubError
from app.github.context import JobContext
from app.github.events import Event
from app.github.repo_config import ETagCache, load_config
from app.github.session import READ_TRIES
from app.jobs.check_postmortem import (
    CHECK_NAMES,
    CONFIG_CHECK_NAME,
    OWNER_NOT_ASSIGNABLE,
    SUPERSEDED_BY_PUSH,
    SUPERSEDED_BY_RUN,
    UNFINISHED_TITLE,
    on_check_run,
    on_check_suite,
    on_pull_request,
)
from checks.config import ConfigError, parse_config
from tests.fake_github import FakeGitHub, assert_all_routed

OWNER, REPO = "octo-org", "octo-repo"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "postmortems"
CLEAN = (EXAMPLES / "2026-03-14-checkout-latency.md").read_text("utf-8")
BLAMEFUL = (EXAMPLES / "2026-05-02-blameful-draft.md").read_text("utf-8")
OWNERS = ["octo-sre-lead", "octo-db-lead", "octo-platform", "octo-oncall-lead"]
DOC = "docs/postmortems/2026-03-14-checkout-latency.md"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, assignable=OWNERS)
    yield fake
    assert_all_routed(fake)


def repository(fake: FakeGitHub) -> dict:
    return {
        "id": fake.repo(OWNER, REPO).id,
        "name": REPO,
        "full_name": f"{OWNER}/{REPO}",
        "owner": {"login": OWNER},
        "default_branch": "main",
    }


def pr_event(fake, pull, action="opened", delivery="d-pr") -> Event:
    payload = {
        "action": action,
        "number": pull["number"],
        "pull_request": dict(pull),
        "repository": repository(fake),
        "installation": {"id": 1},
        "sender": {"login": "octocat", "type": "User"},
    }
    return Event("pull_request", delivery, payload)


def suite_pulls(fake, pull) -> list[dict]:
    return [
        {
            "number": pull["number"],
            "head": {"sha": pull["head"]["sha"]},
            "base": {"ref": "main", "repo": {"id": fake.repo(OWNER, REPO).id}},
        }
    ]


def suite_event(fake, pull, action="requested", pulls=None) -> Event:
    suite = {
        "id": 1,
        "head_sha": pull["head"]["sha"],
        "pull_requests": suite_pulls(fake, pull) if pulls is None else pulls,
    }
    payload = {
        "action": action,
        "check_suite": suite,
        "repository": repository(fake),
        "installation": {"id": 1},
        "sender": {"login": "octocat", "type": "User"},
    }
    return Event("check_suite", f"d-suite-{action}", payload)


def run_event(fake, pull, name, action="rerequested", identifier=None) -> Event:
    run = {
        "id": 1,
        "name": name,
        "head_sha": pull["head"]["sha"],
        "pull_requests": suite_pulls(fake, pull),
    }
    payload = {
        "action": action,
        "check_run": run,
        "repository": repository(fake),
        "installation": {"id": 1},
        "sender": {"login": "octocat", "type": "User"},
    }
    if identifier:
        payload["requested_action"] = {"identifier": identifier}
    return Event("check_run", f"d-run-{action}", payload)


def context(fake, event, config=None, **kw) -> JobContext:
    return fake.job_context(OWNER, REPO, event, config, **kw)


def pull_with(fake, files, sha="head1") -> dict:
    return fake.add_pull(OWNER, REPO, head_sha=sha, files=files)


def runs(fake, sha="head1") -> dict[str, dict]:
    """The latest run per name on `sha`, with its stored annotations."""
    latest: dict[str, dict] = {}
    for run in sorted(fake.check_runs(OWNER, REPO, head_sha=sha), key=lambda r: r["id"]):
        latest[run["name"]] = run
    return latest


def rules(run: dict) -> set[str]:
    return {a["title"] for a in run["annotations"]}


# --- one run per family -------------------------------------------------------------------------


def test_a_clean_postmortem_gets_four_successful_runs(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_pull_request(context(fake, pr_event(fake, pull)))
    found = runs(fake)
    assert set(found) == set(CHECK_NAMES.values())
    for run in found.values():
        assert (run["status"], run["conclusion"]) == ("completed", "success")
        assert run["output"]["title"] == "No findings" and run["annotations"] == []
        assert run["actions"] == []
    created = fake.calls_to("POST", "/check-runs$")
    assert {c.json["status"] for c in created} == {"in_progress"}


def test_findings_become_annotations_and_errors_fail_their_family(fake):
    pull = pull_with(fake, {"docs/postmortems/2026-05-02-search.md": BLAMEFUL})
    on_pull_request(context(fake, pr_event(fake, pull)))
    found = runs(fake)
    items = found[CHECK_NAMES["action-items"]]
    assert items["conclusion"] == "failure"
    assert "action-items.reminder" in rules(items)
    assert {a["annotation_level"] for a in items["annotations"]} <= {"failure", "warning", "notice"}
    assert all(a["path"] == "docs/postmortems/2026-05-02-search.md" for a in items["annotations"])
    assert [a["identifier"] for a in items["actions"]] == ["recheck"]
    assert "### Action items" in items["output"]["summary"]
    timeline = found[CHECK_NAMES["timeline"]]
    assert timeline["conclusion"] == "success" and timeline["annotations"]  # warnings only


def test_more_than_50_findings_are_sent_in_batches(fake):
    body = "# Postmortem\n\n## Summary\n\n" + "".join(f"- TODO: item {n}\n" for n in range(130))
    pull = pull_with(fake, {"docs/postmortems/many.md": body})
    on_pull_request(context(fake, pr_event(fake, pull)))
    structure = runs(fake)[CHECK_NAMES["structure"]]
    assert len(structure["annotations"]) > 100
    assert all(len(c.json["output"].get("annotations", [])) <= 50 for c in fake.calls_to("PATCH"))
    assert all(c.status == 200 for c in fake.calls_to("PATCH"))


def test_a_pr_without_postmortems_gets_no_runs(fake):
    pull = pull_with(
        fake,
        {
            "src/app.py": "print()\n",
            "docs/postmortems/README.md": "index\n",
            "docs/postmortems/old.md": None,
        },
    )
    on_pull_request(context(fake, pr_event(fake, pull)))
    assert fake.calls_to(None, "/check-runs") == []


def test_the_base_branch_config_judges_not_the_pr_head(fake):
    """The PR tries to relax the checks in its own head; the default branch's config applies."""
    repo = fake.repo(OWNER, REPO)
    repo.put_file(".github/blameless.yml", "fail_on: warning\n")
    pull = pull_with(
        fake,
        {
            "docs/postmortems/2026-05-02-search.md": BLAMEFUL,
            ".github/blameless.yml": "fail_on: never\n",
        },
    )
    github = fake.client(OWNER, REPO)
    config = load_config(github, ETagCache())
    on_pull_request(context(fake, pr_event(fake, pull), config))
    assert runs(fake)[CHECK_NAMES["timeline"]]["conclusion"] == "failure"  # warnings fail
    config_reads = fake.calls_to("GET", "/contents/.github/blameless.yml")
    assert config_reads and all("ref" not in c.query for c in config_reads)


def test_a_pr_into_another_branch_is_judged_by_that_branch_config(fake):
    """A PR into release/1.x uses release/1.x's config, not the default branch's."""
    repo = fake.repo(OWNER, REPO)
    repo.put_file(".github/blameless.yml", "fail_on: warning\n")
    repo.put_file(".github/blameless.yml", "fail_on: never\n", ref="release/1.x")
    pull = fake.add_pull(
        OWNER,
        REPO,
        head_sha="head1",
        base="release/1.x",
        files={"docs/postmortems/2026-05-02-search.md": BLAMEFUL},
    )
    github = fake.client(OWNER, REPO)
    on_pull_request(context(fake, pr_event(fake, pull), load_config(github, ETagCache())))
    assert {run["conclusion"] for run in runs(fake).values()} == {"success"}
    reads = fake.calls_to("GET", "/contents/.github/blameless.yml")
    assert any(c.query.get("ref") == "release/1.x" for c in reads)


@pytest.mark.parametrize(
    ("fail_on", "conclusion"), [("error", "success"), ("warning", "failure"), ("never", "success")]
)
def test_fail_on_sets_the_level_that_fails(fake, fail_on, conclusion):
    pull = pull_with(fake, {"docs/postmortems/2026-05-02-search.md": BLAMEFUL})
    on_pull_request(context(fake, pr_event(fake, pull), parse_config(f"fail_on: {fail_on}\n")))
    assert runs(fake)[CHECK_NAMES["timeline"]]["conclusion"] == conclusion


# --- owners -------------------------------------------------------------------------------------


def test_owners_who_cannot_be_assigned_are_reported(fake):
    fake.repo(OWNER, REPO).assignable.discard("octo-db-lead")
    pull = pull_with(fake, {DOC: CLEAN})
    on_pull_request(context(fake, pr_event(fake, pull)))
    items = runs(fake)[CHECK_NAMES["action-items"]]
    assert items["conclusion"] == "failure"
    [note] = [a for a in items["annotations"] if a["title"] == OWNER_NOT_ASSIGNABLE]
    assert "@octo-db-lead" in note["message"] and note["start_line"] == 60
    asked = [c.path.rsplit("/", 1)[-1] for c in fake.calls_to("GET", "/assignees/")]
    assert sorted(asked) == sorted(OWNERS)  # each owner asked once, octo-platform included


def test_a_team_owner_is_checked_through_its_mapped_user_as_job_3_maps_it(fake):
    """`team_owners` keys may carry the @ and any case: job 2 asks about the user job 3 assigns."""
    fake.repo(OWNER, REPO).assignable.discard("octo-db-lead")
    pull = pull_with(fake, {DOC: CLEAN.replace("@octo-db-lead", "@Octo-Org/Database")})
    config = parse_config(
        "action_items:\n  owners: users-and-teams\n  team_owners:\n    '@octo-org/database': octo-db-lead\n"
    )
    on_pull_request(context(fake, pr_event(fake, pull), config))
    [note] = [
        a
        for a in runs(fake)[CHECK_NAMES["action-items"]]["annotations"]
        if a["title"] == OWNER_NOT_ASSIGNABLE
    ]
    assert "@octo-db-lead" in note["message"]


def test_an_unassignable_owner_can_be_suppressed_inline(fake):
    fake.repo(OWNER, REPO).assignable.clear()
    text = CLEAN.replace(
        "| AI-1 |", "| AI-1 <!-- blameless-disable-line action-items.owner-not-assignable --> |"
    )
    pull = pull_with(fake, {DOC: text})
    on_pull_request(context(fake, pr_event(fake, pull)))
    flagged = [
        a["start_line"]
        for a in runs(fake)[CHECK_NAMES["action-items"]]["annotations"]
        if a["title"] == OWNER_NOT_ASSIGNABLE
    ]
    assert 59 not in flagged and 60 in flagged


# --- triggers, reruns and superseding -----------------------------------------------------------


def test_the_second_trigger_of_one_push_adds_nothing(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_pull_request(context(fake, pr_event(fake, pull, action="synchronize")))
    on_check_suite(context(fake, suite_event(fake, pull)))
    on_pull_request(context(fake, pr_event(fake, pull, action="ready_for_review")))
    assert len(fake.check_runs(OWNER, REPO)) == 4


def test_check_suite_requested_checks_the_suites_pull_request(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_check_suite(context(fake, suite_event(fake, pull)))
    assert len(runs(fake)) == 4


def test_fork_suites_without_pull_requests_do_nothing(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_check_suite(context(fake, suite_event(fake, pull, pulls=[])))
    assert fake.calls == []


def test_rerun_makes_new_runs(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_pull_request(context(fake, pr_event(fake, pull)))
    on_check_run(context(fake, run_event(fake, pull, CHECK_NAMES["structure"])))
    on_check_suite(context(fake, suite_event(fake, pull, action="rerequested")))
    assert len(fake.check_runs(OWNER, REPO)) == 12


def test_the_check_again_button_reruns_and_unknown_buttons_do_not(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_pull_request(context(fake, pr_event(fake, pull)))
    name = CHECK_NAMES["action-items"]
    on_check_run(context(fake, run_event(fake, pull, name, "requested_action", "recheck")))
    on_check_run(context(fake, run_event(fake, pull, name, "requested_action", "other")))
    on_check_run(context(fake, run_event(fake, pull, "someone else's check")))
    assert len(fake.check_runs(OWNER, REPO)) == 8


def test_a_newer_push_supersedes_a_run_in_flight(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    pushed = []

    def push_meanwhile(call):
        if not pushed:
            pushed.append(fake.push(OWNER, REPO, pull["number"], "head2", {DOC: CLEAN + "\n"}))

    fake.before("GET", r"/pulls/\d+$", push_meanwhile)
    on_pull_request(context(fake, pr_event(fake, pull)))
    for run in runs(fake, "head1").values():
        assert run["conclusion"] == "neutral" and run["output"]["summary"] == SUPERSEDED_BY_PUSH
        assert run["annotations"] == []


def test_a_newer_run_of_the_same_commit_supersedes_an_older_one(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    github = fake.client(OWNER, REPO)
    newer = []

    def rerun_meanwhile(call):
        if not newer:
            newer.extend(github.create_check_run(name, "head1") for name in CHECK_NAMES.values())

    fake.before("GET", r"/pulls/\d+$", rerun_meanwhile)
    on_pull_request(context(fake, pr_event(fake, pull)))
    older = [r for r in fake.check_runs(OWNER, REPO) if r["id"] not in {n["id"] for n in newer}]
    assert {(r["conclusion"], r["output"]["summary"]) for r in older} == {("neutral", SUPERSEDED_BY_RUN)}


def test_a_failure_half_way_leaves_no_run_spinning(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    fake.fail_next(502, method="GET", path="/contents/", count=READ_TRIES)  # past the tries in place
    with pytest.raises(TransientGitHubError):
        on_pull_request(context(fake, pr_event(fake, pull)))
    assert {(r["status"], r["conclusion"]) for r in fake.check_runs(OWNER, REPO)} == {
        ("completed", "neutral")
    }
    assert {r["output"]["title"] for r in fake.check_runs(OWNER, REPO)} == {UNFINISHED_TITLE}
    on_pull_request(context(fake, pr_event(fake, pull)))  # the worker's retry
    assert {r["conclusion"] for r in runs(fake).values()} == {"success"}


def test_a_failure_while_creating_the_runs_leaves_none_spinning(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    creates = []

    def fail_the_second(call):
        creates.append(call)
        if len(creates) == 2:
            fake.fail_next(502, method="POST", path=r"/check-runs$")

    fake.before("POST", r"/check-runs$", fail_the_second)
    with pytest.raises(TransientGitHubError):
        on_pull_request(context(fake, pr_event(fake, pull)))
    made = fake.check_runs(OWNER, REPO)
    assert len(made) == 1 and made[0]["status"] == "completed" and made[0]["conclusion"] == "neutral"


def test_runs_left_in_progress_by_a_dead_worker_do_not_block_the_commit(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    github = fake.client(OWNER, REPO)
    for name in CHECK_NAMES.values():  # a worker created the runs, then died
        github.create_check_run(name, pull["head"]["sha"], external_id="blameless:dead")
    on_check_suite(context(fake, suite_event(fake, pull)))
    assert {r["conclusion"] for r in runs(fake).values()} == {"success"}


def test_dry_run_publishes_nothing(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_pull_request(context(fake, pr_event(fake, pull), dry_run=True))
    assert [c for c in fake.calls if c.method != "GET"] == []


# --- a broken config ----------------------------------------------------------------------------


def broken() -> ConfigError:
    try:
        parse_config("fail_on: sometimes\n", file=f"{OWNER}/{REPO}:.github/blameless.yml")
    except ConfigError as error:
        return error
    raise AssertionError("the config should be refused")


def test_a_broken_config_is_one_failing_run_naming_file_line_and_key(fake):
    pull = pull_with(fake, {DOC: CLEAN})
    on_pull_request(context(fake, pr_event(fake, pull), broken()))
    on_check_suite(context(fake, suite_event(fake, pull), broken()))
    [run] = fake.check_runs(OWNER, REPO)
    assert run["name"] == CONFIG_CHECK_NAME and run["conclusion"] == "failure"
    assert f"`{OWNER}/{REPO}:.github/blameless.yml`, line 1, key `fail_on`" in run["output"]["summary"]


def test_a_broken_config_is_silent_on_prs_without_postmortems(fake):
    pull = pull_with(fake, {"src/app.py": "print()\n"})
    on_pull_request(context(fake, pr_event(fake, pull), broken()))
    assert fake.check_runs(OWNER, REPO) == []
    fixing = pull_with(fake, {".github/blameless.yml": "fail_on: error\n"}, sha="fix1")
    on_pull_request(context(fake, pr_event(fake, fixing), broken()))
    assert [r["name"] for r in fake.check_runs(OWNER, REPO)] == [CONFIG_CHECK_NAME]


# --- contract: the same job against Prism serving GitHub's OpenAPI description -------------------

PRISM_HEAD = "6dcb09b5b57875f334f61aebed695e2e4193db5e"  # the head SHA in the spec's PR example


@pytest.mark.contract
def test_contract_pull_request_scenario(prism_github):
    """Every request job 2 sends (files, contents, runs, annotations, actions) is valid."""
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO)
    pull = pull_with(fake, {"file1.txt": "x"}, sha=PRISM_HEAD)
    # Prism's example PR changes "file1.txt": let the config select it, so the job runs in full.
    config = parse_config("paths: ['**']\nexclude: []\nfail_on: warning\n")
    ctx = JobContext(event=pr_event(fake, pull), github=prism_github(), config=config)
    on_pull_request(ctx)
    sent = [(e.method, e.path.split("/", 4)[-1]) for e in prism_github.recorder.exchanges]
    assert sent.count(("POST", "check-runs")) == 4
    assert any(method == "PATCH" for method, _ in sent)


@pytest.mark.contract
def test_contract_config_problem_run(prism_github):
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO)
    pull = pull_with(fake, {"docs/postmortems/x.md": "x"}, sha=PRISM_HEAD)
    github = prism_github()
    github.list_pull_files = lambda number: [{"filename": "docs/postmortems/x.md", "status": "added"}]
    github.list_check_runs = lambda ref, name=None: []
    on_pull_request(JobContext(event=pr_event(fake, pull), github=github, config=broken()))
    sent = [(e.method, e.path.split("/", 4)[-1]) for e in prism_github.recorder.exchanges]
    assert ("POST", "check-runs") in sent and any(m == "PATCH" for m, _ in sent)
