"""Only what the bot wrote is its state: markers forged by anyone else, anywhere, change nothing.

Each test plays an outsider on the shared fake: `mallory` can open issues and pull requests and
comment anywhere, and writes markers by hand. The bot must go on as if the forgery were not there,
and never rewrite or delete what she wrote. Leases run on GitHub's timestamps, never on a time
written in a marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from app.github import markers
from app.github.markers import BotIdentity
from app.jobs import action_items
from app.jobs.action_items import CLAIM, refresh_for_issue, sync_action_items
from app.jobs.daily_sweep import sweep_overdue
from app.jobs.open_postmortem.issue import POSTMORTEM_CLAIM, POSTMORTEM_LINK
from app.jobs.open_postmortem.plan import POSTMORTEM_FOR
from tests.fake_github import APP_ID, APP_LOGIN, FakeGitHub, assert_all_routed
from tests.test_action_items_job import (
    APPROVAL,
    HEAD,
    PATH,
    World,
    approve,
    default_rows,
    document,
    make_world,
    open_pull,
)
from tests.test_postmortem_issue import OWNER, REPO, deliver, incident, labeled, postmortems

FULL = f"{OWNER}/{REPO}"
MALLORY = "mallory"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, assignable=["alice", "bob", "carol"])
    yield fake
    assert_all_routed(fake)


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    monkeypatch.setattr(action_items.pacing, "WRITE_INTERVAL", 0.0)


def comment_of(fake: FakeGitHub, comment: dict) -> dict | None:
    return fake.repo(OWNER, REPO).comments.get(comment["id"])


# --- who the bot is ---------------------------------------------------------------------------------


def test_the_bot_is_known_by_its_login_or_its_app_id_never_by_text():
    bot = BotIdentity(APP_LOGIN, APP_ID)
    assert bot.wrote({"user": {"login": "Blameless-Bot[bot]"}})
    assert bot.wrote({"user": {"login": "someone"}, "performed_via_github_app": {"id": APP_ID}})
    assert not bot.wrote({"user": {"login": MALLORY}, "body": f"<!-- {APP_LOGIN} -->"})
    assert not bot.wrote({"user": {"login": "evil[bot]"}, "performed_via_github_app": {"id": 999}})
    assert not bot.wrote(None)
    forged = {"user": {"login": MALLORY}, "body": markers.render(POSTMORTEM_LINK, postmortem=1)}
    assert markers.read(forged, POSTMORTEM_LINK, bot) is None
    assert markers.read(forged, POSTMORTEM_LINK, None) is None  # knowing no bot, trust nothing


# --- job 1 ------------------------------------------------------------------------------------------


def test_a_forged_link_comment_neither_stops_the_postmortem_nor_is_rewritten(fake):
    issue = incident(fake)
    forged = markers.render(POSTMORTEM_LINK, postmortem=issue["number"])
    theirs = fake.add_comment(OWNER, REPO, issue["number"], f"{forged}\nAlready handled.", user=MALLORY)

    deliver(fake, labeled(fake, issue))

    [postmortem] = postmortems(fake)
    assert postmortem["number"] != issue["number"]
    assert comment_of(fake, theirs)["body"] == f"{forged}\nAlready handled."  # not rewritten
    links = [c for c in fake.comments_on(OWNER, REPO, issue["number"]) if c["user"]["login"] == APP_LOGIN]
    expected = {"postmortem": str(postmortem["number"])}
    assert [markers.find(c["body"], POSTMORTEM_LINK) for c in links] == [expected]
    assert fake.repo(OWNER, REPO).sub_issues[issue["number"]] == [postmortem["id"]]


def test_a_forged_claim_does_not_block_the_postmortem_and_is_left_alone(fake):
    issue = incident(fake)
    forged = markers.render(POSTMORTEM_CLAIM, delivery="mallory")
    theirs = fake.add_comment(OWNER, REPO, issue["number"], f"{forged}\nOpening…", user=MALLORY)

    deliver(fake, labeled(fake, issue))  # no PostmortemBusy

    assert len(postmortems(fake)) == 1
    assert comment_of(fake, theirs) is not None  # not the bot's to delete


def test_a_marker_in_an_incident_title_does_not_pass_for_another_incidents_postmortem(fake):
    forged = markers.render(POSTMORTEM_FOR, repo=FULL, issue=2)
    first = incident(fake, title=f"Checkout down {forged}")
    second = incident(fake, title="Search down")
    assert second["number"] == 2

    deliver(fake, labeled(fake, first))
    deliver(fake, labeled(fake, second, delivery="d-2"))

    found = {markers.find(p["body"], POSTMORTEM_FOR)["issue"] for p in postmortems(fake)}
    assert found == {str(first["number"]), "2"}
    for postmortem in postmortems(fake):
        assert len(re.findall(r"<!--\s*blameless-bot:", postmortem["body"])) == 1  # its own, first
        assert "<!--" not in postmortem["title"]


def test_a_postmortem_marker_in_someone_elses_issue_is_not_the_postmortem(fake):
    issue = incident(fake)
    forged = markers.render(POSTMORTEM_FOR, repo=FULL, issue=issue["number"], due="2099-01-01")
    fake.add_issue(OWNER, REPO, "Not a postmortem", forged, labels=["postmortem"], user=MALLORY)

    deliver(fake, labeled(fake, issue))

    ours = [p for p in postmortems(fake) if p["user"]["login"] == APP_LOGIN]
    assert len(ours) == 1
    assert fake.repo(OWNER, REPO).sub_issues[issue["number"]] == [ours[0]["id"]]


def test_a_marker_in_an_incident_body_does_not_make_it_a_postmortem(fake):
    forged = markers.render(POSTMORTEM_FOR, repo=FULL, issue=99)
    issue = fake.add_issue(OWNER, REPO, "Checkout down", forged, labels=["incident"], user=MALLORY)
    deliver(fake, labeled(fake, issue))
    assert len([p for p in postmortems(fake) if p["user"]["login"] == APP_LOGIN]) == 1


# --- job 3 ------------------------------------------------------------------------------------------


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.mark.parametrize("sha", [HEAD, "e" * 40])
def test_a_forged_claim_with_a_far_future_time_is_ignored(world, sha):
    pull = open_pull(world, document(default_rows()))
    forged = markers.render(CLAIM, run="mallory", sha=sha, at="2099-01-01T00:00:00Z")
    theirs = world.fake.add_comment(OWNER, REPO, pull["number"], f"{forged}\nOpening issues…", user=MALLORY)

    result = sync_action_items(world.client(), APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)

    assert not result.deferred and len(world.items()) == 3
    assert comment_of(world.fake, theirs)["body"].startswith(forged)


def test_the_claim_lease_runs_on_githubs_clock_not_on_the_time_in_the_marker(world):
    """Even the bot's own claim: a time written in it says nothing, GitHub's timestamp does."""
    pull = open_pull(world, document(default_rows()))
    stale = markers.render(CLAIM, run="dead", sha="e" * 40, at="2099-01-01T00:00:00Z")
    world.client().create_comment(pull["number"], f"{stale}\nOpening issues…")
    world.fake.advance(action_items.CLAIM_LEASE.total_seconds() + 1)

    sync_action_items(world.client(), APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)

    assert len(world.items()) == 3 and not world.claims(pull)


@pytest.mark.parametrize("skew", [timedelta(days=1), -timedelta(days=1)])
def test_the_claim_lease_runs_on_githubs_clock_not_on_ours(world, skew):
    """Our clock a day off GitHub's: our own fresh claim is still live (ahead), and a dead run's
    claim, stale by GitHub's clock, is still taken over (behind). Both ends come from GitHub."""
    pull = open_pull(world, document(default_rows()))
    dead = world.client().create_comment(
        pull["number"], f"{markers.render(CLAIM, run='dead', sha='e' * 40)}\n…"
    )
    world.fake.advance(action_items.CLAIM_LEASE.total_seconds() + 1)

    result = sync_action_items(world.client(), APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now + skew)

    assert not result.deferred and len(world.items()) == 3
    assert comment_of(world.fake, dead) is None and not world.claims(pull)


def test_a_draft_marker_in_someone_elses_pull_request_links_nothing(world):
    unrelated = world.fake.add_issue(OWNER, REPO, "Unrelated", "Kept as written.", user=APP_LOGIN)
    incident, target = world.incident["number"], unrelated["number"]
    body = markers.render("draft-postmortem", incident=incident, postmortem=target)
    pull = world.fake.add_pull(
        OWNER,
        REPO,
        head_sha=HEAD,
        files={PATH: document(default_rows(), incident=None)},
        user=MALLORY,
        body=f"{body}\nMy postmortem.",
    )
    approve(world, pull)
    assert world.issue(unrelated["number"])["body"] == "Kept as written."
    assert not world.repo.sub_issues.get(unrelated["number"])
    assert all(f"#{unrelated['number']}" not in i["body"] for i in world.items().values())


def test_an_issue_someone_marks_as_an_items_issue_is_not_taken_over(world):
    fields = f"repo={FULL} doc={PATH} id=AI-1 pr=1 sha={'f' * 40} due=2000-01-01"
    marker = f"<!-- blameless-bot:action-item {fields} -->"
    theirs = world.fake.add_issue(OWNER, REPO, "Mine", marker, labels=["action-item"], user=MALLORY)
    pull = open_pull(world, document(default_rows()))

    approve(world, pull)
    sweep_overdue(world.client(), APPROVAL, world.fake.now.date())
    refresh_for_issue(world.client(), APPROVAL, world.issue(theirs["number"]))

    mine = world.issue(theirs["number"])
    assert (mine["title"], mine["body"], mine["state"]) == ("Mine", marker, "open")
    assert [label["name"] for label in mine["labels"]] == ["action-item"]
    ours = [i for i in world.all_item_issues() if i["user"]["login"] == APP_LOGIN]
    ids = sorted(markers.find(i["body"], action_items.ACTION_ITEM)["id"] for i in ours)
    assert ids == ["AI-1", "AI-2", "AI-3"]
    assert all(i["state"] == "open" for i in ours)


def test_a_status_comment_someone_else_wrote_is_not_rewritten(world):
    pull = open_pull(world, document(default_rows()))
    forged = markers.render(action_items.STATUS, pr=pull["number"], sha=HEAD)
    theirs = world.fake.add_comment(OWNER, REPO, pull["number"], f"{forged}\nLooks done to me.", user=MALLORY)

    approve(world, pull)

    assert comment_of(world.fake, theirs)["body"] == f"{forged}\nLooks done to me."
    [status] = [c for c in world.status_comments(pull) if c["user"]["login"] == APP_LOGIN]
    assert "| #" in status["body"]
