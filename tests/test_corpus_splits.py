"""The labelled corpus's splits stay frozen: rows are where their flags put them, a document never
straddles two splits, and the files match FROZEN.sha256."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
FILES = ("sentences.jsonl", "action_items.jsonl")


def rows() -> list[dict]:
    return [
        json.loads(line)
        for name in FILES
        for line in (CORPUS / name).read_text("utf-8").splitlines()
        if line.strip()
    ]


def split_of() -> dict[str, str]:
    splits = json.loads((CORPUS / "splits.json").read_text("utf-8"))
    return {row_id: name for name, ids in splits.items() if name != "method" for row_id in ids}


def test_the_files_match_their_frozen_digests():
    check = subprocess.run(
        [sys.executable, str(CORPUS / "freeze.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout


def test_flagged_rows_are_in_their_held_out_split():
    where = split_of()
    misplaced = [
        row["id"]
        for row in rows()
        if (row.get("holdout") and where[row["id"]] != "holdout")
        or (row.get("fresh") and where[row["id"]] != "fresh")
        or (not row.get("holdout") and not row.get("fresh") and where[row["id"]] in ("holdout", "fresh"))
    ]
    assert misplaced == []


def test_rows_collected_for_fitting_are_fitted_whatever_their_bucket():
    where = split_of()
    fit = [row for row in rows() if row.get("fit") and not row.get("holdout") and not row.get("fresh")]
    assert fit, "the fifth batch is fitted"
    assert {where[row["id"]] for row in fit} == {"train"}


def test_a_document_never_straddles_two_splits():
    where = split_of()
    splits_of_doc: dict[str, set[str]] = {}
    for row in rows():
        splits_of_doc.setdefault(row["doc"], set()).add(where[row["id"]])
    assert {doc: found for doc, found in splits_of_doc.items() if len(found) > 1} == {}


def test_every_row_is_in_exactly_one_split():
    splits = json.loads((CORPUS / "splits.json").read_text("utf-8"))
    listed = [row_id for name, ids in splits.items() if name != "method" for row_id in ids]
    assert sorted(listed) == sorted(row["id"] for row in rows())
