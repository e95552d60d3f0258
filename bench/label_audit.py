"""How far the corpus labels hold: a blind, two-reader relabelling of a sample of the held-out rows.

The held-out figures are only as good as the labels they are scored against. This script draws a
fixed random sample of the real rows of `test`, `holdout` and `fresh`, hands them to readers under
opaque references (no corpus id, no label, no score), and compares what two independent readers
said with each other, with the corpus label, and with what the checks report:

    python bench/label_audit.py packets DIR   # write the reader packets (the sample is fixed)
    python bench/label_audit.py collect DIR   # check the readers' answers, store them in the corpus
    python bench/label_audit.py score         # agreement, and the checks' figures on each reading

Readers label by the "Labelling rules" of `tests/data/corpus/README.md`. A packet `P` read by
reader `R` is answered in `DIR/P.R.jsonl`, one JSON object per row: `{"ref": ..., "categories":
[...]}` for sentences (an empty list is blameless), `{"ref": ..., "kind": ...}` for action items.
The answers are kept in `tests/data/corpus/audit/readings.jsonl`; the sample is `sample.json`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402

AUDIT = corpus.CORPUS / "audit"
SAMPLE = AUDIT / "sample.json"
READINGS = AUDIT / "readings.jsonl"
SEED = 20261203
AUDITED_FRESH_BATCH = "batch5"
# Rows drawn per split: sentences, then action items. Real rows only: real text is what the
# figures are about.
SENTENCES_PER_SPLIT = {"fresh": 600, "test": 300, "holdout": 300}
ITEMS_PER_SPLIT = {"fresh": 150, "test": 75, "holdout": 75}
SENTENCE_PACKET_SIZE = 400
READERS = ("a", "b")


def split_at_audit() -> dict[str, str]:
    """Each row's split in the release the audit sampled. The fifth batch (`"fit": "batch5"`) was
    that release's `fresh` split and is fitted since: the draw stays the same as the corpus grows."""
    split_of = corpus._split_of()
    for file in ("sentences.jsonl", "action_items.jsonl"):
        for row in corpus._jsonl(file):
            if row.get("fit") == AUDITED_FRESH_BATCH:
                split_of[row["id"]] = "fresh"
            elif split_of.get(row["id"]) == "fresh":
                split_of[row["id"]] = "later"  # collected after the audit
    return split_of


def draw_sample() -> dict:
    """The fixed sample: per split, a seeded draw of real row ids, then shuffled under refs."""
    split_of = split_at_audit()
    rng = random.Random(SEED)
    sample = {"seed": SEED, "sentences": [], "items": []}
    for part, per_split, file in (
        ("sentences", SENTENCES_PER_SPLIT, "sentences.jsonl"),
        ("items", ITEMS_PER_SPLIT, "action_items.jsonl"),
    ):
        rows = corpus._jsonl(file)
        drawn = []
        for split, size in per_split.items():
            ids = [r["id"] for r in rows if r.get("real") and split_of.get(r["id"]) == split]
            drawn += rng.sample(ids, size)
        rng.shuffle(drawn)
        prefix = "s" if part == "sentences" else "i"
        sample[part] = [{"ref": f"{prefix}{n:04d}", "id": row_id} for n, row_id in enumerate(drawn, 1)]
    return sample


def packets(sample: dict) -> dict[str, list[dict]]:
    """Reader packets: refs and text only. Sentences in packets of SENTENCE_PACKET_SIZE, items in one."""
    text = {r["id"]: r["text"] for f in ("sentences.jsonl", "action_items.jsonl") for r in corpus._jsonl(f)}
    found: dict[str, list[dict]] = {}
    sentences = sample["sentences"]
    for start in range(0, len(sentences), SENTENCE_PACKET_SIZE):
        name = f"sentences-{start // SENTENCE_PACKET_SIZE + 1}"
        found[name] = [
            {"ref": s["ref"], "text": text[s["id"]]} for s in sentences[start : start + SENTENCE_PACKET_SIZE]
        ]
    found["items"] = [{"ref": s["ref"], "text": text[s["id"]]} for s in sample["items"]]
    return found


def write_packets(directory: Path) -> None:
    sample = draw_sample()
    if SAMPLE.exists() and json.loads(SAMPLE.read_text("utf-8")) != sample:
        raise SystemExit(
            f"{SAMPLE.relative_to(ROOT)} differs from the draw: the corpus changed since the audit"
        )
    AUDIT.mkdir(exist_ok=True)
    SAMPLE.write_text(json.dumps(sample, indent=1) + "\n", "utf-8")
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in packets(sample).items():
        (directory / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
        )
        print(f"{directory / name}.jsonl: {len(rows)} rows")


def check_answer(path: Path, expected_refs: list[str], is_items: bool) -> list[dict]:
    """One reader's answers, every ref once with a valid label; errors name the file and line."""
    valid = set(corpus.ITEM_KINDS) if is_items else set(corpus.CATEGORIES)
    seen: dict[str, dict] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise SystemExit(f"{where}: not a JSON line ({exc})") from None
        if not isinstance(row, dict) or row.get("ref") not in expected_refs:
            raise SystemExit(f"{where}: no ref of this packet in {line.strip()[:60]!r}")
        if row["ref"] in seen:
            raise SystemExit(f"{where}: ref {row['ref']} answered twice")
        labels = [row.get("kind")] if is_items else row.get("categories")
        if not isinstance(labels, list) or not set(labels) <= valid:
            raise SystemExit(f"{where}: labels {labels!r} are not among {sorted(valid)}")
        seen[row["ref"]] = row
    missing = [ref for ref in expected_refs if ref not in seen]
    if missing:
        raise SystemExit(f"{path}: {len(missing)} refs unanswered, first {missing[0]}")
    return [seen[ref] for ref in expected_refs]


def collect(directory: Path) -> None:
    sample = json.loads(SAMPLE.read_text("utf-8"))
    id_of = {s["ref"]: s["id"] for part in ("sentences", "items") for s in sample[part]}
    out = []
    for name, rows in packets(sample).items():
        refs = [r["ref"] for r in rows]
        for reader in READERS:
            for row in check_answer(directory / f"{name}.{reader}.jsonl", refs, name == "items"):
                label = (
                    {"kind": row["kind"]}
                    if name == "items"
                    else {"categories": sorted(set(row["categories"]))}
                )
                out.append({"id": id_of[row["ref"]], "packet": name, "reader": reader, **label})
    READINGS.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), "utf-8")
    print(f"wrote {len(out)} readings to {READINGS.relative_to(ROOT)}")


def kappa(pairs: list[tuple[object, object]]) -> float:
    """Cohen's kappa of two readers' labels (any hashable labels)."""
    observed = sum(a == b for a, b in pairs) / len(pairs)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[k] * second[k] for k in first) / len(pairs) ** 2
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def readings_by_id() -> dict[str, dict[str, dict]]:
    found: dict[str, dict[str, dict]] = {}
    for line in READINGS.read_text("utf-8").splitlines():
        row = json.loads(line)
        found.setdefault(row["id"], {})[row["reader"]] = row
    return found


def score() -> None:
    from bench import language_eval

    split_of = split_at_audit()
    readings = readings_by_id()
    rows = {r["id"]: r for f in ("sentences.jsonl", "action_items.jsonl") for r in corpus._jsonl(f)}
    sample = json.loads(SAMPLE.read_text("utf-8"))
    sentence_ids = [s["id"] for s in sample["sentences"]]
    item_ids = [s["id"] for s in sample["items"]]

    def sentence_reported(i: str) -> bool:
        return bool(
            language_eval.fired(corpus.Sentence(rows[i]["text"], frozenset(), split_of[i], real=True))
        )

    def item_reported(i: str) -> bool:
        item = corpus.Item(rows[i]["text"], rows[i]["kind"], split_of[i], real=True)
        return bool(language_eval.item_fired(item) & language_eval.REPORTING_RULES)

    print(f"## Sentences: {len(sentence_ids)} real held-out rows, read blind by two readers\n")
    blameful = {
        "corpus": {i: bool(rows[i]["categories"]) for i in sentence_ids},
        **{r: {i: bool(readings[i][r]["categories"]) for i in sentence_ids} for r in READERS},
    }
    reported = {i: sentence_reported(i) for i in sentence_ids}
    unanimous = compare("blameful or not", sentence_ids, blameful, reported, "blameful", "blameless")
    print_categories(sentence_ids, rows, readings, reported)
    # The audited `fresh` rows are fitted by the models released after the audit: for those models
    # its row is a figure on tuned data.
    print("By split at the audit, on the rows where readers and corpus all agree:\n")
    print(TABLE_HEAD.format("split", "blameful", "blameless"))
    for split in SENTENCES_PER_SPLIT:
        subset = [i for i in unanimous if split_of[i] == split]
        print(table_row(split, subset, blameful["corpus"], reported))

    print(f"\n## Action items: {len(item_ids)} real held-out items, read blind by two readers\n")
    kinds = {
        "corpus": {i: rows[i]["kind"] for i in item_ids},
        **{r: {i: readings[i][r]["kind"] for i in item_ids} for r in READERS},
    }
    a, b = READERS
    pairs = [(kinds[a][i], kinds[b][i]) for i in item_ids]
    print(f"- readers agree on the kind: {agreement(pairs)}")
    flagged = {who: {i: kind in corpus.REPORTED_KINDS for i, kind in by.items()} for who, by in kinds.items()}
    reported = {i: item_reported(i) for i in item_ids}
    compare("reminder, training or vague", item_ids, flagged, reported, "people or vague", "typed")


TABLE_HEAD = "| {0} | rows | {1} | {1} reported | {2} reported |\n|---|---:|---:|---:|---:|"


def agreement(pairs: list[tuple[object, object]]) -> str:
    return f"{_rate(sum(x == y for x, y in pairs), len(pairs))}, kappa {kappa(pairs):.2f}"


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "–"


def table_row(name: str, subset: list[str], truth: dict[str, bool], reported: dict[str, bool]) -> str:
    positives = [i for i in subset if truth[i]]
    negatives = [i for i in subset if not truth[i]]
    found = _rate(sum(reported[i] for i in positives), len(positives))
    false = _rate(sum(reported[i] for i in negatives), len(negatives))
    return f"| {name} | {len(subset)} | {len(positives)} | {found} | {false} |"


def compare(
    question: str, ids: list[str], answers: dict, reported: dict[str, bool], yes: str, no: str
) -> list[str]:
    """Agreement on a yes/no question between the readers and the corpus, and the checks' figures
    against each reading. Returns the rows where readers and corpus all agree."""
    a, b = READERS
    pairs = [(answers[a][i], answers[b][i]) for i in ids]
    print(f"- readers agree on {question}: {agreement(pairs)}")
    for r in READERS:
        with_corpus = [(answers[r][i], answers["corpus"][i]) for i in ids]
        print(f"- reader {r} agrees with the corpus: {agreement(with_corpus)}")
    agreed = [i for i in ids if answers[a][i] == answers[b][i]]
    unanimous = [i for i in agreed if answers[a][i] == answers["corpus"][i]]
    print()
    print(TABLE_HEAD.format("labels scored against", yes, no))
    print(table_row("the corpus", ids, answers["corpus"], reported))
    print(table_row("the two readers, where they agree", agreed, answers[a], reported))
    print(table_row("readers and corpus, where all three agree", unanimous, answers["corpus"], reported))
    print()
    return unanimous


def print_categories(ids: list[str], rows: dict, readings: dict, reported: dict[str, bool]) -> None:
    print("Per category: rows the corpus puts in it, rows both readers do, rows all three do, and of")
    print("those, the share the checks report (by any language rule):\n")
    print("| category | corpus | both readers | all three | of those, reported |\n|---|---:|---:|---:|---:|")
    for category in corpus.CATEGORIES:
        in_corpus = {i for i in ids if category in rows[i]["categories"]}
        in_readers = {i for i in ids if all(category in readings[i][r]["categories"] for r in READERS)}
        both = in_corpus & in_readers
        found = _rate(sum(reported[i] for i in both), len(both))
        print(f"| {category} | {len(in_corpus)} | {len(in_readers)} | {len(both)} | {found} |")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("packets").add_argument("directory", type=Path)
    commands.add_parser("collect").add_argument("directory", type=Path)
    commands.add_parser("score")
    args = parser.parse_args(argv)
    if args.command == "packets":
        write_packets(args.directory)
    elif args.command == "collect":
        collect(args.directory)
    else:
        score()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
