"""The test infrastructure itself: Prism, redis-server and the webhook examples."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest
import redis
from githubkit import GitHub

from tests.prism import (
    PrismRecorder,
    PrismServer,
    SpecContract,
    adapt_accept,
    assert_prism_valid,
    normalise_spec,
    prism_checked_transport,
    prism_violations,
)
from tests.webhook_examples import SUBSCRIBED_EVENTS, Example, example_sources, load_examples

ANNOTATION = {
    "path": "docs/postmortems/2026-03-05.md",
    "start_line": 3,
    "end_line": 3,
    "annotation_level": "warning",
    "message": "Blame word",
}


def check_run(annotations: list[dict]) -> dict:
    return {
        "name": "Postmortem: blameless language",
        "head_sha": "ce587453ced02b1526dfb4cb910479d431683101",
        "status": "completed",
        "conclusion": "failure",
        "output": {"title": "1 finding", "summary": "s", "annotations": annotations},
    }


@pytest.fixture
def recorder(prism_contract: SpecContract, prism_url: str) -> PrismRecorder:
    """A recorder that does not fail the test: these tests send invalid requests on purpose."""
    return PrismRecorder(prism_contract, base_url=prism_url)


@pytest.fixture
def client(recorder: PrismRecorder, prism_url: str):
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2026-03-10"}
    with httpx.Client(base_url=prism_url, transport=recorder.transport(), headers=headers) as c:
        yield c


# --------------------------------------------------------------------------- Prism


def test_prism_started_and_serves_the_description(prism_server: PrismServer) -> None:
    assert prism_server.startup_seconds > 0
    print(f"Prism started in {prism_server.startup_seconds:.1f}s")  # shown with -s / -rP
    response = httpx.get(prism_server.url + "/", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert "current_user_url" in response.json()  # GitHub's example for GET /


def test_valid_check_run_is_accepted(client: httpx.Client, recorder: PrismRecorder) -> None:
    response = client.post("/repos/o/r/check-runs", json=check_run([ANNOTATION] * 50))
    assert response.status_code == 201, response.text
    assert_prism_valid(response)
    assert response.json()["id"] == 4  # GitHub's example check run
    recorder.assert_no_violations()


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ([ANNOTATION] * 51, "must NOT have more than 50 items"),
        ([{**ANNOTATION, "annotation_level": "error"}], "allowed values: notice, warning, failure"),
    ],
    ids=["51-annotations", "level-error"],
)
def test_invalid_check_run_is_rejected(
    client: httpx.Client, recorder: PrismRecorder, annotations: list[dict], message: str
) -> None:
    # check-runs defines no 4xx response: Prism makes up a 422 problem+json.
    response = client.post("/repos/o/r/check-runs", json=check_run(annotations))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "sl-violations" not in response.headers
    [violation] = prism_violations(response)
    assert violation.location[:3] == ("request", "body", "output")
    assert message in violation.message
    with pytest.raises(AssertionError, match="Prism rejected POST"):
        assert_prism_valid(response)
    with pytest.raises(AssertionError, match=r"POST /repos/o/r/check-runs -> 422"):
        recorder.assert_no_violations()


def test_violation_on_an_endpoint_with_a_422_comes_in_the_header(
    client: httpx.Client, recorder: PrismRecorder
) -> None:
    # sub_issue_id must be the issue's integer id; the operation defines 422, so Prism
    # answers with GitHub's own 422 example and lists the violations in sl-violations.
    response = client.post("/repos/o/r/issues/1/sub_issues", json={"sub_issue_id": "12"})
    assert response.status_code == 422
    items = json.loads(response.headers["sl-violations"])
    assert items[0]["location"] == ["request", "body", "sub_issue_id"]
    assert items[0]["severity"] == "Error"
    assert [str(v) for v in recorder.exchanges[-1].errors] == [
        "[Error] request.body.sub_issue_id: Request body property sub_issue_id must be integer (type)"
    ]


def test_create_issue_body_is_validated_after_normalisation(
    client: httpx.Client, recorder: PrismRecorder
) -> None:
    # Without normalise_spec, Prism cannot compile this schema and accepts anything.
    assert client.post("/repos/o/r/issues", json={}).status_code == 422
    assert client.post("/repos/o/r/issues", json={"title": "x", "labels": 5}).status_code == 422
    ok = client.post("/repos/o/r/issues", json={"title": "Postmortem", "labels": ["postmortem"]})
    assert ok.status_code == 201 and ok.json()["number"] == 1347
    assert [e.status for e in recorder.exchanges] == [422, 422, 201]
    assert [len(e.errors) > 0 for e in recorder.exchanges] == [True, True, False]


def test_recorder_checks_what_prism_does_not(client: httpx.Client, recorder: PrismRecorder) -> None:
    # A property that API version 2026-03-10 removed (Prism validates the 2022-11-28 schema).
    client.post("/repos/o/r/issues", json={"title": "x", "assignee": "octocat"})
    assert recorder.exchanges[-1].errors[0].code == "removed_in_version"
    # An API version GitHub does not know (it answers 410 Gone).
    client.get("/repos/o/r/issues/1", headers={"X-GitHub-Api-Version": "2099-01-01"})
    assert recorder.exchanges[-1].errors[0].code == "api_version"
    # Unknown routes and methods are contract violations too; GraphQL is not REST.
    client.delete("/repos/o/r/issues/1")
    assert recorder.exchanges[-1].errors[0].code == "NO_METHOD_MATCHED_ERROR"
    client.post("/graphql", json={"query": "{ viewer { login } }"})
    assert "GraphQL" in recorder.exchanges[-1].errors[0].message


def test_github_media_types_and_multi_segment_paths_reach_prism(
    client: httpx.Client, recorder: PrismRecorder
) -> None:
    # githubkit's Accept (vnd.github+json) and nested content paths would get 406 / 404.
    got = client.get("/repos/o/r/issues/1")
    assert got.status_code == 200 and got.json()["number"] == 1347  # unwrapped example
    content = client.get("/repos/o/r/contents/docs/postmortems/a.md", params={"ref": "abc"})
    assert content.status_code == 200, content.text
    raw = client.get("/repos/o/r/contents/docs/a.md", headers={"Accept": "application/vnd.github.raw+json"})
    assert raw.status_code == 200
    runs = client.get("/repos/o/r/commits/feature/x/check-runs")
    assert runs.status_code == 200 and "check_runs" in runs.json()
    recorder.assert_no_violations()
    assert [e.path for e in recorder.exchanges][1] == "/repos/o/r/contents/docs/postmortems/a.md"


def test_prefer_header_selects_another_documented_response(client: httpx.Client) -> None:
    assert client.get("/repos/o/r/assignees/octocat").status_code == 204
    missing = client.get("/repos/o/r/assignees/ghost", headers={"Prefer": "code=404"})
    assert missing.status_code == 404
    assert prism_violations(missing) == []


def test_githubkit_scenario_through_the_checked_fixture(prism_checked: PrismRecorder) -> None:
    """What a contract test looks like; prism_checked fails the test on any violation."""
    gh = GitHub("ghs_test", **prism_checked.github_kwargs())
    with gh:
        run = gh.rest.checks.create(
            "o", "r", name="Postmortem: structure", head_sha="a" * 40, status="in_progress"
        ).json()
        gh.rest.checks.update(
            "o",
            "r",
            run["id"],
            status="completed",
            conclusion="failure",
            output={"title": "t", "summary": "s", "annotations": [ANNOTATION] * 50},
        )
        issue = gh.rest.issues.create("o", "r", title="Postmortem", labels=["postmortem"]).json()
        gh.rest.issues.add_sub_issue("o", "r", 1, sub_issue_id=issue["id"])
        gh.rest.issues.create_comment("o", "r", 1, body="Postmortem: #1347")
        gh.rest.repos.get_content("o", "r", "docs/postmortems/a.md", ref="a" * 40)
        gh.rest.pulls.list_files("o", "r", 1, per_page=100)
        gh.rest.issues.check_user_can_be_assigned("o", "r", "octocat")
    assert len(prism_checked.exchanges) == 8
    assert {e.api_version for e in prism_checked.exchanges} == {"2026-03-10"}
    prism_checked.assert_no_violations()


def test_async_client_through_the_checked_fixture(prism_checked: PrismRecorder) -> None:
    async def scenario() -> None:
        async with GitHub("ghs_test", **prism_checked.github_kwargs()) as gh:
            await gh.rest.issues.async_create_comment("o", "r", 1, body="Postmortem: #1347")

    asyncio.run(scenario())
    assert [(e.method, e.path, e.status) for e in prism_checked.exchanges] == [
        ("POST", "/repos/o/r/issues/1/comments", 201)
    ]


def test_standalone_transport(prism_url: str) -> None:
    transport = prism_checked_transport()
    with httpx.Client(base_url=prism_url, transport=transport) as client:
        assert client.get("/repos/o/r/contents/docs/postmortems/a.md").status_code == 200
        assert client.post("/repos/o/r/issues", json={}).status_code == 422
    recorder = transport.recorder  # type: ignore[attr-defined]
    assert [len(e.errors) for e in recorder.exchanges] == [0, 1]


def test_prism_log_catches_clients_without_the_transport(prism_server: PrismServer, prism_url: str) -> None:
    start = prism_server.mark()
    httpx.post(prism_url + "/repos/o/r/check-runs", json=check_run([ANNOTATION] * 51))
    errors = prism_server.log_errors(start, prism_server.mark())
    assert any("must NOT have more than 50 items" in line for line in errors), errors
    assert prism_server.log_errors(prism_server.mark(), prism_server.mark()) == []


# ---------------------------------------------------------------- pure helpers


def test_normalise_spec_rewrites_only_what_prism_cannot_read() -> None:
    spec = {
        "paths": {
            "/x": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "properties": {
                                        "m": {
                                            "oneOf": [{"type": "string"}, {"type": "integer"}],
                                            "nullable": True,
                                            "description": "d",
                                        },
                                        "t": {"type": "string", "nullable": True},
                                    }
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "examples": {"default": {"value": {"$ref": "#/components/examples/e"}}}
                                }
                            }
                        }
                    },
                }
            }
        },
        "components": {"examples": {"e": {"value": {"a": 1}}}},
    }
    assert normalise_spec(spec) == {"nullable_without_type": 1, "example_value_refs": 1}
    op = spec["paths"]["/x"]["post"]
    props = op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert props["m"] == {
        "description": "d",
        "anyOf": [{"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"type": "null"}],
    }
    assert props["t"] == {"type": "string", "nullable": True}
    example = op["responses"]["200"]["content"]["application/json"]["examples"]["default"]
    assert example["value"] == {"$ref": "#/components/examples/e/value"}


@pytest.mark.parametrize(
    ("accept", "sent"),
    [
        ("application/vnd.github+json", "application/json"),
        ("application/vnd.github.v3+json", "application/json"),
        ("application/vnd.github.raw+json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
        ("application/vnd.github.diff", "application/json, application/vnd.github.diff"),
    ],
)
def test_adapt_accept(accept: str | None, sent: str) -> None:
    assert adapt_accept(accept) == sent


def test_contract_knows_versions_and_multi_segment_routes(prism_contract: SpecContract) -> None:
    assert {"2022-11-28", "2026-03-10"} <= prism_contract.known_versions
    route = prism_contract.route_for_prism
    assert route("/repos/o/r/contents/a/b/c.md") == "/repos/o/r/contents/a%2Fb%2Fc.md"
    assert route("/repos/o/r/contents/c.md") == "/repos/o/r/contents/c.md"
    assert route("/repos/o/r/commits/a/b/check-runs") == "/repos/o/r/commits/a%2Fb/check-runs"
    assert route("/repos/o/r/issues/1") == "/repos/o/r/issues/1"


# --------------------------------------------------------------------------- Redis


def test_redis_answers_ping(redis_url: str) -> None:
    assert redis_url.startswith("redis://127.0.0.1:") and redis_url.endswith("/0")
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
        client.set("blameless:infra", "ok")
        assert client.get("blameless:infra") == b"ok"
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()


def test_redis_clean_url_is_empty(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()


# ---------------------------------------------------------------- webhook examples


def test_example_sets_are_found() -> None:
    sources = list(example_sources())
    assert sources[0] == "api.github.com"
    ghes = [s for s in sources if s.startswith("ghes-3.")]
    assert len(ghes) >= 5, sources  # ghes-3.1 ... ghes-3.5 in 7.6.1


def test_every_subscribed_event_has_examples_in_every_kind_of_set(
    webhook_examples: list[Example],
) -> None:
    by_kind: Counter[tuple[str, str]] = Counter()
    for ex in webhook_examples:
        kind = "ghes" if ex.source.startswith("ghes-") else ex.source
        by_kind[(kind, ex.event)] += 1
    for event in sorted(SUBSCRIBED_EVENTS):
        assert by_kind[("api.github.com", event)] > 0, event
        assert by_kind[("ghes", event)] > 0, event
    assert {ex.event for ex in webhook_examples} == SUBSCRIBED_EVENTS


def test_examples_are_payloads_with_their_action() -> None:
    examples = load_examples({"issues", "ping"}, sources=["api.github.com", "ghes-3.5"])
    labeled = [ex for ex in examples if ex.event == "issues" and ex.action == "labeled"]
    assert labeled and all("label" in ex.payload for ex in labeled)
    pings = [ex for ex in examples if ex.event == "ping"]
    assert pings and all(ex.action is None and "zen" in ex.payload for ex in pings)
    assert json.loads(labeled[0].raw()) == labeled[0].payload
    # every call hands out fresh copies
    labeled[0].payload["mutated"] = True
    assert "mutated" not in load_examples({"issues"}, sources=["api.github.com"])[0].payload
