"""The shipped linear models, scored in pure Python: sentence categories and action-item kinds.

`checks/data/language_model.json` holds, per model, the classes, a bias and a weight row per
feature, and the thresholds chosen on the development split; plus the lemma table. It is written by
`bench/train_language.py`; nothing here needs the training libraries.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, reduce
from pathlib import Path

from checks.rules.language_model.evidence import Lexicon

MODEL_PATH = Path(__file__).resolve().parent.parent.parent / "data" / "language_model.json"


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


@dataclass(frozen=True)
class Linear:
    """One-vs-rest logistic models over named features; `multiclass` normalises with a softmax."""

    classes: tuple[str, ...]
    bias: tuple[float, ...]
    weights: dict[str, tuple[float, ...]]
    thresholds: dict[str, float]
    error_thresholds: dict[str, float]
    multiclass: bool = False
    report_thresholds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict) -> Linear:
        return cls(
            classes=tuple(data["classes"]),
            bias=tuple(data["bias"]),
            weights={name: tuple(row) for name, row in data["weights"].items()},
            thresholds=dict(data.get("thresholds", {})),
            error_thresholds=dict(data.get("error_thresholds", {})),
            multiclass=bool(data.get("multiclass", False)),
            report_thresholds=dict(data.get("report_thresholds", {})),
        )

    def margins(self, features: Iterable[str]) -> list[float]:
        """Each class's bias plus the weights of the distinct features present.

        The rows are looked up and each class's column added up in C (`map`, `zip`, `reduce`),
        in the same order as one row at a time: bias first, then the rows in the set's order, so
        every score is bitwise what the plain loop gives. (`sum` is not used: from Python 3.12 it
        compensates rounding, and scores would differ by version.)
        """
        rows = [*filter(None, map(self.weights.get, set(features)))]
        if not rows:
            return list(self.bias)
        columns = zip(*rows, strict=True)
        return [reduce(operator.add, column, bias) for bias, column in zip(self.bias, columns, strict=True)]

    def scores(self, features: Iterable[str]) -> dict[str, float]:
        margins = self.margins(features)
        if self.multiclass:
            top = max(margins)
            exps = [math.exp(m - top) for m in margins]
            total = sum(exps)
            return {c: e / total for c, e in zip(self.classes, exps, strict=True)}
        return {c: _sigmoid(m) for c, m in zip(self.classes, margins, strict=True)}

    def evidence(self, features: list[tuple[str, int]], label: str) -> list[tuple[float, str, int]]:
        """The features that pushed towards `label`, strongest first, with their token index."""
        column = self.classes.index(label)
        seen: dict[str, tuple[float, str, int]] = {}
        for name, index in features:
            row = self.weights.get(name)
            if row is not None and row[column] > 0 and name not in seen:
                seen[name] = (row[column], name, index)
        return sorted(seen.values(), key=lambda item: -item[0])


@dataclass(frozen=True)
class Model:
    lexicon: Lexicon
    sentences: Linear
    items: Linear


@cache
def load(path: Path = MODEL_PATH) -> Model:
    data = json.loads(path.read_text("utf-8"))
    lemmas: dict[str, str] = {}
    for lemma, forms in data["lemmas"].items():
        lemmas[lemma] = lemma
        for form in forms:
            lemmas.setdefault(form, lemma)
    return Model(
        lexicon=Lexicon(lemmas),
        sentences=Linear.from_data(data["sentences"]),
        items=Linear.from_data(data["items"]),
    )
