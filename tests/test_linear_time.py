"""Adversarial input: every pattern the engine runs must finish on long hostile strings.

The assertion is on the result (the engine returns), with inputs large enough that a pattern with
catastrophic backtracking would not finish within the test session; timing itself is left to bench/.
"""

import pytest

from checks.engine import check_text

N = 50_000
HOSTILE = [
    "a" * N,
    " " * N + "!",
    "@" + "a-" * N,
    "|" + " |" * (N // 2),
    "[" * N,
    "(" * N + "@",
    "-" * N,
    "`" * N,
    "<!--" * (N // 4),
    "14:" * (N // 3),
    "2026-" * (N // 5),
    "root " * (N // 5),
    "be more " * (N // 8),
    "owner: " * (N // 7),
    "{{" * (N // 2),
]


@pytest.mark.parametrize("payload", HOSTILE, ids=lambda p: repr(p[:8]))
@pytest.mark.parametrize("where", ["Summary", "Timeline", "Action items", "Contributing factors"])
def test_hostile_text_in_every_section_returns(payload, where):
    text = f"## {where}\n\n- {payload}\n\n| a | b |\n|---|---|\n| {payload[:5000]} | x |\n"
    result = check_text(text, "hostile.md")
    assert result.document.source == text
