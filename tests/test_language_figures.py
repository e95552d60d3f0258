"""The detector's held-out figures do not regress: the corpus test split is rescored and compared
with the figures recorded in bench/language_figures.json (at most 0.02 lower)."""

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


@pytest.fixture(scope="module")
def test_split():
    return language_eval.evaluate_sentences("test")


def test_overall_precision_and_recall_hold(test_split):
    recorded = RECORDED["sentences"]["test"]["overall"]
    assert test_split.overall.precision >= recorded["precision"] - TOLERANCE
    assert test_split.overall.recall >= recorded["recall"] - TOLERANCE


def test_each_category_holds(test_split):
    recorded = RECORDED["sentences"]["test"]["categories"]
    worse = [
        rule
        for rule, figures in recorded.items()
        if test_split.by_rule.get(rule, language_eval.Counts()).precision < figures["precision"] - TOLERANCE
        or test_split.by_rule.get(rule, language_eval.Counts()).recall < figures["recall"] - TOLERANCE
    ]
    assert worse == []


def test_action_item_figures_hold():
    recorded = RECORDED["action_items"]["test"]
    report = language_eval.evaluate_items("test").to_dict()
    assert report["people_and_vague_reported"] >= recorded["people_and_vague_reported"] - TOLERANCE
    assert report["typed_reported"] <= recorded["typed_reported"] + TOLERANCE
