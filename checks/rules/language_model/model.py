"""The shipped linear models, scored in pure Python: sentence categories and action-item kinds.

`checks/data/language_model.json` holds, per model, the classes, a bias, the feature names with a
weight row each, and the thresholds chosen out of fold; plus the lemma table. It is written by
`bench/train_language.py`; nothing here needs the training libraries.

The weight rows are packed: hundredths as little-endian 16-bit integers, deflated and base64'd, in
the order of the feature names. Weights are rounded to hundredths anyway, and `n / 100` is exactly
the double that JSON's "0.37" parses to, so the scores are bitwise those of a plain JSON list, while
the file loads in a third of the time (parsing some 100,000 JSON numbers dominated every run's
start).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import operator
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
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


def _sigmoids(values: list[float]) -> list[float]:
    """`_sigmoid` of each value, the same doubles, in one comprehension instead of a call each."""
    exp = math.exp
    return [1.0 / (1.0 + exp(-value)) if value >= 0 else (e := exp(value)) / (1.0 + e) for value in values]


# Up to Python 3.11 `sum` adds floats one at a time, in order, in a C double: the doubles the plain
# loop gives, without a call per addition. From 3.12 it compensates rounding, so there the columns
# are added up with `reduce`.
SUM_ADDS_IN_ORDER = sys.version_info < (3, 12)


def pack_weights(names: list[str], rows: list[list[float]]) -> str:
    """The weight rows in the shipped form (see the module docstring); rows must be in hundredths."""
    centi = array("h")
    for row in rows:
        for weight in row:
            value = round(weight * 100)
            if value / 100 != weight:
                raise ValueError(
                    f"weight {weight!r} of {names[len(centi) // len(row)]!r} is not in hundredths"
                )
            centi.append(value)  # OverflowError past ±327.67: no trained weight comes near
    if sys.byteorder == "big":
        centi.byteswap()
    return base64.b64encode(zlib.compress(centi.tobytes(), 9)).decode("ascii")


class WeightRows(Mapping):
    """Feature name → weight row (one float per class), each row unpacked the first time it is used.

    A run scores a few hundred of the model's thousands of features, and turning every packed
    weight into a float at load cost each start more than reading the file. The rows come out
    exactly as eager unpacking gives them (`n / 100`, the same doubles).
    """

    def __init__(self, index: dict[str, int], unpacked: _Unpacked):
        self._index = index
        self._rows = unpacked

    @classmethod
    def packed(cls, names: list[str], centi: array, width: int) -> WeightRows:
        if len(centi) != len(names) * width:
            raise ValueError(f"{len(centi)} packed weights for {len(names)} features of {width} classes")
        index = dict(zip(names, range(len(names)), strict=True))
        return cls(index, _Unpacked(index, centi, width))

    @classmethod
    def plain(cls, rows: Mapping[str, Iterable[float]]) -> WeightRows:
        unpacked = _Unpacked({}, array("h"), 0)
        unpacked.update((name, tuple(row)) for name, row in rows.items())
        return cls(dict.fromkeys(unpacked, 0), unpacked)

    def present(self, names: Iterable[str]) -> list[tuple[float, ...]]:
        """The rows of those of `names` the model has, in their order (the lookups run in C)."""
        return [*map(self._rows.__getitem__, filter(self._index.__contains__, names))]

    def __getitem__(self, name: str) -> tuple[float, ...]:
        if name not in self._index:
            raise KeyError(name)
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index


class _Unpacked(dict):
    """The rows unpacked so far; a missing one is unpacked on first lookup and kept."""

    def __init__(self, index: dict[str, int], centi: array, width: int):
        super().__init__()
        self._index, self._centi, self._width = index, centi, width

    def __missing__(self, name: str) -> tuple[float, ...]:
        start = self._index[name] * self._width
        row = tuple(map(operator.truediv, self._centi[start : start + self._width], itertools.repeat(100)))
        self[name] = row
        return row


def unpack_weights(data: dict) -> WeightRows:
    """Feature name → weight row, from the packed form or from plain rows (the trainer's folds)."""
    if "weights" in data:
        return WeightRows.plain(data["weights"])
    centi = array("h")
    centi.frombytes(zlib.decompress(base64.b64decode(data["packed_weights"])))
    if sys.byteorder == "big":
        centi.byteswap()
    return WeightRows.packed(data["features"], centi, len(data["classes"]))


@dataclass(frozen=True)
class Linear:
    """One-vs-rest logistic models over named features; `multiclass` normalises with a softmax."""

    classes: tuple[str, ...]
    bias: tuple[float, ...]
    weights: WeightRows  # a plain mapping is turned into one
    thresholds: dict[str, float]
    error_thresholds: dict[str, float]
    multiclass: bool = False
    report_thresholds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.weights, WeightRows):
            object.__setattr__(self, "weights", WeightRows.plain(self.weights))

    @classmethod
    def from_data(cls, data: dict) -> Linear:
        return cls(
            classes=tuple(data["classes"]),
            bias=tuple(data["bias"]),
            weights=unpack_weights(data),
            thresholds=dict(data.get("thresholds", {})),
            error_thresholds=dict(data.get("error_thresholds", {})),
            multiclass=bool(data.get("multiclass", False)),
            report_thresholds=dict(data.get("report_thresholds", {})),
        )

    def margins(self, features: Iterable[str]) -> list[float]:
        """Each class's bias plus the weights of the distinct features present.

        The rows are looked up and each class's column added up in C (`map`, `zip`, `sum` or
        `reduce`), in the same order as one row at a time: bias first, then the rows in the order
        the features first appear, so every score is bitwise what the plain loop gives on every
        Python version (see `SUM_ADDS_IN_ORDER`). Not a set's order: that follows the string hash,
        which differs per process, and floating-point sums in another order differ in the last
        bit, so a score could land on either side of a threshold from one run to the next.
        """
        rows = self.weights.present(dict.fromkeys(features))
        if not rows:
            return list(self.bias)
        columns = zip(*rows, strict=True)
        if SUM_ADDS_IN_ORDER:
            return [*itertools.starmap(sum, zip(columns, self.bias, strict=True))]
        return [reduce(operator.add, column, bias) for bias, column in zip(self.bias, columns, strict=True)]

    def scores(self, features: Iterable[str]) -> dict[str, float]:
        margins = self.margins(features)
        if self.multiclass:
            top = max(margins)
            exps = [math.exp(m - top) for m in margins]
            total = sum(exps)
            return {c: e / total for c, e in zip(self.classes, exps, strict=True)}
        return dict(zip(self.classes, _sigmoids(margins), strict=True))

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
