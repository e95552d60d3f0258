"""Precision and recall of the language checks on the labelled development set.

Splits: `train` (written with the rules), `test` (held out, written before tuning), `test2` (a
second held-out batch written after the first test run, before any fix it prompted).

Each sentence of `tests/data/language_devset.yaml` is checked on its own (as one paragraph, or one
timeline entry when labelled so) and the language rule ids that fire are compared with its labels.
Per rule: a hit on a sentence labelled with that rule is a true positive, a hit on any other
sentence a false positive, a labelled rule that does not fire a false negative. Overall: a sentence
is predicted blameful when any language rule fires. The `test` split is held out: the rules were
not tuned on it, so its figures are the honest estimate.

    python bench/language_eval.py [--split train|test|all] [--show-errors]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from checks.config import Config  # noqa: E402
from checks.document.model import Document, Prose, Span  # noqa: E402
from checks.rules import language  # noqa: E402

DEVSET = ROOT / "tests" / "data" / "language_devset.yaml"


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


@dataclass
class Report:
    split: str
    sentences: int = 0
    overall: Counts = field(default_factory=Counts)
    by_rule: dict[str, Counts] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def load(path: Path = DEVSET) -> list[dict]:
    return yaml.safe_load(path.read_text("utf-8"))["items"]


def fired(item: dict, config: Config | None = None) -> set[str]:
    """The language rule ids that fire on one labelled sentence."""
    text = item["text"]
    in_timeline = bool(item.get("timeline"))
    section = item.get("section") or ("timeline" if in_timeline else None)
    prose = Prose(Span(0, len(text)), text, "list_item" if in_timeline else "paragraph", section, in_timeline)
    doc = Document("devset.md", text, prose=[prose])
    return {hit.rule for hit in language.check(doc, config or Config())}


def evaluate(items: list[dict], split: str = "all") -> Report:
    report = Report(split)
    for item in items:
        if split != "all" and item["split"] != split:
            continue
        report.sentences += 1
        expected = set(item["expect"])
        got = fired(item)
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
            report.errors.append(f"[{item['split']}] missing {missing}; extra {extra}: {item['text']}")
    return report


def render(report: Report) -> str:
    lines = [f"split={report.split} sentences={report.sentences}"]
    lines.append(f"{'category':<28}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for rule in sorted(report.by_rule):
        c = report.by_rule[rule]
        lines.append(f"{rule:<28}{c.precision:>10.3f}{c.recall:>8.3f}{c.tp:>5}{c.fp:>5}{c.fn:>5}")
    o = report.overall
    lines.append(f"{'overall (sentence)':<28}{o.precision:>10.3f}{o.recall:>8.3f}{o.tp:>5}{o.fp:>5}{o.fn:>5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="each", help="train, test, test2, all, or each (default)")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)
    items = load()
    names = sorted({item["split"] for item in items}, key=lambda s: (s != "train", s))
    splits = [*names, "all"] if args.split == "each" else [args.split]
    for split in splits:
        report = evaluate(items, split)
        print(render(report))
        if args.show_errors:
            print("\n".join(report.errors))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
