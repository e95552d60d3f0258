"""Precision and recall of the language and action-item checks, per category and per split.

Splits of the corpus (`tests/data/corpus/`): `train` and `dev` (the model is fitted on both and
its thresholds are chosen on out-of-fold scores over both), `test` (scored once per release of the
model, never tuned on: pass `--score-test`), `holdout` (real text from sources kept apart from
every other split, collected after the detector's features were written; scored with `test`) and
`fresh` (real text collected after the shipped model's fitting rows were frozen, from sites and
repositories no other split draws on: the nearest to text from other writers; scored with `test`).
The older development set's splits are scored for continuity as `devset-train`
(written with the phrase rules, and fitted on), `devset-test` and `devset-test2`.

Each sentence is checked on its own, as one paragraph (or one timeline entry when the old set says
so), and the language rule ids that fire, at any level, are compared with its labels. Per
category: a hit on a sentence labelled with it is a true positive, on any other sentence a false
positive, a label that does not fire a false negative. Overall: a sentence is reported when any
language rule fires. Action items are checked with no declared type; an item is reported when
`action-items.reminder` or `action-items.vague` fires.

    python bench/language_eval.py [--split dev] [--show-errors] [--score-test] [--write]

`--write` records every split's figures in `bench/language_figures.json` (CI compares the held-out
splits' figures with it: tests/test_language_figures.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus  # noqa: E402
from checks.config import Config  # noqa: E402
from checks.findings import Level  # noqa: E402
from checks.rules import action_items, language  # noqa: E402
from checks.rules.catalog import rule as rule_data  # noqa: E402

FIGURES = ROOT / "bench" / "language_figures.json"
TUNING_SPLITS = ("train", "dev")
HELD_OUT = ("test", "holdout", "fresh")
SENTENCE_SPLITS = ("train", "dev", "test", "holdout", "fresh", "devset-train", "devset-test", "devset-test2")
ITEM_SPLITS = ("train", "dev", "test", "holdout", "fresh")
HOW_USED = {
    "train": "tuned: the model is fitted on it",
    "dev": "tuned: the model is fitted on it and thresholds are chosen on it out of fold",
    "test": "held out: scored once, after tuning",
    "holdout": "held out: sources kept apart from every other split; scored once, after tuning",
    "fresh": "held out: collected after the fitting rows were frozen, sites no other split has; scored once",
    "devset-train": "tuned: the phrase rules were written on it and the model is fitted on it",
    "devset-test": "held out from the phrase rules; not fitted on",
    "devset-test2": "held out from the phrase rules; not fitted on",
}
REPORTING_RULES = frozenset({"action-items.reminder", "action-items.vague"})


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_dict(self) -> dict:
        return {
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass
class SentenceReport:
    split: str
    sentences: int = 0
    blameless: int = 0
    blameless_reported: int = 0
    real_documents: set[str] = field(default_factory=set)
    false_errors_in_real: int = 0  # error-level findings on blameless sentences of real documents
    overall: Counts = field(default_factory=Counts)
    by_rule: dict[str, Counts] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def false_errors_per_document(self) -> float:
        return self.false_errors_in_real / len(self.real_documents) if self.real_documents else 0.0

    @property
    def fp_rate(self) -> float:
        return self.blameless_reported / self.blameless if self.blameless else 0.0

    def to_dict(self) -> dict:
        return {
            "use": HOW_USED[self.split],
            "sentences": self.sentences,
            "blameful_recall": round(self.overall.recall, 3),
            "blameless_fp_rate": round(self.fp_rate, 3),
            "false_errors_per_real_document": round(self.false_errors_per_document, 3),
            "overall": self.overall.to_dict(),
            "categories": {rule: c.to_dict() for rule, c in sorted(self.by_rule.items())},
        }


@dataclass
class ItemReport:
    split: str
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind → [reported, total]
    errors: list[str] = field(default_factory=list)

    def rate(self, kinds) -> float:
        reported = sum(self.by_kind.get(k, [0, 0])[0] for k in kinds)
        total = sum(self.by_kind.get(k, [0, 0])[1] for k in kinds)
        return reported / total if total else 0.0

    def to_dict(self) -> dict:
        return {
            "use": HOW_USED[self.split],
            "items": sum(total for _, total in self.by_kind.values()),
            "people_and_vague_reported": round(self.rate(corpus.REPORTED_KINDS), 3),
            "typed_reported": round(self.rate(set(corpus.ITEM_KINDS) - corpus.REPORTED_KINDS), 3),
            "by_kind": {k: {"reported": r, "total": t} for k, (r, t) in sorted(self.by_kind.items())},
        }


def fired(sentence: corpus.Sentence, config: Config | None = None) -> set[str]:
    """The language rule ids that fire on one labelled sentence."""
    return set(fired_levels(sentence, config))


def fired_levels(sentence: corpus.Sentence, config: Config | None = None) -> dict[str, Level]:
    """The language rule ids that fire on one labelled sentence, each at its highest level."""
    doc = corpus.sentence_document(sentence)
    found: dict[str, Level] = {}
    for hit in language.check(doc, config or Config()):
        level = hit.level or rule_data(hit.rule).level
        found[hit.rule] = max(found.get(hit.rule, level), level)
    return found


def item_fired(item: corpus.Item, config: Config | None = None) -> set[str]:
    doc = corpus.item_document(item)
    return {hit.rule for hit in action_items.check(doc, config or Config())}


def evaluate_sentences(split: str) -> SentenceReport:
    rows = (
        corpus.devset_sentences({split}) if split.startswith("devset-") else corpus.corpus_sentences({split})
    )
    report = SentenceReport(split)
    for sentence in rows:
        report.sentences += 1
        expected = set(sentence.expect)
        levels = fired_levels(sentence)
        got = set(levels)
        if sentence.real and sentence.doc:
            report.real_documents.add(sentence.doc)
        if not expected:
            report.blameless += 1
            report.blameless_reported += bool(got)
            if sentence.real:
                report.false_errors_in_real += sum(1 for lv in levels.values() if lv == Level.ERROR)
        if expected and got:
            report.overall.tp += 1
        elif got:
            report.overall.fp += 1
        elif expected:
            report.overall.fn += 1
        for rule in expected | got:
            counts = report.by_rule.setdefault(rule, Counts())
            if rule in expected and rule in got:
                counts.tp += 1
            elif rule in got:
                counts.fp += 1
            else:
                counts.fn += 1
        if got != expected:
            missing = ", ".join(sorted(expected - got)) or "-"
            extra = ", ".join(sorted(got - expected)) or "-"
            report.errors.append(f"[{split}] missing {missing}; extra {extra}: {sentence.text}")
    return report


def evaluate_items(split: str) -> ItemReport:
    report = ItemReport(split)
    for item in corpus.corpus_items({split}):
        reported = bool(item_fired(item) & REPORTING_RULES)
        counts = report.by_kind.setdefault(item.kind, [0, 0])
        counts[0] += reported
        counts[1] += 1
        if reported != (item.kind in corpus.REPORTED_KINDS):
            report.errors.append(f"[{split}] {item.kind} {'reported' if reported else 'passed'}: {item.text}")
    return report


def render(report: SentenceReport) -> str:
    lines = [
        f"split={report.split} ({HOW_USED[report.split]}) sentences={report.sentences} "
        f"blameless FP rate={report.fp_rate:.3f} "
        f"false errors per real document={report.false_errors_per_document:.3f}"
    ]
    lines.append(f"{'category':<28}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for rule in sorted(report.by_rule):
        c = report.by_rule[rule]
        lines.append(f"{rule:<28}{c.precision:>10.3f}{c.recall:>8.3f}{c.tp:>5}{c.fp:>5}{c.fn:>5}")
    o = report.overall
    lines.append(f"{'overall (sentence)':<28}{o.precision:>10.3f}{o.recall:>8.3f}{o.tp:>5}{o.fp:>5}{o.fn:>5}")
    return "\n".join(lines)


def render_items(report: ItemReport) -> str:
    lines = [f"action items split={report.split} ({HOW_USED[report.split]})"]
    for kind, (reported, total) in sorted(report.by_kind.items()):
        lines.append(f"  {kind:<18} reported {reported:>4} of {total:<4}")
    lines.append(
        f"  reminder/training/vague reported {report.rate(corpus.REPORTED_KINDS):.3f}; "
        f"guardrail/constraint/decision-policy reported "
        f"{report.rate(set(corpus.ITEM_KINDS) - corpus.REPORTED_KINDS):.3f}"
    )
    return "\n".join(lines)


README = ROOT / "README.md"
README_MARKERS = ("<!-- language-figures:start -->\n", "<!-- language-figures:end -->")


def figures_markdown(figures: dict) -> str:
    """The README's tables of per-category figures on the held-out splits, from the recorded figures."""
    sentences = figures["sentences"]
    held = [s for s in HELD_OUT if s in sentences]
    header = "| category | " + " | ".join(f"{s}: precision | {s}: recall | {s}: tp / fp / fn" for s in held)
    lines = [header + " |", "|---|" + "---|---|---|" * len(held)]
    rules = sorted({rule for s in held for rule in sentences[s]["categories"]})
    named = [(f"`{rule}`", rule) for rule in rules]
    for name, rule in [*named, ("any `language.*` rule", None)]:
        cells = []
        for split in held:
            c = sentences[split]["overall"] if rule is None else sentences[split]["categories"].get(rule)
            if c is None:
                cells.append("– | – | –")
            else:
                cells.append(f"{c['precision']:.2f} | {c['recall']:.2f} | {c['tp']} / {c['fp']} / {c['fn']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    items = figures["action_items"]
    rows = [
        ("blameful sentences reported (recall)", "blameful_recall", sentences),
        ("blameless sentences reported", "blameless_fp_rate", sentences),
        ("false errors per real source document", "false_errors_per_real_document", sentences),
        ("reminder, training and vague items reported", "people_and_vague_reported", items),
        ("guardrail, constraint and decision-policy items reported", "typed_reported", items),
    ]
    columns = ("train", "dev", "test", "holdout", "fresh")
    lines += [
        "",
        "| measure | train (fitted) | dev (fitted, thresholds out of fold) | test (held out) "
        "| holdout (held out) | fresh (held out) |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, table in rows:
        cells = " | ".join(f"{table[s][key]:.3f}" if s in table else "–" for s in columns)
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines) + "\n"


def write_readme(figures: dict) -> None:
    start, end = README_MARKERS
    text = README.read_text("utf-8")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    README.write_text(before + start + figures_markdown(figures) + end + after, "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", help="one split (default: every split but test)")
    parser.add_argument("--show-errors", action="store_true", help="list errors (never on test)")
    parser.add_argument("--score-test", action="store_true", help="also score the held-out splits")
    parser.add_argument("--write", action="store_true", help=f"record the figures in {FIGURES.name}")
    parser.add_argument("--readme", action="store_true", help="rewrite the README table from the record")
    args = parser.parse_args(argv)
    if args.readme:
        write_readme(json.loads(FIGURES.read_text("utf-8")))
        return 0
    sentence_splits = [s for s in SENTENCE_SPLITS if s not in HELD_OUT or args.score_test]
    item_splits = [s for s in ITEM_SPLITS if s not in HELD_OUT or args.score_test]
    if args.split:
        sentence_splits = [s for s in sentence_splits if s == args.split]
        item_splits = [s for s in item_splits if s == args.split]
    figures: dict = {"sentences": {}, "action_items": {}}
    for split in sentence_splits:
        report = evaluate_sentences(split)
        figures["sentences"][split] = report.to_dict()
        print(render(report))
        if args.show_errors and split not in HELD_OUT:
            print("\n".join(report.errors))
        print()
    for split in item_splits:
        report = evaluate_items(split)
        figures["action_items"][split] = report.to_dict()
        print(render_items(report))
        if args.show_errors and split not in HELD_OUT:
            print("\n".join(report.errors))
        print()
    if args.write:
        FIGURES.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n", "utf-8")
        print(f"wrote {FIGURES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
