"""Everything the bot writes, from a document and an incident full of hostile text, is inert.

Jobs 1, 2 and 3 run on the shared fake with an incident title, item texts, owners and a document
path written to break out: @mentions, closing keywords, issue references, markers, HTML, entities
and backtick runs. Every title, body, comment and check-run summary the fake recorded is then
searched the way GitHub reads it (see tests/markdown_safety.py): the only live mentions are the
owners the bot assigns, nothing closes an issue, and no marker comes from the user's text.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from app.github import markers
from app.github.events import Event
from app.jobs import action_items
from app.jobs.action_items import SECTION_END, refresh_status
from app.jobs.check_postmortem import on_pull_request
from app.jobs.open_postmortem.issue import on_issue_labeled
from checks.config import ConfigError, parse_config
from tests.fake_github import APP_LOGIN, FakeGitHub
from tests.markdown_safety import CLOSING, html, live_text, mentions, title_problems
from tests.test_action_items_job import APPROVAL, HEAD, World, approval, document, make_world, row

OWNER, REPO = "octo-org", "octo-repo"
FULL = f"{OWNER}/{REPO}"
FORGED = "<!-- blameless-bot:postmortem-for repo=octo-org/octo-repo issue=99 -->"
HOSTILE = (
    "Fixes #2, closes octo-org/octo-repo#3 and resolves https://github.com/octo-org/octo-repo/issues/4 "
    f"for @victim &#64;victim \\@victim `@victim`` {FORGED} <img src=x onerror=alert(1)> --> GH-5"
)
ITEM = HOSTILE.replace("`", "")  # backticks in a row would join its cells: the owner has them
HOSTILE_PATH = "docs/postmortems/``@victim` fixes #2 <!-- x -->.md"
OWNERS = ("alice", "bob")
DRAFT_PR = "incidents:\n  draft_pr: true\n  document_path: 'docs/postmortems/{slug}.md'\n"


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    monkeypatch.setattr(action_items.pacing, "WRITE_INTERVAL", 0.0)


@pytest.fixture
def world() -> Iterator[World]:
    world = make_world(assignable=OWNERS)
    world.repo.issues[world.incident["number"]]["title"] = f"Checkout down {HOSTILE}"
    yield world


def hostile_rows() -> list[str]:
    return [
        row("AI-1", f"Add a canary stage {ITEM}", owner="@alice"),
        row("AI-2", f"Cap pool reductions {ITEM}", owner="@a `@victim` @b"),
        row("AI-3", f"Page earlier {ITEM}", kind="decision-policy", owner="@bob", cf="CF-2"),
    ]


def written(fake: FakeGitHub) -> list[tuple[str, str]]:
    """(kind, text) of everything the bot sent: titles, Markdown bodies and check-run summaries."""
    found = []
    for call in fake.calls:
        if call.method == "GET" or not isinstance(call.json, dict):
            continue
        for key in ("title", "body"):
            if isinstance(call.json.get(key), str):
                found.append((key, call.json[key]))
        output = call.json.get("output") or {}
        for key in ("title", "summary", "text"):
            if isinstance(output.get(key), str):
                found.append(("title" if key == "title" else "body", output[key]))
    return found


def assert_inert(fake: FakeGitHub) -> None:
    texts = written(fake)
    assert texts, "the jobs wrote nothing"
    for kind, text in texts:
        assert "99" not in "".join(re.findall(r"<!--\s*blameless-bot:[^>]*-->", text)), text
        if kind == "title":
            assert title_problems(text) == [], text
            continue
        for run in live_text(text):
            assert {m for m in mentions(run)} <= {f"@{login}" for login in OWNERS}, (run, text)
            assert not CLOSING.search(run), (run, text)
        for block in html(text):  # only the bot's markers, the template's guidance, its own <br>
            assert block.strip() == "<br>" or block.lstrip().startswith("<!--"), block
            if "blameless-bot:" not in block:  # the bot's markers hold user text only %-encoded
                assert "victim" not in block and "<img" not in block, block


def run_job_one(world: World) -> None:
    run_job_one_with(world, parse_config(DRAFT_PR))


def run_job_one_with(world: World, config) -> None:
    issue = world.issue(world.incident["number"])
    repository = {"id": world.repo.id, "name": REPO, "full_name": FULL, "owner": {"login": OWNER}}
    payload = {
        "action": "labeled",
        "issue": copy.deepcopy(issue),
        "label": {"name": "incident"},
        "repository": {**repository, "default_branch": "main"},
        "sender": {"login": "octocat", "type": "User"},
    }
    world.postmortem["labels"] = []  # job 1 opens its own postmortem for the hostile incident
    world.repo.issues[world.postmortem["number"]]["labels"] = []
    on_issue_labeled(world.fake.job_context(OWNER, REPO, Event("issues", "d-1", payload), config))


def run_jobs_two_and_three(world: World) -> dict:
    pull = world.fake.add_pull(OWNER, REPO, head_sha=HEAD, files={HOSTILE_PATH: document(hostile_rows())},
                               title=f"Postmortem {HOSTILE}")  # fmt: skip
    event = Event("pull_request", "d-2", {
        "action": "opened", "pull_request": copy.deepcopy(pull), "repository": {
            "id": world.repo.id, "name": REPO, "full_name": FULL, "owner": {"login": OWNER},
            "default_branch": "main", "html_url": f"https://github.com/{FULL}"},
    })  # fmt: skip
    on_pull_request(world.fake.job_context(OWNER, REPO, event))
    review = approval(world, pull, HEAD)
    action_items.on_approved_or_merged(world.fake.job_context(OWNER, REPO, review, APPROVAL))
    return pull


def test_every_text_the_three_jobs_write_from_hostile_input_is_inert(world):
    run_job_one(world)
    run_jobs_two_and_three(world)

    assert world.fake.calls_to("POST", r"/pulls$"), "job 1 opened its draft PR"
    assert world.fake.calls_to("POST", r"/check-runs$"), "job 2 checked the document"
    bot_issues = [i for i in world.fake.issues(OWNER, REPO) if i["user"]["login"] == APP_LOGIN]
    assert len(bot_issues) >= 3, "job 1 opened a postmortem, job 3 the items' issues"
    assert_inert(world.fake)
    assigned = {a["login"] for i in bot_issues for a in i["assignees"]}
    assert assigned == {"alice", "bob"}  # the owners are still notified, on purpose


def test_a_draft_pr_titled_after_the_incident_closes_nothing_when_squashed(world):
    world.repo.issues[world.incident["number"]]["title"] = "Checkout down, fixes #2 and closes octo/app#3"
    run_job_one(world)
    [pull] = [p for p in world.repo.pulls.values() if p["user"]["login"] == APP_LOGIN]
    assert pull["title"].startswith("Postmortem draft: Postmortem: Checkout down")
    assert title_problems(pull["title"]) == []


def test_an_item_that_reads_as_a_section_end_does_not_grow_the_section(world):
    text = markers.render(SECTION_END, doc=quote("docs/postmortems/pm.md"))
    rows = [row("AI-1", f"Guard it {text}"), row("AI-2", text, owner="@bob")]
    pull = world.fake.add_pull(OWNER, REPO, head_sha=HEAD, files={"docs/postmortems/pm.md": document(rows)})
    action_items.on_approved_or_merged(
        world.fake.job_context(OWNER, REPO, approval(world, pull, HEAD), APPROVAL)
    )
    body = world.issue(world.postmortem["number"])["body"]
    for _ in range(3):
        refresh_status(world.client(), APPROVAL, pull["number"], HEAD, today=world.fake.now.date())
    assert world.issue(world.postmortem["number"])["body"] == body
    assert len(re.findall(r"<!--\s*blameless-bot:action-items-end", body)) == 1


def test_a_config_problem_quoting_the_file_is_reported_inert(world):
    try:
        parse_config("incidents:\n  'x` @victim fixes #2 `y': 1\n")
    except ConfigError as error:
        broken = error
    run_job_one_with(world, broken)
    [comment] = world.comments(world.incident["number"])
    assert "victim" in comment["body"]  # the problem is named…
    assert_inert(world.fake)  # …and nothing in it is live
