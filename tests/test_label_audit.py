"""The label audit's files hold together: the stored sample is the one the script draws from the
frozen corpus, every sampled row was read by both readers with valid labels, and the agreement
statistic is Cohen's kappa."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench import corpus, label_audit


def readings() -> list[dict]:
    return [json.loads(line) for line in label_audit.READINGS.read_text("utf-8").splitlines() if line.strip()]


def test_the_stored_sample_is_the_draw_from_the_frozen_corpus():
    stored = json.loads(label_audit.SAMPLE.read_text("utf-8"))
    assert stored == label_audit.draw_sample()


def test_the_sample_holds_real_held_out_rows_in_the_planned_numbers():
    stored = json.loads(label_audit.SAMPLE.read_text("utf-8"))
    split_of = label_audit.split_at_audit()
    real = {
        r["id"] for f in ("sentences.jsonl", "action_items.jsonl") for r in corpus._jsonl(f) if r.get("real")
    }
    for part, planned in (
        ("sentences", label_audit.SENTENCES_PER_SPLIT),
        ("items", label_audit.ITEMS_PER_SPLIT),
    ):
        ids = [row["id"] for row in stored[part]]
        assert len(set(ids)) == len(ids)
        assert set(ids) <= real
        assert Counter(split_of[i] for i in ids) == Counter(planned)


def test_every_sampled_row_is_read_once_by_each_reader_with_valid_labels():
    stored = json.loads(label_audit.SAMPLE.read_text("utf-8"))
    sampled = {row["id"]: part for part in ("sentences", "items") for row in stored[part]}
    seen = Counter((row["id"], row["reader"]) for row in readings())
    assert set(seen) == {(i, r) for i in sampled for r in label_audit.READERS}
    assert set(seen.values()) == {1}
    for row in readings():
        if sampled[row["id"]] == "items":
            assert row["kind"] in corpus.ITEM_KINDS
        else:
            assert set(row["categories"]) <= set(corpus.CATEGORIES)


def test_an_answer_file_missing_a_row_is_refused_with_its_name(tmp_path):
    answers = tmp_path / "items.a.jsonl"
    answers.write_text(json.dumps({"ref": "i0001", "kind": "vague"}) + "\n", "utf-8")
    with pytest.raises(SystemExit, match=r"items\.a\.jsonl: 1 refs unanswered, first i0002"):
        label_audit.check_answer(answers, ["i0001", "i0002"], is_items=True)


def test_an_unknown_label_is_refused_with_its_line(tmp_path):
    answers = tmp_path / "sentences-1.b.jsonl"
    answers.write_text(json.dumps({"ref": "s0001", "categories": ["blame"]}) + "\n", "utf-8")
    with pytest.raises(SystemExit, match=r"sentences-1\.b\.jsonl:1: labels \['blame'\]"):
        label_audit.check_answer(answers, ["s0001"], is_items=False)


def test_kappa_is_cohens_on_a_worked_example():
    # 50 rows: both yes 20, yes/no 5, no/yes 10, both no 15. Observed agreement 0.7; chance
    # agreement 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa (0.7 - 0.5) / (1 - 0.5) = 0.4.
    pairs = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    assert label_audit.kappa(pairs) == pytest.approx(0.4)
    assert label_audit.kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)


def test_a_table_row_counts_reported_rows_among_positives_and_negatives():
    truth = {"x": True, "y": True, "z": False, "w": False}
    reported = {"x": True, "y": False, "z": True, "w": False}
    assert (
        label_audit.table_row("all", list(truth), truth, reported)
        == "| all | 4 | 2 | 0.500 (1/2) | 0.500 (1/2) |"
    )


def test_the_unanimous_rows_are_those_both_readers_and_the_corpus_agree_on(capsys):
    answers = {
        "corpus": {"x": True, "y": True, "z": False},
        "a": {"x": True, "y": False, "z": False},
        "b": {"x": True, "y": True, "z": False},
    }
    reported = dict.fromkeys(answers["corpus"], False)
    assert label_audit.compare("blame", ["x", "y", "z"], answers, reported, "yes", "no") == ["x", "z"]
    assert "readers agree on blame: 0.667 (2/3)" in capsys.readouterr().out


def test_a_line_that_is_not_json_is_refused_with_its_line(tmp_path):
    answers = tmp_path / "items.b.jsonl"
    answers.write_text('{"ref": "i0001", "kind": "vague"}\n{"ref": "i0002", kind: vague}\n', "utf-8")
    with pytest.raises(SystemExit, match=r"items\.b\.jsonl:2: not a JSON line"):
        label_audit.check_answer(answers, ["i0001", "i0002"], is_items=True)
