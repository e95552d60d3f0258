"""Inline suppression comments: next line, ranges, families, and everything."""

from tests.engine_helpers import VALID, replace_section, rules_for

BAD = (
    "| ID | Action | Type | Owner | Due |\n|---|---|---|---|---|\n"
    "| AI-1 | Remind the team to check | guardrail | @a | 2026-01-01 |\n"
)
DISABLE_REMINDER = "<!-- blameless-disable-next-line action-items.reminder -->\n"
FIELDS = " — type: guardrail, owner: @a, due: 2026-01-01\n"


def test_disable_next_line_for_one_rule():
    # a list item, since an HTML comment between table rows would end the table
    text = replace_section("Action items", DISABLE_REMINDER + "- AI-1: Remind the team to check" + FIELDS)
    assert rules_for(text, family="action-items") == []


def test_disable_next_line_does_not_reach_further():
    text = replace_section(
        "Action items",
        DISABLE_REMINDER + "- AI-1: Add a gate" + FIELDS + "- AI-2: Remind the team to check" + FIELDS,
    )
    assert rules_for(text, family="action-items") == ["action-items.reminder"]


def test_range_by_family_and_enable():
    text = (
        "<!-- blameless-disable action-items -->\n"
        + replace_section("Action items", BAD)
        + "<!-- blameless-enable action-items -->\n"
    )
    assert rules_for(text, family="action-items") == []
    reopened = replace_section(
        "Action items",
        "<!-- blameless-disable action-items -->\n<!-- blameless-enable action-items -->\n\n" + BAD,
    )
    assert rules_for(reopened, family="action-items") == ["action-items.reminder"]


def test_disable_without_rules_silences_everything_below():
    assert rules_for("<!-- blameless-disable -->\n" + VALID.replace("## Impact", "## Nothing")) == []
