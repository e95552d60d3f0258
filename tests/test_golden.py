"""Golden outputs: every example postmortem's text report matches its file under tests/golden/.

Set UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff.
"""

import os
from pathlib import Path

import pytest

from checks.document.template import load_template
from checks.engine import check_text
from checks.output.formats import to_text

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples" / "postmortems").glob("*.md"))
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_golden(example):
    relative = example.relative_to(ROOT).as_posix()
    actual = to_text([check_text(example.read_text("utf-8"), relative)])
    golden = GOLDEN / f"{example.stem}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(actual, "utf-8")
    assert actual == golden.read_text("utf-8")


def test_there_are_good_and_bad_examples():
    reports = {p.stem: to_text([check_text(p.read_text("utf-8"), p.name)]) for p in EXAMPLES}
    assert sum(1 for r in reports.values() if r.endswith(" 0 findings.\n")) >= 2
    assert sum(1 for r in reports.values() if " error " in r) >= 1


def test_the_filled_in_example_passes_every_rule():
    good = ROOT / "examples" / "postmortems" / "2026-03-14-checkout-latency.md"
    assert check_text(good.read_text("utf-8"), good.name).findings == []


def test_the_unfilled_template_yields_only_placeholder_findings():
    rules = {f.rule for f in check_text(load_template(), "TEMPLATE.md").findings}
    assert rules == {"structure.placeholder"}
