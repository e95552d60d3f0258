"""Structure, timeline and action-item rules: each rule's positives and its tricky negatives."""

import re

import pytest

from tests.engine_helpers import VALID, replace_section, rules_for


def test_the_valid_document_has_no_structural_findings():
    assert [r for r in rules_for(VALID) if not r.startswith("language.")] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VALID.replace("## Impact\n\nTwo percent of checkout requests failed.\n", ""),
            ["structure.missing-section"],
        ),
        (replace_section("Impact", "<!-- to be written -->"), ["structure.empty-section"]),
        (replace_section("Impact", "TODO: describe the impact"), ["structure.placeholder"]),
        (replace_section("Impact", "{{ incident_title }}"), ["structure.placeholder"]),
        (VALID.replace("Two percent", "The root cause was that two percent"), ["structure.root-cause"]),
        (VALID.replace("## Contributing factors", "## Root cause"), ["structure.root-cause"]),
        (
            replace_section("Contributing factors", "- CF-1: The deploy had no canary stage."),
            ["structure.single-factor"],
        ),
        (VALID + "\n## Summary\n\nAgain.\n", ["structure.duplicate-section"]),
    ],
)
def test_structure_positives(text, expected):
    assert rules_for(text, family="structure") == expected


@pytest.mark.parametrize(
    "text",
    [
        VALID.replace("Two percent", "We list the root causes and contributing factors below; two percent"),
        VALID.replace("Two percent", "TODOs in the code were not the issue; two percent"),  # word, not TODO
        VALID.replace("## Impact", "## Customer impact"),
        VALID.replace("## Timeline", "## Timeline (all times UTC)"),
        VALID.replace("Two percent", "`TODO` markers are fine in code; two percent"),
    ],
)
def test_structure_negatives(text):
    assert rules_for(text, family="structure") == []


def test_required_sections_are_configurable():
    text = VALID.replace("## Impact\n\nTwo percent of checkout requests failed.\n", "")
    assert rules_for(text, "sections:\n  required: [summary, timeline]\n", family="structure") == []


TIMELINE = (
    "- 14:00 **Impact starts**\n"
    "- 14:05 Alert pages the on-call engineer. **Detected.**\n"
    "- 14:10 Rolled back.\n"
    "- 14:20 Resolved.\n"
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("All times UTC.\n\n" + TIMELINE.replace("14:05 ", ""), ["timeline.missing-timestamp"]),
        (
            "All times UTC.\n\n" + TIMELINE.replace("14:05 ", "around 14:05 "),
            ["timeline.imprecise-timestamp"],
        ),
        (TIMELINE, ["timeline.timezone"]),
        ("All times UTC.\n\n" + TIMELINE.replace("14:10", "13:10"), ["timeline.out-of-order"]),
        (
            "All times UTC.\n\n" + TIMELINE.replace("Rolled back.", "Investigating."),
            ["timeline.missing-milestone"],
        ),
    ],
)
def test_timeline_positives(body, expected):
    assert rules_for(replace_section("Timeline", body), family="timeline") == expected


@pytest.mark.parametrize(
    "body",
    [
        # every entry with its own date and zone, and no timeline-wide statement
        re.sub(r"(14:\d\d)", r"2026-03-05 \1 UTC", TIMELINE),
        "| Time (UTC) | Event |\n|---|---|\n| 14:00 | Impact starts |\n| 14:05 | Paged |\n"
        "| 14:10 | Rolled back |\n| 14:20 | Resolved |",
        # crossing midnight without a date line is the next day, not disorder
        "All times UTC.\n\n- 23:50 Impact starts\n- 23:55 Paged\n- 00:10 Rolled back\n- 00:30 Resolved\n",
        "All times UTC.\n\n- 2:00 PM Impact starts\n- 2:05 PM Paged\n"
        "- 2:10 PM Rolled back\n- 3:00 PM Resolved\n",
    ],
)
def test_timeline_negatives(body):
    assert rules_for(replace_section("Timeline", body), family="timeline") == []


def test_timezone_rule_can_be_switched_off():
    text = replace_section("Timeline", TIMELINE)
    assert rules_for(text, "timeline:\n  require_timezone: false\n", family="timeline") == []
    assert rules_for(text, "rules:\n  timeline.timezone: off\n", family="timeline") == []


ROW = "| AI-1 | {action} | {type} | {owner} | {due} |"
ITEMS_HEAD = "| ID | Action | Type | Owner | Due |\n|---|---|---|---|---|\n"


def items(
    action="Add a canary stage to the deploy pipeline", type="guardrail", owner="@octo-lead", due="2026-05-01"
):
    return replace_section(
        "Action items", ITEMS_HEAD + ROW.format(action=action, type=type, owner=owner, due=due)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (items(type=""), ["action-items.missing-type"]),
        (items(type="prevent"), ["action-items.unknown-type"]),
        (items(action="Remind the team to double-check configs"), ["action-items.reminder"]),
        # the type does not launder the text: a "guardrail" that is a reminder is still a reminder
        (items(action="Make sure someone reviews every config change"), ["action-items.reminder"]),
        (items(action="Engineers must review all deployments manually"), ["action-items.reminder"]),
        (items(action="Schedule Kubernetes training for the on-call rotation"), ["action-items.reminder"]),
        # vigilance wording the reminder patterns do not list is still a reminder, reported once
        (items(action="Take extra care when editing the pool limit"), ["action-items.reminder"]),
        (items(action="Engineers should think twice and try harder on Fridays"), ["action-items.reminder"]),
        (items(owner=""), ["action-items.missing-owner"]),
        (items(owner="@a, @b"), ["action-items.multiple-owners"]),
        (items(owner="Sarah"), ["action-items.owner-format"]),
        (items(owner="@octo/sre"), ["action-items.team-owner"]),
        (items(due=""), ["action-items.missing-due-date"]),
        (items(due="next sprint"), ["action-items.bad-due-date"]),
        (items(due="2026-02-30"), ["action-items.bad-due-date"]),
    ],
)
def test_action_item_positives(text, expected):
    assert rules_for(text, family="action-items") == expected


@pytest.mark.parametrize(
    "action",
    [
        "Implement automated deployment testing that blocks broken releases",
        "Add schema validation for training data before model rollout",
        "Alert the on-call engineer when the pool is 90% used",
        "Require a second approval for pool-limit reductions above 20%",
        "Check every config change against the schema in CI",
    ],
)
def test_action_item_negatives(action):
    assert rules_for(items(action=action), family="action-items") == []


def test_a_documentation_only_item_relies_on_people():
    """A runbook helps only when someone reads it at the right moment: training, not a guardrail."""
    action = "Create runbook documenting Kubernetes rollback procedure"
    assert rules_for(items(action=action), family="action-items") == ["action-items.reminder"]


def test_duplicates_and_team_owners_allowed_by_config():
    two = (
        ITEMS_HEAD
        + ROW.format(action="Add a gate", type="guardrail", owner="@a", due="2026-01-01")
        + "\n"
        + ROW.replace("AI-1", "AI-2").format(
            action="add a  gate", type="guardrail", owner="@a", due="2026-01-01"
        )
    )
    assert rules_for(replace_section("Action items", two), family="action-items") == [
        "action-items.duplicate"
    ]
    assert (
        rules_for(
            items(owner="@octo/sre"), "action_items:\n  owners: users-and-teams\n", family="action-items"
        )
        == []
    )
    assert rules_for(items(due=""), "action_items:\n  require_due_date: false\n", family="action-items") == []


def test_a_reminder_item_is_reported_once_by_the_action_item_rule():
    """Vigilance words inside an action item belong to action-items.reminder, not language.vigilance too."""
    rules = rules_for(items(action="Remind the team to double-check configs"))
    assert rules == ["action-items.reminder"]
    prose = replace_section("Summary", "The fix was to double-check every config by hand.")
    assert "language.vigilance" in rules_for(prose)


@pytest.mark.parametrize(
    ("body", "detect"),
    [
        (
            "- 2026-03-05T14:02+01:00 **Impact starts**\n"
            "- 2026-03-05T13:05Z Alert fires, paged. **Detected.**\n"
            "- 2026-03-05T13:20Z Rolled back\n- 2026-03-05T13:40Z Resolved\n",
            180,
        ),
        (
            "- 14:02 PST Errors begin\n- 22:05 UTC Alert fires, paged\n- 14:10 PST Rolled back\n"
            "- 14:30 PST Resolved\n",
            180,
        ),
    ],
)
def test_entries_in_different_zones_are_compared_in_utc(body, detect):
    from checks.engine import check_text
    from checks.rules.timeline import durations

    result = check_text(replace_section("Timeline", body), "pm.md")
    assert [f.rule for f in result.findings if f.family == "timeline"] == []
    assert durations(result.document)["detect"].total_seconds() == detect


def test_the_root_cause_scan_skips_only_prose_that_cannot_match():
    """The scan skips prose without "root" once lowercased: sound only while no character but R, O
    and T matches r, o or t when case is ignored, and every match holds "root"."""
    import random

    from checks.rules.structure import _ROOT_CAUSE

    for letter in "rot":
        folding = {chr(c) for c in range(0x110000) if re.fullmatch(letter, chr(c), re.IGNORECASE)}
        assert folding == {letter, letter.upper()}
    rng = random.Random(5)
    phrases = ["the root cause", "A Root-Cause", "main ROOT cause", "root-caused", "one root cauſe"]
    for _ in range(3000):
        phrase = "".join(c.upper() if rng.random() < 0.5 else c for c in rng.choice(phrases))
        text = rng.choice(["", "İ ", "so ", "ß "]) + phrase + rng.choice(["", ".", " was DNS", "s"])
        if _ROOT_CAUSE.search(text):
            assert "root" in text.lower(), text
    assert _ROOT_CAUSE.search("THE ROOT CAUSE") and _ROOT_CAUSE.search("the root cauſe")
