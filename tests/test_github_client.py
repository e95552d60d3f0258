"""GitHubClient: the limits it keeps, the traps it avoids, and the errors it maps, on the fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.github.client import (
    API_VERSION,
    CheckAction,
    GitHubClient,
    GitHubError,
    NotFound,
    TransientGitHubError,
    truncate,
)
from tests.fake_github import FakeGitHub, assert_all_routed

OWNER, REPO = "octo-org", "octo-repo"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, files={"docs/a.md": "# A\n"}, assignable=["alice", "Bob"])
    yield fake
    assert_all_routed(fake)


@pytest.fixture
def github(fake) -> GitHubClient:
    return fake.client(OWNER, REPO)


def annotations(count: int) -> list[dict]:
    return [
        {
            "path": "a.md",
            "start_line": n,
            "end_line": n,
            "annotation_level": "notice",
            "message": "m",
        }
        for n in range(1, count + 1)
    ]


def test_completing_a_run_sends_annotations_in_batches_of_50_and_concludes_last(fake, github):
    run = github.create_check_run("Postmortem: structure", "abc")
    github.complete_check_run(
        run["id"], conclusion="failure", title="t", summary="s", annotations=annotations(120)
    )
    patches = fake.calls_to("PATCH", "/check-runs/")
    assert [len(c.json["output"]["annotations"]) for c in patches] == [50, 50, 20]
    assert [c.json.get("conclusion") for c in patches] == [None, None, "failure"]
    stored = fake.repo(OWNER, REPO).check_runs[run["id"]]
    assert len(stored["annotations"]) == 120 and stored["status"] == "completed"


def test_completing_a_run_without_annotations_is_one_request(fake, github):
    run = github.create_check_run("c", "abc")
    github.complete_check_run(run["id"], conclusion="success", title="t", summary="s")
    assert len(fake.calls_to("PATCH")) == 1


def test_long_summaries_titles_and_bodies_are_cut_to_fit(fake, github):
    run = github.create_check_run("c", "abc")
    github.complete_check_run(
        run["id"], conclusion="success", title="t", summary="x" * 70000, text="y" * 70000
    )
    issue = github.create_issue("t" * 300, "b" * 70000)
    assert len(issue["title"]) == 256 and len(issue["body"]) <= 65536
    assert issue["body"].endswith("(truncated: GitHub limits this text)")
    comment = github.create_comment(issue["number"], "c" * 70000)
    assert len(comment["body"]) <= 65536


def test_annotation_levels_and_actions_are_checked_before_sending(github):
    run = github.create_check_run("c", "abc")
    bad = [{**annotations(1)[0], "annotation_level": "error"}]
    with pytest.raises(ValueError):
        github.complete_check_run(run["id"], conclusion="success", title="t", summary="s", annotations=bad)
    with pytest.raises(ValueError):
        github.complete_check_run(
            run["id"],
            conclusion="success",
            title="t",
            summary="s",
            actions=[CheckAction("a", "b", "c")] * 4,
        )
    with pytest.raises(ValueError):
        CheckAction("a", "b", "x" * 21).as_json()
    assert CheckAction("x" * 30, "y" * 50, "id").as_json() == {
        "label": "x" * 20,
        "description": "y" * 40,
        "identifier": "id",
    }


def test_columns_are_dropped_from_multi_line_annotations(fake, github):
    run = github.create_check_run("c", "abc")
    multi = {**annotations(1)[0], "end_line": 3, "start_column": 2, "end_column": 5}
    github.complete_check_run(run["id"], conclusion="success", title="t", summary="s", annotations=[multi])
    sent = fake.calls_to("PATCH")[-1].json["output"]["annotations"][0]
    assert "start_column" not in sent and "end_column" not in sent


def test_every_request_and_every_page_pins_the_api_version(fake, github):
    for n in range(230):
        fake.add_issue(OWNER, REPO, f"i{n}", labels=["postmortem"])
    assert len(github.list_issues(labels="postmortem")) == 230
    pages = fake.calls_to("GET", "/issues$")
    assert len(pages) == 3
    assert {c.api_version for c in fake.calls} == {API_VERSION}


def test_list_issues_leaves_pull_requests_out(fake, github):
    fake.add_issue(OWNER, REPO, "issue")
    fake.add_pull(OWNER, REPO, head_sha="abc", files={"docs/a.md": "x"})
    assert [i["title"] for i in github.list_issues()] == ["issue"]


def test_pull_files_are_paginated(fake, github):
    files = {f"docs/{n}.md": "x" for n in range(250)}
    pull = fake.add_pull(OWNER, REPO, head_sha="abc", files=files)
    assert len(github.list_pull_files(pull["number"])) == 250


def test_files_read_raw_at_a_ref_and_missing_is_none(fake, github):
    fake.repo(OWNER, REPO).put_file("docs/a.md", "# At sha\n", ref="abc")
    assert github.get_file("docs/a.md") == "# A\n"
    assert github.get_file("docs/a.md", ref="abc") == "# At sha\n"
    assert github.get_file("docs/missing.md") is None
    assert "raw" in fake.calls_to("GET", "/contents/")[0].headers["accept"]


def test_conditional_read_answers_not_modified(github):
    first = github.get_file_if_changed("docs/a.md")
    again = github.get_file_if_changed("docs/a.md", etag=first.etag)
    assert again.not_modified and again.text is None and again.etag == first.etag


def test_assign_checks_first_and_reports_who_was_not_assigned(fake, github):
    issue = github.create_issue("t", "b")
    assigned, left = github.assign(issue["number"], ["alice", "mallory", "bob"])
    assert assigned == ["alice", "bob"] and left == ["mallory"]
    assert not fake.calls_to("POST", "/issues$")[0].json.get("assignees")


def test_sub_issue_takes_the_id_and_tolerates_a_repeat(fake, github):
    parent, child = github.create_issue("p", ""), github.create_issue("c", "")
    with pytest.raises(TypeError):
        github.add_sub_issue(parent["number"], str(child["id"]))
    with pytest.raises(NotFound):
        github.add_sub_issue(parent["number"], child["number"])  # a number is not an id
    assert github.add_sub_issue(parent["number"], child["id"]) is True
    assert github.add_sub_issue(parent["number"], child["id"]) is True
    assert fake.repo(OWNER, REPO).sub_issues[parent["number"]] == [child["id"]]


def test_sub_issue_falls_back_on_ghes():
    fake = FakeGitHub(ghes=True, base_url="https://ghe.example.com/api/v3")
    fake.add_repo(OWNER, REPO)
    github = fake.client(OWNER, REPO)
    parent, child = github.create_issue("p", ""), github.create_issue("c", "")
    assert github.add_sub_issue(parent["number"], child["id"]) is False


def test_upsert_comment_finds_its_marker_and_skips_unchanged_writes(fake, github):
    issue = github.create_issue("t", "")
    marker = "<!-- blameless-bot:status -->"
    first = github.upsert_comment(issue["number"], marker, f"{marker}\none")
    github.upsert_comment(issue["number"], marker, f"{marker}\none")
    second = github.upsert_comment(issue["number"], marker, f"{marker}\ntwo")
    assert first["id"] == second["id"]
    assert [c["body"] for c in fake.comments_on(OWNER, REPO, issue["number"])] == [f"{marker}\ntwo"]
    assert len(fake.calls_to("PATCH", "/comments/")) == 1


def test_upsert_comment_needs_its_marker_in_the_body(github):
    with pytest.raises(ValueError):
        github.upsert_comment(1, "<!-- m -->", "no marker")


def test_ensure_label_creates_once_with_colour(fake, github):
    github.ensure_label("postmortem", "#5319e7", "d")
    github.ensure_label("postmortem", "#5319e7", "d")
    assert fake.repo(OWNER, REPO).labels["postmortem"]["color"] == "5319e7"
    assert len(fake.calls_to("POST", "/labels$")) == 1
    other = fake.client(OWNER, REPO)  # another worker finds it made: no error
    other.ensure_label("postmortem", "5319e7")


def test_transient_failures_become_one_exception(fake, github):
    fake.fail_next(502, method="POST")
    with pytest.raises(TransientGitHubError) as error:
        github.create_issue("one", "")
    assert error.value.status == 502
    fake.fail_next(None, method="POST")
    with pytest.raises(TransientGitHubError):
        github.create_issue("one", "")
    fake.fail_next(429, method="POST", headers={"retry-after": "7"})
    with pytest.raises(TransientGitHubError) as error:
        github.create_issue("one", "")
    assert error.value.retry_after == 7
    assert fake.issues(OWNER, REPO) == []  # a write is sent once: the worker retries it


def test_a_read_is_retried_in_place_briefly_honouring_retry_after(fake, github, monkeypatch):
    slept = []
    monkeypatch.setattr("app.github.session.time.sleep", slept.append)
    fake.fail_next(502, method="GET", count=2)
    assert github.get_repository()["name"] == REPO
    assert len(fake.calls_to("GET", f"/repos/{OWNER}/{REPO}$")) == 3
    assert len(slept) == 2 and all(0 < s <= 4 for s in slept) and slept[0] < 0.3
    slept.clear()
    fake.fail_next(403, method="GET", headers={"retry-after": "3"})
    github.get_repository()
    assert slept == [3.0]  # GitHub's wait, to the second
    slept.clear()
    fake.fail_next(403, method="GET", headers={"retry-after": "60"})
    with pytest.raises(TransientGitHubError) as error:  # too long to wait in a thread
        github.get_repository()
    assert error.value.retry_after == 60 and slept == []
    fake.fail_next(None, method="GET", count=4)
    with pytest.raises(TransientGitHubError):  # a few tries, then the worker's turn
        github.get_repository()
    assert len(slept) == 3 and sum(slept) < 8


def test_secondary_rate_limit_is_transient_with_githubs_advice():
    fake = FakeGitHub(secondary_limit=1)
    fake.add_repo(OWNER, REPO)
    github = fake.client(OWNER, REPO)
    github.create_issue("one", "")
    with pytest.raises(TransientGitHubError) as error:
        github.create_issue("two", "")
    assert error.value.status == 403 and error.value.retry_after == 60


def test_permanent_failures_are_not_transient(fake, github):
    with pytest.raises(NotFound):
        github.get_issue(999)
    with pytest.raises(GitHubError) as error:
        github.create_issue("", "")
    assert error.value.status == 422 and not isinstance(error.value, TransientGitHubError)


def test_draft_pull_request_steps(fake, github):
    sha = github.get_branch_sha("main")
    assert github.create_branch("blameless/pm-1", sha) is True
    assert github.create_branch("blameless/pm-1", sha) is False
    github.put_file("docs/pm.md", "# PM\n", branch="blameless/pm-1", message="Add")
    assert github.get_file("docs/pm.md", ref="blameless/pm-1") == "# PM\n"
    pull = github.create_pull(title="t", head="blameless/pm-1", base="main", body="b", draft=True)
    assert pull["draft"] is True
    assert github.list_pulls(head=f"{OWNER}:blameless/pm-1", state="all")[0]["number"] == pull["number"]


def test_truncate_keeps_short_text_and_says_when_it_cuts():
    assert truncate("abc", 10) == "abc"
    cut = truncate("x" * 100, 60)
    assert len(cut) == 60 and cut.endswith("(truncated: GitHub limits this text)")


# --- contract: every request the client can make, against GitHub's OpenAPI description -----------


@pytest.mark.contract
def test_every_client_request_passes_githubs_description(prism_github):
    github = prism_github()
    github.get_repository()
    github.get_file(".github/blameless.yml")
    github.get_file_if_changed("docs/postmortems/a.md", "abc123", etag='"etag"')
    github.get_branch_sha("main")
    github.create_branch("blameless/postmortem-1", "6dcb09b5b57875f334f61aebed695e2e4193db5e")
    github.put_file("docs/postmortems/a.md", "# PM\n", branch="blameless/postmortem-1", message="Add")
    github.get_pull(1)
    github.list_pull_files(1)
    github.list_pulls(head="octo-org:blameless/postmortem-1", state="all")
    github.create_pull(title="t", head="blameless/postmortem-1", base="main", body="b", draft=True)
    run = github.create_check_run("Postmortem: structure", "6dcb09b5b57875f334f61aebed695e2e4193db5e")
    github.get_check_run(run["id"])
    github.list_check_runs("6dcb09b5b57875f334f61aebed695e2e4193db5e", name="Postmortem: structure")
    github.complete_check_run(
        run["id"],
        conclusion="failure",
        title="1 error",
        summary="s" * 70000,
        text="t",
        annotations=[
            {**a, "start_column": 1, "end_column": 4, "title": "rule", "raw_details": "why"}
            for a in annotations(60)
        ],
        actions=[CheckAction("Check again", "Run the postmortem checks again", "recheck")],
    )
    issue = github.create_issue("t" * 300, "b", labels=["postmortem"])
    github.get_issue(issue["number"])
    github.update_issue(issue["number"], body="b2", state="closed", state_reason="not_planned")
    github.list_issues(labels="postmortem", state="all")
    github.list_timeline(1)
    github.list_comments(1)
    comment = github.create_comment(1, "c")
    github.update_comment(comment["id"], "c2")
    github.delete_comment(comment["id"])
    github.ensure_label("postmortem", "5319e7", "A blameless postmortem")
    github._json("POST", "/labels", json={"name": "x", "color": "5319e7", "description": "d"})
    github.add_labels(1, ["postmortem"])
    github.remove_label(1, "postmortem")
    github.is_assignable("octocat")
    github.add_assignees(1, ["octocat"])
    github.list_sub_issues(1)
    github.add_sub_issue(1, 987654)
