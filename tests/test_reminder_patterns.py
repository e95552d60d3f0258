"""The action-item reminder patterns are searched as one alternation, compiled alone when it can be."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from checks.rules.action_items import alternation

ROOT = Path(__file__).resolve().parent.parent


def test_patterns_with_their_own_groups_or_flags_are_left_separate():
    assert alternation(["(remind)ers?", "train"]) is None  # a group would renumber
    assert alternation(["train", "(?s)be.careful"]) is None  # flags only at the very start
    assert alternation(["remember|recall", "be (?:more )?careful"]).search("Be more careful").group() == (
        "Be more careful"
    )


def test_checking_an_item_compiles_only_the_alternation():
    # In a fresh process: the separate patterns are compiled only for rule data that cannot combine.
    script = (
        "from checks.engine import check_text\n"
        "from checks.rules import action_items\n"
        "found = check_text(open('examples/postmortems/2026-05-02-blameful-draft.md').read()).findings\n"
        "assert any(f.rule == 'action-items.reminder' for f in found)\n"
        "print(action_items.reminder_pattern.cache_info().currsize,"
        " action_items.reminder_patterns.cache_info().currsize)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.stdout.split() == ["1", "0"]
