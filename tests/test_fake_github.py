"""The shared fake GitHub enforces GitHub's documented limits, so behaviour tests fail where
production would. Requests here go straight through httpx, past GitHubClient's own guards."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fake_github import ACTIONS_TOKEN, APP_TOKEN, FakeGitHub, assert_all_routed

OWNER, REPO = "octo-org", "octo-repo"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, files={"README.md": "hello\n"}, assignable=["alice"])
    yield fake
    assert_all_routed(fake)


def http(fake: FakeGitHub, token: str = APP_TOKEN, version: str | None = "2022-11-28"):
    headers = {"Authorization": f"token {token}"}
    if version:
        headers["X-GitHub-Api-Version"] = version
    return httpx.Client(base_url=fake.base_url, transport=fake.transport, headers=headers)


def repo_path(suffix: str) -> str:
    return f"/repos/{OWNER}/{REPO}{suffix}"


def annotation(n: int = 1, level: str = "warning") -> dict:
    return {
        "path": "a.md",
        "start_line": n,
        "end_line": n,
        "annotation_level": level,
        "message": "m",
    }


def new_run(client: httpx.Client) -> int:
    response = client.post(repo_path("/check-runs"), json={"name": "c", "head_sha": "abc"})
    assert response.status_code == 201
    return response.json()["id"]


def output(**extra) -> dict:
    return {"title": "t", "summary": "s", **extra}


# --- check runs -----------------------------------------------------------------------------------


def test_more_than_50_annotations_in_one_request_is_refused_and_changes_nothing(fake):
    client = http(fake)
    run_id = new_run(client)
    refused = client.patch(
        repo_path(f"/check-runs/{run_id}"),
        json={"output": output(annotations=[annotation(i) for i in range(1, 52)])},
    )
    assert refused.status_code == 422
    assert fake.repo(OWNER, REPO).check_runs[run_id]["annotations"] == []


def test_annotations_append_across_updates(fake):
    client = http(fake)
    run_id = new_run(client)
    for _ in range(3):
        batch = [annotation(i) for i in range(1, 51)]
        ok = client.patch(repo_path(f"/check-runs/{run_id}"), json={"output": output(annotations=batch)})
        assert ok.status_code == 200
    assert len(fake.repo(OWNER, REPO).check_runs[run_id]["annotations"]) == 150


@pytest.mark.parametrize("key", ["summary", "text"])
def test_output_text_over_65535_characters_is_refused(fake, key):
    client = http(fake)
    run_id = new_run(client)
    body = {"output": output(**{key: "x" * 65536})}
    assert client.patch(repo_path(f"/check-runs/{run_id}"), json=body).status_code == 422
    body = {"output": output(**{key: "x" * 65535})}
    assert client.patch(repo_path(f"/check-runs/{run_id}"), json=body).status_code == 200


def test_annotation_level_error_does_not_exist(fake):
    client = http(fake)
    run_id = new_run(client)
    body = {"output": output(annotations=[annotation(level="error")])}
    assert client.patch(repo_path(f"/check-runs/{run_id}"), json=body).status_code == 422


def action(label="Check again", description="Run the checks again", identifier="recheck"):
    return {"label": label, "description": description, "identifier": identifier}


@pytest.mark.parametrize(
    "actions",
    [
        [action()] * 4,
        [action(label="x" * 21)],
        [action(description="x" * 41)],
        [action(identifier="x" * 21)],
        [action(label="")],
    ],
    ids=["four-actions", "long-label", "long-description", "long-identifier", "empty-label"],
)
def test_check_run_actions_outside_the_limits_are_refused(fake, actions):
    client = http(fake)
    run_id = new_run(client)
    body = {"conclusion": "success", "output": output(), "actions": actions}
    assert client.patch(repo_path(f"/check-runs/{run_id}"), json=body).status_code == 422


def test_three_actions_within_the_limits_are_accepted(fake):
    client = http(fake)
    run_id = new_run(client)
    body = {
        "conclusion": "success",
        "output": output(),
        "actions": [action("x" * 20, "y" * 40, "z" * 20)] * 3,
    }
    assert client.patch(repo_path(f"/check-runs/{run_id}"), json=body).status_code == 200


def test_only_the_app_that_created_a_check_run_may_update_it(fake):
    run_id = new_run(http(fake, ACTIONS_TOKEN))
    response = http(fake, APP_TOKEN).patch(repo_path(f"/check-runs/{run_id}"), json={"conclusion": "success"})
    assert response.status_code == 403
    assert "can only be modified by the GitHub App that created it" in response.json()["message"]


def test_completed_needs_a_conclusion(fake):
    client = http(fake)
    run_id = new_run(client)
    assert client.patch(repo_path(f"/check-runs/{run_id}"), json={"status": "completed"}).status_code == 422


def test_columns_only_on_single_line_annotations(fake):
    client = http(fake)
    run_id = new_run(client)
    bad = {**annotation(), "end_line": 3, "start_column": 1, "end_column": 2}
    body = {"output": output(annotations=[bad])}
    assert client.patch(repo_path(f"/check-runs/{run_id}"), json=body).status_code == 422


# --- issues ---------------------------------------------------------------------------------------


def test_issue_title_and_body_limits(fake):
    client = http(fake)
    assert client.post(repo_path("/issues"), json={"title": "x" * 257}).status_code == 422
    assert client.post(repo_path("/issues"), json={"title": "t", "body": "x" * 65537}).status_code == 422
    assert (
        client.post(repo_path("/issues"), json={"title": "x" * 256, "body": "x" * 65536}).status_code == 201
    )


def test_comment_body_limit(fake):
    issue = fake.add_issue(OWNER, REPO, "incident")
    path = repo_path(f"/issues/{issue['number']}/comments")
    assert http(fake).post(path, json={"body": "x" * 65537}).status_code == 422


def test_issue_id_is_not_its_number_and_node_id_differs(fake):
    created = http(fake).post(repo_path("/issues"), json={"title": "t"}).json()
    assert created["id"] != created["number"]
    assert created["node_id"] and created["node_id"] != str(created["id"])


def test_an_unassignable_assignee_on_create_refuses_the_whole_issue(fake):
    response = http(fake).post(repo_path("/issues"), json={"title": "t", "assignees": ["alice", "mallory"]})
    assert response.status_code == 422
    assert "mallory" in response.json()["errors"][0]["message"]
    assert fake.issues(OWNER, REPO) == []


def test_add_assignees_silently_drops_the_unassignable(fake):
    issue = fake.add_issue(OWNER, REPO, "t")
    path = repo_path(f"/issues/{issue['number']}/assignees")
    response = http(fake).post(path, json={"assignees": ["alice", "mallory"]})
    assert response.status_code == 201
    assert [a["login"] for a in response.json()["assignees"]] == ["alice"]


def test_assignability_check_is_204_or_404(fake):
    client = http(fake)
    assert client.get(repo_path("/assignees/alice")).status_code == 204
    assert client.get(repo_path("/assignees/mallory")).status_code == 404


def test_issue_list_includes_pull_requests_like_github(fake):
    fake.add_issue(OWNER, REPO, "an issue", labels=["postmortem"])
    fake.add_pull(OWNER, REPO, head_sha="abc", files={"a.md": "x"})
    listed = http(fake).get(repo_path("/issues"), params={"state": "all"}).json()
    assert sorted("pull_request" in i for i in listed) == [False, True]


def test_labels_filter_needs_every_label_and_missing_labels_are_auto_created_grey(fake):
    fake.add_issue(OWNER, REPO, "a", labels=["incident", "sev1"])
    fake.add_issue(OWNER, REPO, "b", labels=["incident"])
    listed = http(fake).get(repo_path("/issues"), params={"labels": "incident,sev1"}).json()
    assert [i["title"] for i in listed] == ["a"]
    assert fake.repo(OWNER, REPO).labels["sev1"]["color"] == "ededed"


def test_creating_an_existing_label_is_422(fake):
    client = http(fake)
    body = {"name": "postmortem", "color": "5319e7"}
    assert client.post(repo_path("/labels"), json=body).status_code == 201
    assert client.post(repo_path("/labels"), json={**body, "name": "PostMortem"}).status_code == 422


# --- sub-issues -----------------------------------------------------------------------------------


def sub_issues(number: int) -> str:
    return repo_path(f"/issues/{number}/sub_issues")


def test_sub_issue_id_must_be_an_integer(fake):
    parent, child = fake.add_issue(OWNER, REPO, "p"), fake.add_issue(OWNER, REPO, "c")
    response = http(fake).post(sub_issues(parent["number"]), json={"sub_issue_id": str(child["id"])})
    assert response.status_code == 422


def test_sub_issue_id_must_be_the_id_not_the_number(fake):
    parent, child = fake.add_issue(OWNER, REPO, "p"), fake.add_issue(OWNER, REPO, "c")
    client = http(fake)
    assert (
        client.post(sub_issues(parent["number"]), json={"sub_issue_id": child["number"]}).status_code == 404
    )
    assert client.post(sub_issues(parent["number"]), json={"sub_issue_id": child["id"]}).status_code == 201
    listed = client.get(sub_issues(parent["number"])).json()
    assert [i["number"] for i in listed] == [child["number"]]


def test_at_most_100_sub_issues_and_no_duplicates_and_one_parent(fake):
    client = http(fake)
    parent = fake.add_issue(OWNER, REPO, "p")
    children = [fake.add_issue(OWNER, REPO, f"c{i}") for i in range(101)]
    for child in children[:100]:
        assert (
            client.post(sub_issues(parent["number"]), json={"sub_issue_id": child["id"]}).status_code == 201
        )
    assert (
        client.post(sub_issues(parent["number"]), json={"sub_issue_id": children[100]["id"]}).status_code
        == 422
    )
    assert (
        client.post(sub_issues(parent["number"]), json={"sub_issue_id": children[0]["id"]}).status_code == 422
    )
    other = fake.add_issue(OWNER, REPO, "other parent")
    assert (
        client.post(sub_issues(other["number"]), json={"sub_issue_id": children[0]["id"]}).status_code == 422
    )


def test_ghes_has_no_sub_issues_and_only_the_2022_api_version():
    fake = FakeGitHub(ghes=True, base_url="https://ghe.example.com/api/v3")
    fake.add_repo(OWNER, REPO)
    parent, child = fake.add_issue(OWNER, REPO, "p"), fake.add_issue(OWNER, REPO, "c")
    client = http(fake)
    assert client.post(sub_issues(parent["number"]), json={"sub_issue_id": child["id"]}).status_code == 404
    assert http(fake, version="2026-03-10").get(repo_path("")).status_code == 400
    assert client.get(repo_path("")).json()["full_name"] == f"{OWNER}/{REPO}"


# --- contents, pagination, auth -------------------------------------------------------------------


def test_contents_answer_304_to_a_matching_etag(fake):
    client = http(fake)
    raw = {"Accept": "application/vnd.github.raw+json"}
    first = client.get(repo_path("/contents/README.md"), headers=raw)
    assert first.status_code == 200 and first.text == "hello\n"
    again = client.get(
        repo_path("/contents/README.md"), headers={**raw, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    fake.repo(OWNER, REPO).put_file("README.md", "changed\n")
    changed = client.get(
        repo_path("/contents/README.md"), headers={**raw, "If-None-Match": first.headers["etag"]}
    )
    assert changed.status_code == 200 and changed.text == "changed\n"


def test_lists_paginate_with_a_link_header(fake):
    for n in range(5):
        fake.add_issue(OWNER, REPO, f"i{n}")
    client = http(fake)
    first = client.get(repo_path("/issues"), params={"per_page": 2})
    assert len(first.json()) == 2 and first.links["next"]["url"].endswith("page=2")
    last = client.get(repo_path("/issues"), params={"per_page": 2, "page": 3})
    assert len(last.json()) == 1 and "next" not in last.links


def test_bad_token_is_401_and_unknown_api_version_is_400(fake):
    assert http(fake, token="nope").get(repo_path("")).status_code == 401
    assert http(fake, version="2099-01-01").get(repo_path("")).status_code == 400


def test_a_token_narrowed_to_other_repositories_sees_404(fake):
    fake.add_token("narrow", app_id=1, login="x[bot]", repos=["octo-org/elsewhere"])
    assert http(fake, token="narrow").get(repo_path("")).status_code == 404


# --- trouble on demand ----------------------------------------------------------------------------


def test_secondary_rate_limit_after_n_writes_per_window():
    fake = FakeGitHub(secondary_limit=2, window=60)
    fake.add_repo(OWNER, REPO)
    client = http(fake)
    assert client.post(repo_path("/issues"), json={"title": "1"}).status_code == 201
    assert client.get(repo_path("/issues")).status_code == 200  # reads do not count
    assert client.post(repo_path("/issues"), json={"title": "2"}).status_code == 201
    limited = client.post(repo_path("/issues"), json={"title": "3"})
    assert limited.status_code == 403 and limited.headers["retry-after"] == "60"
    assert "secondary rate limit" in limited.json()["message"]
    fake.advance(60)
    assert client.post(repo_path("/issues"), json={"title": "3"}).status_code == 201
    assert [i["title"] for i in fake.issues(OWNER, REPO)] == ["1", "2", "3"]


def test_injected_5xx_before_and_after_the_effect(fake):
    client = http(fake)
    fake.fail_next(502, method="POST", path="/issues$")
    assert client.post(repo_path("/issues"), json={"title": "lost"}).status_code == 502
    assert fake.issues(OWNER, REPO) == []
    fake.fail_next(503, method="POST", path="/issues$", after_effect=True)
    assert client.post(repo_path("/issues"), json={"title": "made"}).status_code == 503
    assert [i["title"] for i in fake.issues(OWNER, REPO)] == ["made"]


def test_injected_timeout(fake):
    fake.fail_next(None, method="GET")
    with pytest.raises(httpx.ReadTimeout):
        http(fake).get(repo_path(""))


def test_every_call_is_recorded_with_its_status(fake):
    client = http(fake)
    client.get(repo_path(""))
    client.get(repo_path("/assignees/mallory"))
    assert [(c.method, c.path, c.status) for c in fake.calls] == [
        ("GET", repo_path(""), 200),
        ("GET", repo_path("/assignees/mallory"), 404),
    ]
    assert fake.calls[0].api_version == "2022-11-28"


def test_unknown_routes_are_recorded_so_fixtures_can_fail_on_them(fake):
    response = http(fake).get(repo_path("/no-such-endpoint"))
    assert response.status_code == 404
    assert [c.path for c in fake.unrouted] == [repo_path("/no-such-endpoint")]
    fake.unrouted.clear()  # this test made the gap on purpose


def test_reviews_and_merges_for_job_3(fake):
    pull = fake.add_pull(OWNER, REPO, head_sha="abc", files={"docs/pm.md": "# PM\n"})
    fake.add_review(OWNER, REPO, pull["number"], user="alice")
    reviews = http(fake).get(repo_path(f"/pulls/{pull['number']}/reviews")).json()
    assert [(r["user"]["login"], r["state"]) for r in reviews] == [("alice", "APPROVED")]
    fake.merge(OWNER, REPO, pull["number"])
    merged = http(fake).get(repo_path(f"/pulls/{pull['number']}")).json()
    assert merged["merged"] is True and merged["merge_commit_sha"] == "abc"
    assert fake.repo(OWNER, REPO).files["main"]["docs/pm.md"] == "# PM\n"


def test_what_is_written_carries_its_author_and_githubs_own_time(fake):
    issue = fake.add_issue(OWNER, REPO, "Incident", user="mallory")
    fake.advance(90)
    theirs = fake.add_comment(OWNER, REPO, issue["number"], "hello", user="mallory")
    ours = http(fake).post(repo_path(f"/issues/{issue['number']}/comments"), json={"body": "hi"}).json()
    workflow = http(fake, ACTIONS_TOKEN).post(repo_path("/issues"), json={"title": "t"}).json()

    assert (theirs["user"]["login"], theirs["performed_via_github_app"]) == ("mallory", None)
    assert ours["user"] == {**ours["user"], "login": "blameless-bot[bot]", "type": "Bot"}
    assert ours["performed_via_github_app"]["id"] == 4242
    assert workflow["user"]["login"] == "github-actions[bot]"
    assert issue["created_at"] == "2026-05-04T09:00:00Z" and ours["created_at"] == "2026-05-04T09:01:30Z"
    assert fake.add_issue(OWNER, REPO, "Seeded", user="blameless-bot[bot]")["performed_via_github_app"]


def test_graphql_says_who_the_token_is(fake):
    viewer = http(fake, ACTIONS_TOKEN).post("/graphql", json={"query": "query { viewer { login } }"})
    assert viewer.json() == {"data": {"viewer": {"login": "github-actions[bot]"}}}
