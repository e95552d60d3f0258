"""Owners written the ways teams write them: a handle after "owner", a leading name before "to
<verb>", a name in capitals in parentheses; and what is not an owner."""

from __future__ import annotations

import pytest

from checks.engine import check_text


def owners(line: str) -> list[str]:
    (item,) = check_text(f"## Action items\n\n{line}\n", "pm.md").document.action_items
    return item.owners


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("- Add a lag alert (owner: @kim) type: guardrail due 2026-05-01", ["kim"]),
        ("- Anika to add a lag alert to the replica dashboard — guardrail", ["Anika"]),
        ("- AI-3: Sigrún will add a canary stage for config changes", ["Sigrún"]),
        ("- Add a lag alert to the replica dashboard (KIM) — guardrail, due 2026-05-01", ["KIM"]),
    ],
)
def test_written_owners_are_found(line, expected):
    assert owners(line) == expected


@pytest.mark.parametrize(
    "line",
    ["- Add a CI gate for migrations (CI)", "- We to add a gate", "- Add a canary stage to the deploy"],
)
def test_words_that_are_not_owners_stay_missing(line):
    assert owners(line) == []


def test_a_written_owner_without_a_handle_is_an_owner_format_finding():
    result = check_text("## Action items\n\n- Anika to add a lag alert — guardrail\n", "pm.md")
    rules = {f.rule for f in result.findings}
    assert "action-items.owner-format" in rules and "action-items.missing-owner" not in rules
