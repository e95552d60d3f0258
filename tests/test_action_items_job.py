"""Job 3 on the shared fake: approved action items become owned, linked issues, exactly once.

Handlers are called with a JobContext, as the worker calls them; the plain functions the Action
uses (`sync_action_items`, `refresh_for_issue`, `sweep_overdue`) are called directly where the
test needs control over time, pacing or interleavings. Every request the job makes in these
scenarios is replayed through Prism at the end of the file.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from dataclasses import dataclass
from datetime import date

import pytest

from app.github import markers
from app.github.client import GitHubClient, GitHubError, TransientGitHubError, make_github
from app.github.context import JobContext
from app.github.events import Event
from app.jobs import action_items
from app.jobs.action_items import (
    ACTION_ITEM,
    CLAIM,
    DONE,
    OVERDUE_LABEL,
    REMOVED,
    STATUS,
    ActionItemsBusy,
    Pacer,
    on_approved_or_merged,
    on_issue_state,
    pacing,
    replace_section,
    sync,
    sync_action_items,
    trigger_sha,
    with_retries,
)
from app.jobs.daily_sweep import on_daily_sweep, sweep_overdue
from app.jobs.routes import ROUTER
from checks.config import Config, parse_config
from checks.engine import check_text
from tests.fake_github import APP_LOGIN, FakeGitHub
from tests.prism import PrismRecorder
from tests.webhook_examples import load_examples

OWNER, REPO = "octo-org", "octo-repo"
FULL = f"{OWNER}/{REPO}"
PATH = "docs/postmortems/2026-04-20-checkout-latency.md"
HEAD, HEAD2, HEAD3, MERGE = "a" * 40, "b" * 40, "c" * 40, "d" * 40
APPROVAL = parse_config("action_items:\n  create_on: approval\n")
ASSIGNABLE = ("alice", "bob", "carol")

ITEMS = [
    ("AI-1", "Route configuration changes through a canary stage, one region first", "guardrail"),
    ("AI-2", "Cap pool-limit reductions at 20% per change", "constraint"),
    ("AI-3", "Page on checkout error rate after two minutes instead of ten", "decision-policy"),
]


def row(item_id, text, kind="guardrail", owner="@alice", due="2026-06-30", cf="CF-1") -> str:
    return f"| {item_id} | {text} | {kind} | {owner} | {due} | {cf} |"


def default_rows(**overrides) -> list[str]:
    owners = {"AI-1": "@alice", "AI-2": "@bob", "AI-3": "@carol"}
    return [
        row(i, text, kind, overrides.get(i, owners[i]), cf="CF-2" if i == "AI-3" else "CF-1")
        for i, text, kind in ITEMS
    ]


def document(rows: list[str], *, incident: int | str | None = 1, extra_front: str = "") -> str:
    front = f"incident: https://github.com/{FULL}/issues/{incident}\n" if incident else ""
    table = "\n".join(rows)
    return f"""---
{front}{extra_front}status: final
---

# Postmortem: checkout latency

## Summary

For 40 minutes checkout requests slowed down after a configuration change.

## Impact

About 5% of checkout requests failed.

## Timeline

All times UTC, 2026-04-20.

- 14:02 Deployment pipeline rolled the change out. **Impact starts**
- 14:18 Latency alert paged the on-call engineer. **Detected**
- 14:41 The on-call engineer reverted the change. **Mitigated**
- 14:55 Error rate back to baseline. **Resolved**

## Contributing factors

- CF-1: Configuration changes reached every region at once, with no canary stage.
- CF-2: The latency alert waited for ten minutes of data before paging.

## Action items

| ID | Action | Type | Owner | Due | Addresses |
|---|---|---|---|---|---|
{table}
"""


@dataclass
class World:
    fake: FakeGitHub
    incident: dict
    postmortem: dict

    @property
    def repo(self):
        return self.fake.repo(OWNER, REPO)

    def client(self) -> GitHubClient:
        return self.fake.client(OWNER, REPO)

    def issue(self, number: int) -> dict:
        return self.repo.issues[number]

    def items(self) -> dict[str, dict]:
        """The action-item issues by item id (asserting no key is held twice while open)."""
        found: dict[str, dict] = {}
        for issue in self.fake.issues(OWNER, REPO):
            fields = markers.find(issue["body"], ACTION_ITEM)
            if fields and not _is_duplicate(issue):
                assert fields["id"] not in found, f"two issues for {fields['id']}"
                found[fields["id"]] = issue
        return found

    def all_item_issues(self) -> list[dict]:
        return [i for i in self.fake.issues(OWNER, REPO) if markers.find(i["body"], ACTION_ITEM)]

    def comments(self, number: int) -> list[dict]:
        return self.fake.comments_on(OWNER, REPO, number)

    def status_comments(self, pull: dict) -> list[dict]:
        return [c for c in self.comments(pull["number"]) if markers.find(c["body"], STATUS)]

    def claims(self, pull: dict) -> list[dict]:
        return [c for c in self.comments(pull["number"]) if markers.find(c["body"], CLAIM)]


def _is_duplicate(issue: dict) -> bool:
    return issue["state"] == "closed" and issue.get("state_reason") == "not_planned"


def make_world(fake: FakeGitHub | None = None, *, assignable=ASSIGNABLE) -> World:
    fake = fake or FakeGitHub()
    fake.add_repo(OWNER, REPO, assignable=assignable)
    incident = fake.add_issue(OWNER, REPO, "Checkout latency", "Slow.", labels=["incident"])
    marker = markers.render(
        "postmortem-for", repo=FULL, issue=incident["number"], kind="incident", due="2026-05-18"
    )
    postmortem = fake.add_issue(
        OWNER,
        REPO,
        f"Postmortem: Checkout latency (#{incident['number']})",
        f"{marker}\nThe postmortem, written by the team.",
        labels=["postmortem"],
        user=APP_LOGIN,  # job 1 opened it
    )
    return World(fake, incident, postmortem)


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    """Handlers pace writes with real sleeps; scenario tests pace on the fake's clock instead."""
    monkeypatch.setattr(pacing, "WRITE_INTERVAL", 0.0)


@pytest.fixture
def world() -> World:
    return make_world()


def open_pull(world: World, text: str, sha: str = HEAD, **kw) -> dict:
    return world.fake.add_pull(OWNER, REPO, head_sha=sha, files={PATH: text}, **kw)


def push(world: World, pull: dict, text: str, sha: str) -> dict:
    return world.fake.push(OWNER, REPO, pull["number"], sha, {PATH: text})


def repository_payload(world: World) -> dict:
    return {
        "id": world.repo.id,
        "name": REPO,
        "full_name": FULL,
        "owner": {"login": OWNER},
        "html_url": f"https://github.com/{FULL}",
        "default_branch": "main",
    }


def context(world: World, event: Event, config: Config = APPROVAL) -> JobContext:
    return JobContext(
        event=event,
        github=world.client(),
        config=config,
        bot_login=APP_LOGIN,
        clock=lambda: world.fake.now,
    )


def approval(world: World, pull: dict, sha: str, delivery: str = "d-1") -> Event:
    payload = {
        "action": "submitted",
        "review": {"state": "approved", "commit_id": sha, "user": {"login": "reviewer"}},
        "pull_request": copy.deepcopy(world.repo.pulls[pull["number"]]),
        "repository": repository_payload(world),
        "sender": {"login": "reviewer", "type": "User"},
        "installation": {"id": 1},
    }
    return Event("pull_request_review", delivery, payload)


def approve(world: World, pull: dict, sha: str = HEAD, delivery="d-1", config=APPROVAL):
    on_approved_or_merged(context(world, approval(world, pull, sha, delivery), config))


def issue_event(world: World, number: int, action: str, delivery: str = "i-1") -> Event:
    payload = {
        "action": action,
        "issue": copy.deepcopy(world.issue(number)),
        "repository": repository_payload(world),
        "sender": {"login": "alice", "type": "User"},
        "installation": {"id": 1},
    }
    return Event("issues", delivery, payload)


def set_state(world: World, number: int, state: str, config: Config = APPROVAL) -> None:
    """A person closes or reopens an issue; GitHub sends issues.closed / issues.reopened."""
    world.client().update_issue(number, state=state)
    action = "closed" if state == "closed" else "reopened"
    on_issue_state(context(world, issue_event(world, number, action), config))


def writes(fake: FakeGitHub, since: int = 0) -> list:
    return [c for c in fake.calls[since:] if c.method != "GET"]


def language_findings(text: str) -> list:
    return [f for f in check_text(text, "generated.md", Config()).findings if f.family == "language"]


def fake_pacer(fake: FakeGitHub) -> Pacer:
    return Pacer(interval=1.0, sleep=fake.advance, clock=lambda: fake.clock)


# --- approve → issues -----------------------------------------------------------------------------


def test_approval_opens_one_owned_labelled_linked_issue_per_item(world):
    pull = open_pull(world, document(default_rows()))

    approve(world, pull)

    items = world.items()
    assert sorted(items) == ["AI-1", "AI-2", "AI-3"]
    ai1, ai3 = items["AI-1"], items["AI-3"]
    assert ai1["title"] == ITEMS[0][1]
    assert [a["login"] for a in ai1["assignees"]] == ["alice"]
    assert [a["login"] for a in ai3["assignees"]] == ["carol"]
    assert {lb["name"] for lb in ai1["labels"]} == {"action-item", "guardrail"}
    assert {lb["name"] for lb in ai3["labels"]} == {"action-item", "decision-policy"}
    labels = world.repo.labels
    assert labels["action-item"]["color"] == "0e8a16"  # created with our colours, not grey
    assert labels["decision-policy"]["color"] != "ededed"
    # Sub-issues of the postmortem, by integer id.
    assert sorted(world.repo.sub_issues[world.postmortem["number"]]) == sorted(
        i["id"] for i in items.values()
    )
    body = ai3["body"]
    assert f"| **Postmortem** | #{world.postmortem['number']} |" in body
    assert f"| **Incident** | #{world.incident['number']} |" in body
    assert f"https://github.com/{FULL}/blob/{HEAD}/{PATH}" in body
    assert "CF-2: The latency alert waited for ten minutes of data before paging." in body
    assert "| **Due** | 2026-06-30 |" in body
    assert "decision-policy change" in body and "**Done means**" in body


def test_no_issue_is_created_with_assignees(world):
    """A 422 on one unassignable login would drop the whole issue: assign afterwards."""
    pull = open_pull(world, document(default_rows(**{"AI-2": "@zed"})))
    approve(world, pull)
    creates = world.fake.calls_to("POST", rf"^/repos/{FULL}/issues$")
    assert len(creates) == 3
    assert all("assignees" not in (c.json or {}) for c in creates)


def test_status_comment_and_postmortem_section_list_each_item(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)

    items = world.items()
    [status] = world.status_comments(pull)
    postmortem = world.issue(world.postmortem["number"])["body"]
    for text in (status["body"], postmortem):
        for item_id, issue in items.items():
            assert f"**{item_id}**" in text and f"#{issue['number']}" in text
        assert "Closed: 0 of 3 action items." in text
        assert "@alice" not in text.replace("`@alice`", "")  # names in code: nobody is pinged
    assert postmortem.startswith("<!-- blameless-bot:postmortem-for")
    assert "The postmortem, written by the team." in postmortem  # people's text stays
    assert not world.claims(pull)  # the claim became the status comment


def test_merge_is_the_default_trigger(world):
    pull = open_pull(world, document(default_rows()))
    world.repo.files[MERGE] = dict(world.repo.files[HEAD])
    approve(world, pull, config=Config())  # create_on: merge (default) → approval does nothing
    assert world.items() == {}

    closed = copy.deepcopy(world.repo.pulls[pull["number"]])
    closed.update(state="closed", merged=False)
    payload = {
        "action": "closed",
        "pull_request": closed,
        "repository": repository_payload(world),
        "installation": {"id": 1},
    }
    on_approved_or_merged(context(world, Event("pull_request", "m-0", payload), Config()))
    assert world.items() == {}  # closed without merging

    closed.update(merged=True, merge_commit_sha=MERGE)
    on_approved_or_merged(context(world, Event("pull_request", "m-1", payload), Config()))
    items = world.items()
    assert len(items) == 3
    assert f"/blob/{MERGE}/" in items["AI-1"]["body"]  # read at the merged SHA
    assert world.fake.calls_to("GET", f"/contents/{PATH}")[-1].query["ref"] == MERGE


def test_a_dry_run_or_a_broken_config_writes_nothing(world):
    from checks.config import ConfigError, ConfigProblem

    pull = open_pull(world, document(default_rows()))
    event = approval(world, pull, HEAD)
    dry = context(world, event)
    dry.dry_run = True
    on_approved_or_merged(dry)
    broken = ConfigError([ConfigProblem(".github/blameless.yml", 3, "action_items", "bad")])
    merged = {**copy.deepcopy(world.repo.pulls[pull["number"]]), "merged": True}
    payload = {"action": "closed", "pull_request": merged, "repository": repository_payload(world)}
    on_approved_or_merged(context(world, Event("pull_request", "m-1", payload), broken))
    assert writes(world.fake) == [] and world.items() == {}


def test_a_long_item_text_makes_a_title_within_githubs_limit(world):
    long_text = "Add an automated pool-size check " + "to every deploy stage " * 20
    pull = open_pull(world, document([row("AI-1", long_text.strip())]))
    approve(world, pull)
    [issue] = world.items().values()
    assert len(issue["title"]) == 256 and issue["title"].endswith("…")


def test_trigger_sha_reads_lowercase_webhook_states():
    payload = {"action": "submitted", "review": {"state": "approved", "commit_id": HEAD}}
    assert trigger_sha("pull_request_review", payload, APPROVAL) == HEAD
    payload["review"]["state"] = "commented"
    assert trigger_sha("pull_request_review", payload, APPROVAL) is None
    assert trigger_sha("pull_request_review", payload, Config()) is None


# --- approve twice → nothing more ----------------------------------------------------------------


def test_approving_twice_or_a_redelivery_creates_nothing_and_writes_nothing(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull, delivery="d-1")
    before = len(world.fake.calls)

    approve(world, pull, delivery="d-1")  # a redelivery
    approve(world, pull, delivery="d-2")  # a second approval of the same commit

    assert len(world.all_item_issues()) == 3
    assert writes(world.fake, before) == []  # converged: not even a comment edit
    assert len(world.status_comments(pull)) == 1


def test_a_label_removed_by_hand_does_not_hide_an_issue(world):
    """Listing by label alone would re-create it; the postmortem's sub-issues still show it."""
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    ai1 = world.items()["AI-1"]
    world.client().remove_label(ai1["number"], "action-item")

    approve(world, pull, delivery="d-2")

    assert len(world.all_item_issues()) == 3
    assert "action-item" in {lb["name"] for lb in world.issue(ai1["number"])["labels"]}


# --- edits and removals ----------------------------------------------------------------------------


def test_an_edited_item_updates_its_issue_and_leaves_the_others_alone(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    before_items = world.items()
    ai1_body = before_items["AI-1"]["body"]

    rows = default_rows()
    rows[1] = row("AI-2", "Cap pool-limit reductions at 10% per change", "constraint", "@bob")
    rows[1] = rows[1].replace("@bob", "@carol").replace("2026-06-30", "2026-07-15")
    push(world, pull, document(rows), HEAD2)
    since = len(world.fake.calls)
    approve(world, pull, HEAD2, delivery="d-2")

    items = world.items()
    assert {k: v["number"] for k, v in items.items()} == {k: v["number"] for k, v in before_items.items()}
    ai2 = items["AI-2"]
    assert ai2["title"] == "Cap pool-limit reductions at 10% per change"
    assert [a["login"] for a in ai2["assignees"]] == ["carol"]  # bob unassigned, carol assigned
    assert "| **Due** | 2026-07-15 |" in ai2["body"] and f"/blob/{HEAD2}/" in ai2["body"]
    assert items["AI-1"]["body"] == ai1_body  # unchanged item: not rewritten, still at HEAD
    touched = {c.path for c in writes(world.fake, since)}
    assert not any(p.endswith(f"/issues/{items['AI-1']['number']}") for p in touched)


def test_fixing_a_typo_in_an_unnumbered_item_updates_its_issue(world):
    """Without an id the item is keyed by its words; one item edited is followed, not reopened."""
    rows = [
        row("", "Route config changes through the canray stage"),
        row("", "Cap retries at three", "constraint"),
    ]
    pull = open_pull(world, document(rows))
    approve(world, pull)
    before = sorted(i["number"] for i in world.items().values())
    rows[0] = row("", "Route config changes through the canary stage")
    push(world, pull, document(rows), HEAD2)
    approve(world, pull, HEAD2, delivery="d-2")
    after = world.items()
    assert sorted(i["number"] for i in after.values()) == before
    assert "Route config changes through the canary stage" in {i["title"] for i in after.values()}
    assert all(markers.find(c["body"], REMOVED) is None for n in before for c in world.comments(n))


def test_a_late_redelivery_of_an_older_approval_does_not_roll_the_issues_back(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)  # d-1 approves HEAD
    rows = default_rows()
    rows[1] = rows[1].replace("@bob", "@carol")
    push(world, pull, document(rows), HEAD2)
    approve(world, pull, HEAD2, delivery="d-2")
    since = len(world.fake.calls)
    approve(world, pull, HEAD, delivery="d-1")  # d-1 again, long after (a redelivery, a retry)
    ai2 = world.items()["AI-2"]
    assert [a["login"] for a in ai2["assignees"]] == ["carol"]
    assert f"/blob/{HEAD2}/" in ai2["body"]
    assert writes(world.fake, since) == []


def test_an_assignee_added_by_hand_stays_when_the_owner_changes(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    ai1 = world.items()["AI-1"]
    world.client().add_assignees(ai1["number"], ["carol"])  # a helper, added by a person

    rows = default_rows(**{"AI-1": "@bob"})
    push(world, pull, document(rows), HEAD2)
    approve(world, pull, HEAD2, delivery="d-2")

    assert {a["login"] for a in world.issue(ai1["number"])["assignees"]} == {"bob", "carol"}


def test_a_removed_item_gets_one_comment_on_its_issue(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    ai3 = world.items()["AI-3"]

    push(world, pull, document(default_rows()[:2]), HEAD2)
    approve(world, pull, HEAD2, delivery="d-2")
    approve(world, pull, HEAD2, delivery="d-3")
    push(world, pull, document(default_rows()[:2]) + "\n", HEAD3)
    approve(world, pull, HEAD3, delivery="d-4")

    notes = [c for c in world.comments(ai3["number"]) if markers.find(c["body"], REMOVED) is not None]
    assert len(notes) == 1
    assert f"no longer in `{PATH}`" in notes[0]["body"]
    assert world.issue(ai3["number"])["state"] == "open"  # closing it is a person's call
    [status] = world.status_comments(pull)
    assert "no longer in the document" in status["body"]
    assert len(world.all_item_issues()) == 3


# --- owners -------------------------------------------------------------------------------------------


def test_an_unassignable_owner_is_reported_not_dropped(world):
    pull = open_pull(world, document(default_rows(**{"AI-2": "@zed"})))
    approve(world, pull)

    ai2 = world.items()["AI-2"]
    assert ai2["assignees"] == []
    assert "GitHub did not accept @zed as an assignee" in ai2["body"]
    [status] = world.status_comments(pull)
    assert "`@zed` · not assigned" in status["body"]

    world.repo.assignable.add("zed")  # access granted: the next sync assigns and says so
    approve(world, pull, delivery="d-2")
    ai2 = world.issue(ai2["number"])
    assert [a["login"] for a in ai2["assignees"]] == ["zed"]
    assert "did not accept" not in ai2["body"]


def test_team_owners_map_to_a_user_or_stay_unassigned_and_are_never_mentioned(world):
    config = parse_config(
        "action_items:\n  create_on: approval\n  owners: users-and-teams\n"
        "  team_owners:\n    octo-org/sre: carol\n"
    )
    rows = default_rows(**{"AI-1": "@octo-org/sre", "AI-2": "@octo-org/db"})
    pull = open_pull(world, document(rows))
    approve(world, pull, config=config)

    items = world.items()
    assert [a["login"] for a in items["AI-1"]["assignees"]] == ["carol"]
    assert "@carol (for the `octo-org/sre` team)" in items["AI-1"]["body"]
    assert items["AI-2"]["assignees"] == []
    assert "the `octo-org/db` team (no one assigned)" in items["AI-2"]["body"]
    texts = [i["body"] for i in world.fake.issues(OWNER, REPO)]
    texts += [c["body"] for c in world.repo.comments.values()]
    assert not any("@octo-org/" in text for text in texts)


# --- items the checks refuse -----------------------------------------------------------------------


def test_error_level_items_get_no_issue_and_one_comment_says_which_and_why(world):
    rows = [
        *default_rows(),
        row("AI-4", "Remind the on-call engineer to watch the dashboards", owner="@alice"),
        row("AI-5", "Add a pool-size check to the deploy pipeline", owner=""),
    ]
    pull = open_pull(world, document(rows))
    approve(world, pull)
    approve(world, pull, delivery="d-2")

    assert sorted(world.items()) == ["AI-1", "AI-2", "AI-3"]
    [status] = world.status_comments(pull)
    body = status["body"]
    assert "#### Not turned into issues" in body
    assert "**AI-4**" in body and "`action-items.reminder`" in body
    assert "**AI-5**" in body and "`action-items.missing-owner`" in body
    assert "not opened (the checks report errors)" in body


def test_template_placeholders_never_become_issues(world):
    rows = [*default_rows(), "| AI-9 | TODO | guardrail | @owner | YYYY-MM-DD | CF-1 | |"]
    pull = open_pull(world, document(rows))
    approve(world, pull)
    assert sorted(world.items()) == ["AI-1", "AI-2", "AI-3"]


def test_an_item_that_names_its_own_issue_gets_no_second_one(world):
    tracked = world.fake.add_issue(OWNER, REPO, "Canary for configuration changes")
    rows = [r.replace("| CF-1 |", f"| CF-1 | #{tracked['number']} |") for r in default_rows()]
    text = document(rows).replace("| Addresses |\n|---|", "| Addresses | Issue |\n|---|---|")
    pull = open_pull(world, text)
    approve(world, pull)
    assert sorted(world.items()) == ["AI-3"]  # AI-1 and AI-2 name their issue


# --- scale, limits and failures ----------------------------------------------------------------------


def forty_rows() -> list[str]:
    owners = ["@alice", "@bob", "@carol"]
    return [
        row(f"AI-{n}", f"Add automated guardrail number {n} to the deploy pipeline", "guardrail",
            owners[n % 3])
        for n in range(1, 41)
    ]  # fmt: skip


def test_forty_items_under_secondary_rate_limits_all_created_none_twice():
    fake = FakeGitHub(secondary_limit=30)  # 30 writes a minute: far below what 40 items need
    world = make_world(fake)
    pull = open_pull(world, document(forty_rows()))
    github, pacer = world.client(), fake_pacer(fake)

    attempts = 0
    while True:  # what the worker does: retry the job after GitHub's retry-after
        try:
            sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=fake.now, pacer=pacer)
            break
        except TransientGitHubError as exc:
            attempts += 1
            assert attempts < 30
            fake.advance(exc.retry_after or 60)

    assert attempts >= 2  # the limit was really hit
    items = world.items()
    assert len(items) == 40 and len(world.all_item_issues()) == 40
    assert all(len(i["assignees"]) == 1 for i in items.values())
    assert len(world.repo.sub_issues[world.postmortem["number"]]) == 40
    assert not world.claims(pull) and len(world.status_comments(pull)) == 1
    # Paced: never two writes in the same second of the fake's clock.
    assert len(fake.calls_to("POST", rf"^/repos/{FULL}/issues$")) >= 40


def test_pacing_keeps_forty_items_under_eighty_writes_a_minute():
    fake = FakeGitHub(secondary_limit=80)
    world = make_world(fake)
    pull = open_pull(world, document(forty_rows()))
    sync_action_items(
        world.client(), APPROVAL, pull, HEAD, run_id="d-1", now=fake.now, pacer=fake_pacer(fake)
    )
    assert len(world.items()) == 40
    assert not [c for c in fake.calls if c.status == 403]  # paced: the limit was never hit


def test_an_answer_lost_after_the_issue_was_created_is_not_a_second_issue(world):
    pull = open_pull(world, document(default_rows()))
    github = world.client()
    world.fake.fail_next(502, method="POST", path=rf"^/repos/{FULL}/issues$", after_effect=True)
    with pytest.raises(TransientGitHubError):
        sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)
    world.fake.fail_next(None, method="POST", path=r"/sub_issues$")  # and a timeout later on
    with pytest.raises(TransientGitHubError):
        sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)

    sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)

    assert len(world.all_item_issues()) == 3
    assert all(len(i["assignees"]) == 1 for i in world.items().values())
    assert len(world.repo.sub_issues[world.postmortem["number"]]) == 3
    assert not world.claims(pull) and len(world.status_comments(pull)) == 1


def test_with_retries_waits_at_least_what_github_asked():
    waits, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientGitHubError(403, "secondary rate limit", retry_after=42)
        return "done"

    assert with_retries(flaky, sleep=waits.append, base=1) == "done"
    assert waits == [42, 42]


def test_the_pacer_spaces_writes():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(1.0, sleep=sleep, clock=lambda: now[0])
    for _ in range(3):
        pacer.wait()
        now[0] += 0.25
    assert slept == [0.75, 0.75]


# --- concurrency ----------------------------------------------------------------------------------------


def rendezvous(fake: FakeGitHub, method: str, path: str, parties: int = 2) -> None:
    """The first `parties` matching requests wait for each other: every run has looked before
    any of them writes."""
    barrier, seen, lock = threading.Barrier(parties, timeout=10), [0], threading.Lock()

    def hook(call):
        with lock:
            seen[0] += 1
            mine = seen[0]
        if mine <= parties:
            barrier.wait()

    fake.before(method, path, hook)


def run_concurrently(*jobs) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrap(job):
        try:
            job()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


@pytest.mark.parametrize("deliveries", [("d-1", "d-1"), ("d-1", "d-2")], ids=["redelivery", "two"])
def test_concurrent_deliveries_of_the_same_approval_open_one_set_of_issues(world, deliveries):
    pull = open_pull(world, document(default_rows()))
    rendezvous(world.fake, "POST", rf"^/repos/{FULL}/issues/{pull['number']}/comments$")

    errors = run_concurrently(*(lambda d=d: approve(world, pull, delivery=d) for d in deliveries))

    assert errors == []
    assert len(world.all_item_issues()) == 3  # not even a closed duplicate
    assert all(len(i["assignees"]) == 1 for i in world.items().values())
    assert not world.claims(pull) and len(world.status_comments(pull)) == 1


def test_a_takeover_mid_creation_converges_on_one_open_issue_per_item(world):
    """The same delivery run twice at once (never done by the App's queue): the second takes
    the claim over while the first is between its check and its create. The first stops, and
    the one issue it opened in that instant is closed as a duplicate, never assigned."""
    pull = open_pull(world, document(default_rows()))
    github = world.client()
    creates = [0]

    def second_run(call):
        creates[0] += 1
        if creates[0] == 2:  # the first run, about to open its second issue
            sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)

    world.fake.before("POST", rf"^/repos/{FULL}/issues$", second_run)
    first = sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)

    assert first.deferred
    items = world.items()
    assert len(items) == 3 and all(len(i["assignees"]) == 1 for i in items.values())
    extras = [i for i in world.all_item_issues() if i["number"] not in
              {x["number"] for x in items.values()}]  # fmt: skip
    assert all(_is_duplicate(i) and not i["assignees"] for i in extras)
    assert not world.claims(pull) and len(world.status_comments(pull)) == 1


def test_racing_creators_past_the_claim_keep_the_lowest_number(world, monkeypatch):
    """Belt and braces: even if both runs believed they held the claim, duplicates are closed
    before anyone is assigned."""
    pull = open_pull(world, document(default_rows()))
    monkeypatch.setattr(sync, "holding", lambda *a: True)
    monkeypatch.setattr(
        sync,
        "take_claim",
        lambda run, number, sha, run_id, now: {"id": hash(run_id), "body": ""},
    )
    rendezvous(world.fake, "POST", rf"^/repos/{FULL}/issues$")
    github = world.client()

    errors = run_concurrently(
        *(
            lambda d=d: sync_action_items(github, APPROVAL, pull, HEAD, run_id=d, now=world.fake.now)
            for d in ("d-1", "d-2")
        )
    )

    assert errors == []
    items = world.items()
    assert len(items) == 3
    survivors = {i["number"] for i in items.values()}
    for issue in world.all_item_issues():
        if issue["number"] not in survivors:
            assert _is_duplicate(issue) and issue["assignees"] == []
            key = markers.find(issue["body"], ACTION_ITEM)["id"]
            assert items[key]["number"] < issue["number"]


def test_a_run_for_another_commit_waits_for_the_claim_holder(world):
    pull = open_pull(world, document(default_rows()))
    github = world.client()
    claim = markers.render(CLAIM, run="d-9", sha=HEAD2)
    github.create_comment(pull["number"], f"{claim}\nOpening issues…")

    with pytest.raises(ActionItemsBusy) as busy:
        sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)
    assert busy.value.retry_after > 0
    assert world.items() == {}

    world.fake.advance(action_items.CLAIM_LEASE.total_seconds() + 1)  # its run died
    sync_action_items(github, APPROVAL, pull, HEAD, run_id="d-1", now=world.fake.now)
    assert len(world.items()) == 3 and not world.claims(pull)


# --- status flows back ----------------------------------------------------------------------------------


def test_closing_and_reopening_an_issue_updates_the_lists(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    items = world.items()

    set_state(world, items["AI-1"]["number"], "closed")
    postmortem = world.issue(world.postmortem["number"])["body"]
    [status] = world.status_comments(pull)
    for text in (postmortem, status["body"]):
        assert "Closed: 1 of 3 action items." in text
        assert f"| #{items['AI-1']['number']} | `@alice` | 2026-06-30 | closed |" in text

    set_state(world, items["AI-1"]["number"], "open")
    assert "Closed: 0 of 3 action items." in world.issue(world.postmortem["number"])["body"]


def test_when_all_are_closed_the_postmortem_says_so_and_closes_if_configured(world):
    config = parse_config("action_items:\n  create_on: approval\n  close_postmortem_when_done: true\n")
    pull = open_pull(world, document(default_rows()))
    approve(world, pull, config=config)
    number = world.postmortem["number"]

    for issue in world.items().values():
        set_state(world, issue["number"], "closed", config)

    postmortem = world.issue(number)
    assert "All 3 action items are closed." in postmortem["body"]
    done = [c for c in world.comments(number) if markers.find(c["body"], DONE) is not None]
    assert len(done) == 1
    assert postmortem["state"] == "closed" and postmortem["state_reason"] == "completed"


def test_all_closed_without_the_option_leaves_the_postmortem_open(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    for issue in world.items().values():
        set_state(world, issue["number"], "closed")
    postmortem = world.issue(world.postmortem["number"])
    assert postmortem["state"] == "open"
    assert "All 3 action items are closed." in postmortem["body"]


def test_other_issues_closing_are_ignored(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    before = len(world.fake.calls)
    set_state(world, world.incident["number"], "closed")
    assert len(world.fake.calls) == before + 1  # only the close itself


def test_the_section_of_a_later_pull_request_is_the_one_refreshed(world):
    """A second PR edits the document: closing an issue re-renders from the latest sync."""
    first = open_pull(world, document(default_rows()))
    approve(world, first)
    rows = default_rows()
    rows[0] = rows[0].replace("one region first", "one region at a time")
    second = world.fake.add_pull(OWNER, REPO, head_sha=HEAD2, files={PATH: document(rows)}, head_ref="edit")
    approve(world, second, HEAD2, delivery="d-2")
    ai2 = world.items()["AI-2"]

    set_state(world, ai2["number"], "closed")

    body = world.issue(world.postmortem["number"])["body"]
    assert body.count("blameless-bot:action-items-begin") == 1
    assert f"pr={second['number']} sha={HEAD2}" in body
    assert "one region at a time" in body


# --- the daily sweep ----------------------------------------------------------------------------------


def test_the_sweep_labels_overdue_items_once_without_comments(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    items = world.items()
    github = world.client()
    comments_before = len(world.repo.comments)

    flagged = sweep_overdue(github, APPROVAL, date(2026, 7, 1))

    assert sorted(flagged) == sorted(i["number"] for i in items.values())
    assert all(
        OVERDUE_LABEL in {lb["name"] for lb in world.issue(i["number"])["labels"]} for i in items.values()
    )
    assert world.repo.labels[OVERDUE_LABEL]["color"] == "d93f0b"
    assert len(world.repo.comments) == comments_before  # no nagging
    assert "open · overdue" in world.issue(world.postmortem["number"])["body"]

    assert sweep_overdue(github, APPROVAL, date(2026, 7, 2)) == []  # once
    ai1 = items["AI-1"]["number"]
    github.remove_label(ai1, OVERDUE_LABEL)  # a person disagrees: the bot does not insist
    assert sweep_overdue(github, APPROVAL, date(2026, 7, 3)) == []


def test_the_sweep_leaves_items_not_yet_due_and_closed_ones(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    set_state(world, world.items()["AI-1"]["number"], "closed")
    assert sweep_overdue(world.client(), APPROVAL, date(2026, 6, 30)) == []
    flagged = sweep_overdue(world.client(), APPROVAL, date(2026, 7, 1))
    assert len(flagged) == 2


def test_moving_the_due_date_clears_the_overdue_label(world):
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    sweep_overdue(world.client(), APPROVAL, date(2026, 7, 1))
    rows = [r.replace("2026-06-30", "2026-12-31") for r in default_rows()]
    push(world, pull, document(rows), HEAD2)
    approve(world, pull, HEAD2, delivery="d-2")  # the fake's today is 2026-05-04
    assert not any(OVERDUE_LABEL in {lb["name"] for lb in i["labels"]} for i in world.items().values())


def test_the_daily_sweep_is_a_routed_handler(world):
    pull = open_pull(world, document(default_rows(), incident=None))
    approve(world, pull)
    world.fake.advance(90 * 86400)  # 2026-08-02
    payload = {"action": "daily", "repository": repository_payload(world), "installation": {"id": 1}}
    on_daily_sweep(context(world, Event("schedule", "sweep:2026-08-02:1", payload)))
    assert all(OVERDUE_LABEL in {lb["name"] for lb in i["labels"]} for i in world.items().values())


# --- finding the postmortem ------------------------------------------------------------------------


def test_the_postmortem_comes_from_front_matter_or_the_draft_pr(world):
    other = world.fake.add_issue(OWNER, REPO, "Another postmortem", labels=["postmortem"])
    pull = open_pull(world, document(default_rows(), incident=None,
                                     extra_front=f"postmortem: {other['number']}\n"))  # fmt: skip
    approve(world, pull)
    assert len(world.repo.sub_issues[other["number"]]) == 3

    world2 = make_world()
    draft = markers.render("draft-postmortem", incident=1, postmortem=world2.postmortem["number"])
    world2.fake.add_pull(  # job 1's draft PR: the bot opened it
        OWNER, REPO, head_sha=HEAD, files={PATH: document(default_rows(), incident=None)},
        user=APP_LOGIN, body=f"{draft}\nA draft.",
    )  # fmt: skip
    approve(world2, world2.repo.pulls[3])
    assert len(world2.repo.sub_issues[world2.postmortem["number"]]) == 3
    assert "| **Incident** | #1 |" in world2.items()["AI-1"]["body"]


def test_without_a_postmortem_issue_the_pr_comment_says_how_to_link_one(world):
    pull = open_pull(world, document(default_rows(), incident=None))
    approve(world, pull)
    assert len(world.items()) == 3
    assert not world.fake.calls_to("POST", r"/sub_issues$")
    [status] = world.status_comments(pull)
    assert "`postmortem: <issue number>`" in status["body"]


def test_github_enterprise_without_sub_issues_still_links_through_the_bodies():
    world = make_world(FakeGitHub(ghes=True))
    pull = open_pull(world, document(default_rows()))
    approve(world, pull)
    items = world.items()
    assert len(items) == 3
    assert all(f"#{world.postmortem['number']}" in i["body"] for i in items.values())
    assert "Closed: 0 of 3 action items." in world.issue(world.postmortem["number"])["body"]


# --- blameless text -------------------------------------------------------------------------------


def test_every_text_the_job_writes_passes_the_language_checks(world, monkeypatch):
    config = parse_config(
        "action_items:\n  create_on: approval\n  owners: users-and-teams\n"
        "  close_postmortem_when_done: true\n"
    )
    rows = [
        *default_rows(**{"AI-2": "@zed", "AI-3": "@octo-org/sre"}),
        row("AI-4", "Add a pool-size check to the deploy pipeline", owner=""),
        row("AI-5", "Block deploys that lower the pool limit by half", due="soon"),
    ]
    pull = open_pull(world, document(rows))
    approve(world, pull, config=config)
    push(world, pull, document(rows[1:]), HEAD2)
    approve(world, pull, HEAD2, delivery="d-2", config=config)
    for issue in world.items().values():
        set_state(world, issue["number"], "closed", config)
    # A duplicate closed by the reconciliation, for its comment.
    monkeypatch.setattr(sync, "take_claim", lambda *a: {"id": 0, "body": ""})
    monkeypatch.setattr(sync, "holding", lambda *a: True)
    world2 = make_world()
    pull2 = open_pull(world2, document(default_rows()))
    rendezvous(world2.fake, "POST", rf"^/repos/{FULL}/issues$")
    run_concurrently(*(lambda d=d: approve(world2, pull2, delivery=d) for d in ("x", "y")))

    texts = []
    for w in (world, world2):
        texts += [i["body"] for i in w.fake.issues(OWNER, REPO) if i["user"]["login"] == APP_LOGIN]
        texts += [c["body"] for c in w.repo.comments.values()]
        texts.append(w.issue(w.postmortem["number"])["body"])
    assert any("did not accept @zed" in t for t in texts)
    assert any("no longer in" in t for t in texts)
    assert any("Closing as a duplicate" in t for t in texts)
    assert any("Every action item of this postmortem is now closed" in t for t in texts)
    assert any("#### Not turned into issues" in t for t in texts)
    for text in texts:
        assert language_findings(text) == [], text


# --- wiring and real payloads ------------------------------------------------------------------------


def routed(key: str) -> set[str]:
    name, action = key.split(".")
    return {h.__name__ for h in ROUTER.handlers(Event(name, "x", {"action": action}))}


def test_the_router_wires_job_three():
    assert "on_approved_or_merged" in routed("pull_request_review.submitted")
    assert "on_approved_or_merged" in routed("pull_request.closed")
    assert "on_issue_state" in routed("issues.closed") & routed("issues.reopened")
    assert "on_daily_sweep" in routed("schedule.daily")


JOB_THREE_EVENTS = {
    ("pull_request_review", "submitted"),
    ("pull_request", "closed"),
    ("issues", "closed"),
    ("issues", "reopened"),
}


def test_real_payloads_are_handled_without_error(world):
    """Every real example of the events job 3 handles (github.com and GHES), aimed at the fake."""
    pull = open_pull(world, document(default_rows()))
    count = 0
    for example in load_examples():
        if (example.event, example.action) not in JOB_THREE_EVENTS:
            continue
        payload = copy.deepcopy(example.payload)
        payload["repository"] = {**payload["repository"], **repository_payload(world)}
        if "pull_request" in payload:
            payload["pull_request"]["number"] = pull["number"]
        event = Event(example.event, f"ex-{count}", payload)
        for handler in ROUTER.handlers(event):
            handler(context(world, event))
        count += 1
    assert count >= 4
    assert world.items() == {}  # none of them approves or merges

    review = next(e for e in load_examples() if (e.event, e.action) == ("pull_request_review", "submitted"))
    payload = copy.deepcopy(review.payload)
    payload["review"]["state"] = "approved"
    payload["review"]["commit_id"] = HEAD
    payload["pull_request"]["number"] = pull["number"]
    payload["repository"] = {**payload["repository"], **repository_payload(world)}
    on_approved_or_merged(context(world, Event("pull_request_review", "real", payload)))
    assert len(world.items()) == 3


def test_replace_section_keeps_what_people_wrote():
    body = "Intro by people.\n"
    one = replace_section(body, PATH, "<!-- s -->A<!-- e -->")
    assert one.startswith("Intro by people.\n\n")
    section = (
        f"<!-- blameless-bot:action-items-begin doc={PATH} pr=1 sha={HEAD} -->\nT\n"
        f"<!-- blameless-bot:action-items-end doc={PATH} -->"
    )
    two = replace_section(body, PATH, section)
    three = replace_section(two + "\nOutro.\n", PATH, section.replace("\nT\n", "\nU\n"))
    assert "Intro by people." in three and "Outro." in three and "\nU\n" in three
    assert "\nT\n" not in three


# --- contract: every request of these scenarios, through Prism ---------------------------------------


def scenario_calls() -> list:
    """A rich run of job 3 on the fake: every kind of request it makes."""
    world = make_world()
    config = parse_config(
        "action_items:\n  create_on: approval\n  owners: users-and-teams\n"
        "  close_postmortem_when_done: true\n  team_owners:\n    octo-org/sre: carol\n"
    )
    rows = default_rows(**{"AI-2": "@zed", "AI-3": "@octo-org/sre"})
    pull = open_pull(world, document(rows))
    dead = markers.render(CLAIM, run="gone", sha=HEAD)
    world.client().create_comment(pull["number"], f"{dead}\nOpening issues…")  # a dead run's:
    world.fake.advance(action_items.CLAIM_LEASE.total_seconds() + 1)  # posted a lease ago
    approve(world, pull, config=config)
    edited = default_rows(**{"AI-1": "@bob", "AI-2": "@zed", "AI-3": "@octo-org/sre"})[:2]
    push(world, pull, document(edited), HEAD2)
    approve(world, pull, HEAD2, delivery="d-2", config=config)
    sweep_overdue(world.client(), config, date(2026, 7, 1))
    later = [r.replace("2026-06-30", "2026-12-31") for r in edited]
    push(world, pull, document(later), HEAD3)
    approve(world, pull, HEAD3, delivery="d-3", config=config)  # due moved: overdue goes
    for issue in world.items().values():
        set_state(world, issue["number"], "closed", config)
    set_state(world, world.items()["AI-1"]["number"], "open", config)
    return world.fake.calls


def test_the_scenario_makes_every_kind_of_request():
    kinds = {(c.method, _template(c.path)) for c in scenario_calls()}
    for expected in [
        ("POST", "/issues"),
        ("PATCH", "/issues/N"),
        ("POST", "/issues/N/assignees"),
        ("DELETE", "/issues/N/assignees"),
        ("POST", "/issues/N/sub_issues"),
        ("POST", "/issues/N/labels"),
        ("DELETE", "/issues/N/labels/overdue"),
        ("POST", "/issues/N/comments"),
        ("PATCH", "/issues/comments/N"),
        ("DELETE", "/issues/comments/N"),
        ("GET", "/assignees/zed"),
        ("GET", "/issues/N/timeline"),
    ]:
        assert expected in kinds, expected


def _template(path: str) -> str:
    rest = path.split(f"/repos/{FULL}", 1)[-1]
    return re.sub(r"/\d+", "/N", rest)


@pytest.mark.contract
def test_every_request_of_job_three_matches_githubs_description(prism_server, prism_contract, prism_url):
    """Each kind of request the scenario made, replayed through GitHubClient to Prism.

    Not the `prism_checked` fixture: it also fails on Prism's own example *responses* that
    break the description (GET /pulls/{n}: requested_teams[].type; GET /repos/{o}/{r}:
    language), which say nothing about our requests. Request violations are all checked:
    Prism's `sl-violations`, the recorder's own checks, and Prism's log lines about requests.
    """
    recorder = PrismRecorder(prism_contract, base_url=prism_url)
    start = prism_server.mark()

    calls, seen = [], set()
    for call in scenario_calls():
        key = (call.method, _template(call.path), tuple(sorted((call.json or {}).keys()))
               if isinstance(call.json, dict) else None)  # fmt: skip
        if key not in seen:
            seen.add(key)
            calls.append(call)
    gh = make_github("ghs_test", base_url=prism_url + "/", transport=recorder.transport())
    client = GitHubClient(gh, OWNER, REPO)
    for call in calls:
        # Prism answers with GitHub's examples (or a documented error): only the contract matters.
        with contextlib.suppress(GitHubError):
            client.request(
                call.method,
                call.path,
                params=call.query or None,
                json=call.json,
                accept=call.headers.get("accept", "application/vnd.github+json"),
            )
    end = prism_server.mark()
    logged = [
        line
        for line in prism_server.log_errors(start, end)
        if not line.startswith(("Violation: response", "Response body"))
    ]
    assert len(recorder.exchanges) == len(calls) >= 20
    assert recorder.errors == [] and logged == [], (recorder.errors, logged)
