"""Job 1 on the shared fake: an incident label opens exactly one postmortem issue, linked both ways.

Handlers are called directly with a JobContext, as the worker calls them; the Flask endpoint path
is covered by the server's tests.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from app.github import markers
from app.github.client import TransientGitHubError
from app.github.context import JobContext
from app.github.events import Event
from app.jobs.open_postmortem.issue import (
    CLAIM_LEASE,
    POSTMORTEM_CLAIM,
    POSTMORTEM_LINK,
    PostmortemBusy,
    ensure_postmortem,
    find_postmortem,
    on_issue_labeled,
)
from app.jobs.open_postmortem.plan import POSTMORTEM_FOR, incident_kind, plan_postmortem
from checks.config import Config, ConfigError, parse_config
from tests.fake_github import APP_LOGIN, FakeGitHub, assert_all_routed

OWNER, REPO = "octo-org", "octo-repo"
FULL = f"{OWNER}/{REPO}"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO, assignable=["alice"])
    yield fake
    assert_all_routed(fake)


def incident(fake: FakeGitHub, labels=("incident", "sev1"), title="Checkout returned 502s", **kw):
    return fake.add_issue(OWNER, REPO, title, "Checkout failed for EU users.", labels=labels, **kw)


def labeled(fake: FakeGitHub, issue: dict, label: str = "incident", delivery: str = "d-1") -> Event:
    """An issues.labeled delivery for `issue` as it is now in the fake."""
    current = fake.repo(OWNER, REPO).issues[issue["number"]]
    payload = {
        "action": "labeled",
        "issue": dict(current),
        "label": {"name": label},
        "repository": {
            "id": fake.repo(OWNER, REPO).id,
            "name": REPO,
            "full_name": FULL,
            "owner": {"login": OWNER},
            "default_branch": "main",
        },
        "sender": {"login": "octocat", "type": "User"},
        "installation": {"id": 1},
    }
    return Event("issues", delivery, payload)


def context(fake: FakeGitHub, event: Event, config=None, **kw) -> JobContext:
    return fake.job_context(OWNER, REPO, event, config, **kw)


def deliver(fake: FakeGitHub, event: Event, config=None, **kw) -> None:
    on_issue_labeled(context(fake, event, config, **kw))


def deliver_with_retries(fake: FakeGitHub, event: Event, attempts: int = 200) -> None:
    """As the worker does: a delivery that meets another's claim comes back until it is done."""
    for _ in range(attempts - 1):
        try:
            return deliver(fake, event)
        except PostmortemBusy:
            time.sleep(0.02)
    deliver(fake, event)


def postmortems(fake: FakeGitHub) -> list[dict]:
    return [i for i in fake.issues(OWNER, REPO) if markers.find(i["body"], POSTMORTEM_FOR)]


def comments(fake: FakeGitHub, number: int) -> list[str]:
    return [c["body"] for c in fake.comments_on(OWNER, REPO, number)]


def writes(fake: FakeGitHub) -> list[str]:
    return [f"{c.method} {c.path}" for c in fake.calls if c.method != "GET"]


def config(text: str) -> Config:
    return parse_config(text)


# --- the happy path -----------------------------------------------------------------------------


def test_an_incident_label_opens_one_postmortem_linked_both_ways(fake):
    issue = incident(fake)
    deliver(fake, labeled(fake, issue))

    [postmortem] = postmortems(fake)
    assert postmortem["title"] == f"Postmortem: Checkout returned 502s (#{issue['number']})"
    assert [label["name"] for label in postmortem["labels"]] == ["postmortem"]
    assert fake.repo(OWNER, REPO).labels["postmortem"]["color"] == "5319e7"
    fields = markers.find(postmortem["body"], POSTMORTEM_FOR)
    assert fields == {
        "repo": FULL,
        "issue": str(issue["number"]),
        "kind": "incident",
        "due": "2026-05-09",
    }
    assert f"/issues/{issue['number']})" in postmortem["body"]  # the template's incident link
    [link] = comments(fake, issue["number"])
    assert markers.find(link, POSTMORTEM_LINK) == {"postmortem": str(postmortem["number"])}
    assert f"#{postmortem['number']}" in link and "@" not in link
    # The postmortem is a sub-issue of the incident, linked by its id (the fake refuses numbers).
    assert fake.repo(OWNER, REPO).sub_issues[issue["number"]] == [postmortem["id"]]


def test_due_date_follows_the_most_urgent_severity_label(fake):
    sev2 = incident(fake, labels=("incident", "sev2"))
    deliver(fake, labeled(fake, sev2))
    unlabelled = incident(fake, labels=("incident",), title="No severity")
    deliver(fake, labeled(fake, unlabelled, delivery="d-2"))
    dues = {
        markers.find(p["body"], POSTMORTEM_FOR)["issue"]: markers.find(p["body"], POSTMORTEM_FOR)["due"]
        for p in postmortems(fake)
    }
    assert dues == {str(sev2["number"]): "2026-05-14", str(unlabelled["number"]): "2026-05-18"}


def test_severity_days_come_from_the_config(fake):
    issue = incident(fake, labels=("incident", "SEV-A"))
    deliver(fake, labeled(fake, issue), config("incidents:\n  due_days: {sev-a: 2, default: 30}\n"))
    assert markers.find(postmortems(fake)[0]["body"], POSTMORTEM_FOR)["due"] == "2026-05-06"


def test_labels_match_by_glob_and_case_insensitively():
    cfg = config("incidents:\n  labels: ['sev*', Incident]\n  near_miss_labels: [close-call]\n")
    assert incident_kind("SEV1", cfg) == "incident"
    assert incident_kind("incident", cfg) == "incident"
    assert incident_kind("Close-Call", cfg) == "near-miss"
    assert incident_kind("bug", cfg) is None


def test_other_labels_do_nothing(fake):
    issue = incident(fake, labels=("bug",))
    deliver(fake, labeled(fake, issue, label="bug"))
    assert fake.calls == []


def test_a_near_miss_label_opens_a_near_miss_review(fake):
    issue = incident(fake, labels=("near-miss",), title="Certificate nearly expired")
    deliver(fake, labeled(fake, issue, label="near-miss"))
    [review] = postmortems(fake)
    assert review["title"].startswith("Near-miss review: Certificate nearly expired")
    assert markers.find(review["body"], POSTMORTEM_FOR)["kind"] == "near-miss"
    assert "near miss" in comments(fake, issue["number"])[0]


def test_a_postmortem_is_never_opened_for_a_postmortem(fake):
    issue = incident(fake)
    deliver(fake, labeled(fake, issue))
    [postmortem] = postmortems(fake)
    fake.calls.clear()
    deliver(fake, labeled(fake, postmortem, label="incident", delivery="d-2"))
    assert fake.calls == [] and len(postmortems(fake)) == 1


def test_mentions_copied_from_the_incident_notify_nobody(fake):
    issue = incident(fake, title="Deploy by @mallory broke checkout")
    deliver(fake, labeled(fake, issue))
    body = postmortems(fake)[0]["body"]
    assert "@mallory" not in body and "@\u200bmallory" in body
    assert "@owner" not in body  # the template's placeholder owner is no one to ping


def test_the_repository_template_is_used_when_configured(fake):
    fake.repo(OWNER, REPO).put_file(".github/postmortem.md", "# PM for {{incident_title}}\n")
    issue = incident(fake)
    deliver(fake, labeled(fake, issue), config("incidents:\n  template: .github/postmortem.md\n"))
    assert "# PM for Checkout returned 502s" in postmortems(fake)[0]["body"]


# --- exactly once -------------------------------------------------------------------------------


def test_a_redelivery_opens_nothing_and_writes_nothing(fake):
    issue = incident(fake)
    event = labeled(fake, issue)
    deliver(fake, event)
    fake.calls.clear()
    deliver(fake, event)
    assert len(postmortems(fake)) == 1
    assert writes(fake) == []


def test_label_removed_and_added_again_opens_nothing_new(fake):
    issue = incident(fake)
    deliver(fake, labeled(fake, issue, delivery="first"))
    deliver(fake, labeled(fake, issue, delivery="second"))
    assert len(postmortems(fake)) == 1
    assert len(comments(fake, issue["number"])) == 1


def test_two_incident_labels_at_once_open_one_postmortem(fake):
    issue = incident(fake, labels=("incident", "sev1"))
    cfg = config("incidents:\n  labels: [incident, 'sev*']\n")
    deliver(fake, labeled(fake, issue, label="incident", delivery="a"), cfg)
    deliver(fake, labeled(fake, issue, label="sev1", delivery="b"), cfg)
    assert len(postmortems(fake)) == 1


def test_the_postmortem_is_found_by_marker_even_without_the_link_comment(fake):
    issue = incident(fake)
    deliver(fake, labeled(fake, issue))
    [link] = fake.comments_on(OWNER, REPO, issue["number"])
    fake.repo(OWNER, REPO).comments.pop(link["id"])  # someone deleted the bot's comment
    deliver(fake, labeled(fake, issue, delivery="again"))
    assert len(postmortems(fake)) == 1
    assert len(comments(fake, issue["number"])) == 1  # the link comment is back


def run_in_threads(*targets) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(target):
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_two_concurrent_deliveries_that_both_see_nothing_open_one_postmortem(fake):
    """The worst interleaving, forced: both workers look, find nothing, and claim together."""
    issue = incident(fake)
    both_looked = threading.Barrier(2, timeout=10)
    claims_posted = []

    def hold_claims(call):
        if markers.find((call.json or {}).get("body"), POSTMORTEM_CLAIM) is not None:
            claims_posted.append(call)
            both_looked.wait()  # neither claim is sent before both workers have looked

    creators = threading.Barrier(2, timeout=1)

    def hold_creation(call):
        # Were both workers ever allowed to create, hold them so both really would.
        with contextlib.suppress(threading.BrokenBarrierError):
            creators.wait()

    fake.before("POST", r"/issues/\d+/comments$", hold_claims)
    fake.before("POST", r"/issues$", hold_creation)
    errors = run_in_threads(
        lambda: deliver_with_retries(fake, labeled(fake, issue, delivery="one")),
        lambda: deliver_with_retries(fake, labeled(fake, issue, delivery="two")),
    )
    assert errors == []
    assert len(claims_posted) == 2  # both really claimed
    assert len(postmortems(fake)) == 1
    [link] = comments(fake, issue["number"])  # the losing claim was withdrawn
    assert markers.find(link, POSTMORTEM_LINK)


def test_many_concurrent_deliveries_open_one_postmortem(fake):
    issue = incident(fake)
    deliveries = [
        lambda n=n: deliver_with_retries(fake, labeled(fake, issue, delivery=f"d{n}")) for n in range(6)
    ]
    assert run_in_threads(*deliveries) == []
    assert len(postmortems(fake)) == 1
    remaining = comments(fake, issue["number"])
    assert [markers.find(c, POSTMORTEM_CLAIM) for c in remaining] == [None] * len(remaining)


def test_a_live_claim_by_another_delivery_sends_this_one_back_until_done(fake):
    """Not a silent success: the holder may be dead, so this delivery must come back."""
    issue = incident(fake)
    claim = markers.render(POSTMORTEM_CLAIM, delivery="other")
    fake.client(OWNER, REPO).create_comment(issue["number"], f"{claim}\nOpening…")
    with pytest.raises(PostmortemBusy) as busy:
        deliver(fake, labeled(fake, issue, delivery="mine"))
    assert isinstance(busy.value, TransientGitHubError) and busy.value.retry_after > 0
    assert postmortems(fake) == []
    fake.advance(CLAIM_LEASE.total_seconds() + 1)  # the holder never finished: its claim goes stale
    deliver(fake, labeled(fake, issue, delivery="mine"))
    assert len(postmortems(fake)) == 1


def test_a_stale_claim_of_a_dead_worker_is_taken_over(fake):
    issue = incident(fake)
    claim = markers.render(POSTMORTEM_CLAIM, delivery="dead")
    fake.client(OWNER, REPO).create_comment(issue["number"], f"{claim}\nOpening…")
    fake.advance(CLAIM_LEASE.total_seconds() + 1)
    deliver(fake, labeled(fake, issue, delivery="later"))
    assert len(postmortems(fake)) == 1
    [link] = comments(fake, issue["number"])
    assert markers.find(link, POSTMORTEM_LINK)


def test_issue_created_but_answer_lost_then_retried_opens_one(fake):
    """GitHub made the issue, the 502 hid it; the worker's retry of the delivery adopts it."""
    issue = incident(fake)
    event = labeled(fake, issue)
    fake.fail_next(502, method="POST", path=r"/issues$", after_effect=True)
    with pytest.raises(TransientGitHubError):
        deliver(fake, event)
    deliver(fake, event)
    assert len(postmortems(fake)) == 1
    [link] = comments(fake, issue["number"])  # the claim became the link, no stray "opening…"
    assert markers.find(link, POSTMORTEM_LINK)


def test_secondary_rate_limit_mid_job_then_retry_completes_once():
    fake = FakeGitHub(secondary_limit=3)
    fake.add_repo(OWNER, REPO)
    issue = incident(fake)
    event = labeled(fake, issue)
    attempts = 0
    while True:
        attempts += 1
        try:
            deliver(fake, event)
            break
        except TransientGitHubError as exc:
            assert exc.retry_after and attempts < 10
            fake.advance(exc.retry_after)  # the worker's backoff
    assert attempts > 1
    assert len(postmortems(fake)) == 1
    assert len(comments(fake, issue["number"])) == 1
    assert fake.repo(OWNER, REPO).sub_issues[issue["number"]] == [postmortems(fake)[0]["id"]]


def test_duplicates_made_anyway_are_closed_in_favour_of_the_lowest(fake):
    issue = incident(fake)
    plan = plan_postmortem(labeled(fake, issue).payload, Config(), "incident", fake.now.date())
    first = fake.client(OWNER, REPO).create_issue(plan.title, plan.body, labels=plan.labels)
    second = fake.client(OWNER, REPO).create_issue(plan.title, plan.body, labels=plan.labels)
    ctx = context(fake, labeled(fake, issue))
    from app.jobs.open_postmortem.issue import reconcile

    survivor = reconcile(ctx.github, plan, ctx.config)
    assert survivor["number"] == first["number"]
    closed = fake.repo(OWNER, REPO).issues[second["number"]]
    assert closed["state"] == "closed"
    assert comments(fake, second["number"]) == [
        f"Duplicate of #{first['number']}: this incident already had a postmortem."
    ]
    assert find_postmortem(ctx.github, issue["number"], ctx.config)["number"] == first["number"]


def test_ensure_postmortem_returns_the_same_issue_every_time(fake):
    issue = incident(fake)
    ctx = context(fake, labeled(fake, issue))
    plan = plan_postmortem(ctx.payload, ctx.config, "incident", fake.now.date())
    assert ensure_postmortem(ctx, plan)["number"] == ensure_postmortem(ctx, plan)["number"]


# --- servers without sub-issues, broken configs, dry runs ---------------------------------------


def test_without_sub_issues_the_markers_still_link_the_two():
    fake = FakeGitHub(ghes=True, base_url="https://ghe.example.com/api/v3")
    fake.add_repo(OWNER, REPO)
    issue = incident(fake)
    deliver(fake, labeled(fake, issue))
    [postmortem] = postmortems(fake)
    assert markers.find(comments(fake, issue["number"])[0], POSTMORTEM_LINK)
    assert fake.repo(OWNER, REPO).sub_issues == {}
    assert postmortem["number"] != issue["number"]


def test_a_broken_config_is_shown_once_on_the_incident(fake):
    issue = incident(fake)
    error = ConfigError([])
    try:
        parse_config("incidents:\n  lables: [incident]\n", file=f"{FULL}:.github/blameless.yml")
    except ConfigError as exc:
        error = exc
    deliver(fake, labeled(fake, issue), error)
    deliver(fake, labeled(fake, issue, delivery="again"), error)
    assert postmortems(fake) == []
    [comment] = comments(fake, issue["number"])
    assert f"`{FULL}:.github/blameless.yml`, line 2, key `incidents.lables`" in comment
    assert "@" not in comment


def test_dry_run_writes_nothing(fake):
    issue = incident(fake)
    deliver(fake, labeled(fake, issue), dry_run=True)
    assert writes(fake) == []


def test_replay_in_dry_run_needs_no_network():
    import json
    from importlib import resources

    from app.jobs.open_postmortem import dry_run

    payload = json.loads(resources.files("app.server").joinpath("data/incident-labeled.json").read_text())
    preview = dry_run.replay(Event("issues", "replay", payload), today=datetime(2026, 5, 4).date())
    text = dry_run.render(preview)
    assert "Postmortem: Checkout returned 502 errors for 40 minutes (#1)" in text
    assert "due:    2026-05-14 (sev2)" in text
    nothing = dry_run.replay(Event("issues", "replay", {**payload, "label": {"name": "bug"}}))
    assert "not an incident label" in dry_run.render(nothing)
    broken = dry_run.replay(Event("issues", "r", payload), config_text="nope: 1\n")
    assert "key `nope`" in dry_run.render(broken)


# --- the optional draft pull request ------------------------------------------------------------


DRAFT = "incidents:\n  draft_pr: true\n  document_path: 'docs/postmortems/{date}-{slug}.md'\n"


def test_draft_pr_adds_the_document_with_a_timeline_of_roles_not_names(fake):
    issue = incident(fake, user="reporter-rita")
    fake.add_timeline_event(
        OWNER,
        REPO,
        issue["number"],
        {
            "event": "assigned",
            "actor": {"login": "lead-lee", "type": "User"},
            "assignee": {"login": "oncall-omar"},
            "created_at": "2026-05-04T09:03:00Z",
        },
    )
    fake.add_timeline_event(
        OWNER,
        REPO,
        issue["number"],
        {
            "event": "commented",
            "actor": {"login": "oncall-omar", "type": "User"},
            "body": "rolled back",
            "created_at": "2026-05-04T09:20:00Z",
        },
    )
    fake.add_timeline_event(
        OWNER,
        REPO,
        issue["number"],
        {
            "event": "closed",
            "actor": {"login": "reporter-rita", "type": "User"},
            "created_at": "2026-05-04T10:00:00Z",
        },
    )
    event = labeled(fake, issue)
    event.payload["issue"]["assignees"] = [{"login": "oncall-omar"}]
    deliver(fake, event, config(DRAFT))

    [postmortem] = postmortems(fake)
    repo = fake.repo(OWNER, REPO)
    [pull] = repo.pulls.values()
    assert pull["draft"] is True and pull["head"]["ref"] == f"blameless/postmortem-{issue['number']}"
    assert f"#{postmortem['number']}" in pull["body"]
    path = "docs/postmortems/2026-05-04-checkout-returned-502s.md"
    document = repo.files[pull["head"]["ref"]][path]
    assert "- 2026-05-04 09:00 UTC — the reporter opened the incident issue." in document
    assert "- 2026-05-04 09:03 UTC — a responder assigned the incident issue to a responder." in document
    assert "- 2026-05-04 09:20 UTC — the assigned responder commented on the incident issue." in document
    assert "- 2026-05-04 10:00 UTC — the reporter closed the incident issue." in document
    for name in ("rita", "lee", "omar", "rolled back"):
        assert name not in document
    timeline = document.split("## Timeline")[1].split("\n## ")[0]
    assert timeline.index("Resolved") < timeline.index("the reporter closed")


def test_draft_pr_is_made_once_and_a_closed_one_is_not_reopened(fake):
    issue = incident(fake)
    deliver(fake, labeled(fake, issue), config(DRAFT))
    deliver(fake, labeled(fake, issue, delivery="again"), config(DRAFT))
    repo = fake.repo(OWNER, REPO)
    assert len(repo.pulls) == 1
    next(iter(repo.pulls.values()))["state"] = "closed"
    deliver(fake, labeled(fake, issue, delivery="third"), config(DRAFT))
    assert len(repo.pulls) == 1


def test_draft_pr_retry_after_a_failure_half_way_finishes_the_missing_steps(fake):
    issue = incident(fake)
    fake.fail_next(502, method="POST", path=r"/pulls$")
    with pytest.raises(TransientGitHubError):
        deliver(fake, labeled(fake, issue), config(DRAFT))
    deliver(fake, labeled(fake, issue), config(DRAFT))
    repo = fake.repo(OWNER, REPO)
    assert len(repo.pulls) == 1 and len(postmortems(fake)) == 1
    assert len(fake.calls_to("PUT", "/contents/")) == 1  # the document was written once


# --- contract: the same job against Prism serving GitHub's OpenAPI description -------------------


@pytest.mark.contract
def test_contract_incident_label_scenario(prism_github):
    """Every request job 1 sends (claim, issue, labels, link, sub-issue, draft PR) is valid."""
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO)
    event = labeled(fake, incident(fake))
    ctx = JobContext(event=event, github=prism_github(), config=config(DRAFT), bot_login=APP_LOGIN)
    on_issue_labeled(ctx)
    paths = {(e.method, e.path.split("/", 4)[-1]) for e in prism_github.recorder.exchanges}
    assert ("POST", "issues") in paths and ("POST", "issues/1/comments") in paths


@pytest.mark.contract
def test_contract_draft_pr_and_duplicate_steps(prism_github):
    """The steps Prism's canned answers skip above: branch, document, PR, closing a duplicate."""
    from app.jobs.open_postmortem.draft_pr import ensure_draft_pr
    from app.jobs.open_postmortem.issue import reconcile

    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO)
    event = labeled(fake, incident(fake))
    github = prism_github()
    github.list_pulls = lambda **_: []  # Prism always lists one PR: pretend there is none yet
    github.get_file = lambda path, ref=None: None
    ctx = JobContext(event=event, github=github, config=config(DRAFT), bot_login=APP_LOGIN)
    plan = plan_postmortem(event.payload, ctx.config, "incident", datetime(2026, 5, 4).date())
    ensure_draft_pr(ctx, plan, {"number": 2, "title": plan.title, "created_at": "2026-05-04T09:00:00Z"})
    bot = {"login": APP_LOGIN, "type": "Bot"}  # the postmortems the bot opened
    twin = {**github.get_issue(1), "body": plan.body, "state": "open", "user": bot}
    github.list_issues = lambda **_: [{**twin, "number": 1}, {**twin, "number": 2}]
    reconcile(github, plan, ctx.config)
    sent = {(e.method, e.path.split("/", 4)[-1]) for e in prism_github.recorder.exchanges}
    assert {("POST", "pulls"), ("PATCH", "issues/2"), ("POST", "issues/2/comments")} <= sent
    assert any(method == "PUT" and path.startswith("contents/docs/") for method, path in sent)
