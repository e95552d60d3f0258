"""The detector's held-out figures do not regress: the corpus test and holdout splits are rescored
and compared with the figures recorded in bench/language_figures.json (at most 0.02 lower)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import language_eval  # noqa: E402

TOLERANCE = 0.02
RECORDED = json.loads(language_eval.FIGURES.read_text("utf-8"))


HELD_OUT = [split for split in language_eval.HELD_OUT if split in RECORDED["sentences"]]


@pytest.fixture(scope="module", params=HELD_OUT)
def held_out(request):
    return request.param, language_eval.evaluate_sentences(request.param)


def test_overall_precision_and_recall_hold(held_out):
    split, test_split = held_out
    recorded = RECORDED["sentences"][split]["overall"]
    assert test_split.overall.precision >= recorded["precision"] - TOLERANCE
    assert test_split.overall.recall >= recorded["recall"] - TOLERANCE


def test_each_category_holds(held_out):
    split, test_split = held_out
    recorded = RECORDED["sentences"][split]["categories"]
    worse = [
        rule
        for rule, figures in recorded.items()
        if test_split.by_rule.get(rule, language_eval.Counts()).precision < figures["precision"] - TOLERANCE
        or test_split.by_rule.get(rule, language_eval.Counts()).recall < figures["recall"] - TOLERANCE
    ]
    assert worse == []


@pytest.mark.parametrize("split", HELD_OUT)
def test_action_item_figures_hold(split):
    recorded = RECORDED["action_items"][split]
    report = language_eval.evaluate_items(split).to_dict()
    assert report["people_and_vague_reported"] >= recorded["people_and_vague_reported"] - TOLERANCE
    assert report["typed_reported"] <= recorded["typed_reported"] + TOLERANCE
