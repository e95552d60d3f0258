"""Trains the blame detector and the action-item classifier and writes the shipped model file.

One command, reproducible (fixed seeds, sorted features):

    python bench/train_language.py

Fits on the corpus `train` and `dev` splits (plus the old development set's `train` split). The
thresholds are chosen on out-of-fold scores: the fitting rows are cut into five folds by source
document, each fold is scored by a model fitted on the other four, so every threshold is set on
text its model never saw, from the same writer never seen either. Real text weighs more than text
written for the corpus, and the false-positive budget is counted on real blameless sentences (with a
looser budget on the written hard negatives), because real writing is what the checks meet. The
final model is then fitted on all the fitting rows and written to `checks/data/language_model.json`
with the lemma table, the weights and the thresholds. The `test`, `holdout` and `fresh` splits are
never read here. Needs the `train` extra (scikit-learn, lemminflect); the engine scores the file without them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import lemminflect  # noqa: E402
import numpy as np  # noqa: E402
from scipy.sparse import csr_matrix  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from bench import corpus  # noqa: E402
from checks.config import Config  # noqa: E402
from checks.rules import language  # noqa: E402
from checks.rules.language_model import evidence  # noqa: E402
from checks.rules.language_model import model as trained  # noqa: E402

SEED = 11
FOLDS = 5
MIN_COUNT_SENTENCES = 3  # a sentence feature seen fewer times in the fitting rows is dropped
MIN_COUNT_ITEMS = 2
REAL_FP_RATE = 0.025  # real blameless sentences reported, all rules together (out of fold)
WRITTEN_FP_RATE = 0.15  # written hard negatives reported: built to sit next to blame, so looser
ITEM_TARGET_FP = 0.04  # guardrail, constraint and decision-policy items reported (out of fold)
ITEM_THRESHOLD_FLOOR = 0.5
TYPE_MISMATCH = 0.99  # a declared type is contradicted only when the text is this sure of another
C_SENTENCES = float(os.environ.get("C_SENTENCES", "0.1"))
C_ITEMS = float(os.environ.get("C_ITEMS", "0.3"))
POSITIVE_WEIGHT = float(os.environ.get("POS_WEIGHT", "3.0"))  # positives are rare: weigh them up
REAL_WEIGHT = float(os.environ.get("REAL_WEIGHT", "3.0"))  # real text is what the checks meet
THRESHOLD_FLOOR = 0.4
OVERALL_FLOOR = 0.3
MIN_GAIN = float(os.environ.get("MIN_GAIN", "0.5"))  # blameful sentences found per blameless added (+1)
WORD_SCALE = float(os.environ.get("WORD_SCALE", "1.0"))
MIN_WEIGHT = 0.05  # smaller weights are left out of the shipped file
POS_ORDER = ("VERB", "AUX", "ADJ", "NOUN", "ADV", "PROPN")
TOKEN = language.tokenize


def lemma_table(texts: list[str]) -> dict[str, list[str]]:
    """lemma → its other forms, for every lower-case word of the training texts and the word classes."""
    words = set()
    for text in texts:
        words.update(
            t.norm for t in TOKEN(text) if t.kind == "word" and t.text.islower() and t.norm.isalpha()
        )
    for members in [*evidence.WORD_CLASSES.values(), *evidence.ITEM_CLASSES.values()]:
        words.update(members)
    table: dict[str, set[str]] = {}
    for word in sorted(words):
        found = lemminflect.getAllLemmas(word)
        if not found:
            continue
        pos = next(p for p in (*POS_ORDER, *sorted(found)) if p in found)
        lemma = found[pos][0].lower()
        forms = table.setdefault(lemma, set())
        if word != lemma:
            forms.add(word)
        for inflections in lemminflect.getAllInflections(lemma).values():
            forms.update(f.lower() for f in inflections if f.lower() != lemma)
    return {lemma: sorted(forms) for lemma, forms in sorted(table.items())}


def write_model(data: dict) -> None:
    shipped = {name: packed(part) if "weights" in part else part for name, part in data.items()}
    trained.MODEL_PATH.write_text(json.dumps(shipped, separators=(",", ":"), sort_keys=True) + "\n", "utf-8")
    trained.load.cache_clear()


def packed(model: dict) -> dict:
    """A model's weight rows in the shipped form: feature names, and the rows packed in that order."""
    rest = {key: value for key, value in model.items() if key != "weights"}
    names = sorted(model["weights"])
    rows = [model["weights"][name] for name in names]
    return {**rest, "features": names, "packed_weights": trained.pack_weights(names, rows)}


def sentence_features(sentences: list[corpus.Sentence]) -> list[set[str]]:
    config = Config()
    rows = []
    for sentence in sentences:
        runs = language.prose_evidence(corpus.sentence_document(sentence), config)
        rows.append({name for run in runs for name, _ in run})
    return rows


def matrix(rows: list[set[str]], vocabulary: dict[str, int]) -> csr_matrix:
    indptr, indices = [0], []
    for row in rows:
        indices.extend(sorted(vocabulary[f] for f in row if f in vocabulary))
        indptr.append(len(indices))
    scale = feature_scale(vocabulary)
    data = scale[indices]
    return csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)))


def feature_scale(vocabulary: dict[str, int]) -> np.ndarray:
    """Words and word pairs enter at a smaller scale: a stronger prior against memorising phrases,
    so the evidence features carry what generalises. Exported weights fold the scale in."""
    scale = np.ones(len(vocabulary))
    for name, index in vocabulary.items():
        if name.startswith(("w:", "b:")):
            scale[index] = WORD_SCALE
    return scale


def vocabulary_of(rows: list[set[str]], min_count: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        for name in row:
            counts[name] = counts.get(name, 0) + 1
    kept = sorted(n for n, c in counts.items() if c >= min_count)
    return {name: i for i, name in enumerate(kept)}


def fit(x, y: np.ndarray, real: np.ndarray, c: float) -> LogisticRegression:
    """A logistic model where positives and real rows weigh more (weights multiply)."""
    weight = np.where(y, POSITIVE_WEIGHT, 1.0) * np.where(real, REAL_WEIGHT, 1.0)
    model = LogisticRegression(C=c, solver="liblinear", random_state=SEED)
    return model.fit(x, y, sample_weight=weight)


def folds_by_document(groups: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Five folds that never split a source document: a threshold is set on unseen writers."""
    return list(GroupKFold(n_splits=FOLDS).split(np.zeros(len(groups)), groups=groups))


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The threshold with the best F1 (ties: the higher threshold)."""
    best, chosen = -1.0, 0.5
    for threshold in np.arange(THRESHOLD_FLOOR, 0.96, 0.01):
        predicted = scores >= threshold
        tp = int(np.sum(predicted & truth))
        fp = int(np.sum(predicted & ~truth))
        fn = int(np.sum(~predicted & truth))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 >= best:
            best, chosen = f1, float(threshold)
    return round(float(chosen), 2)


def export(models: dict[str, LogisticRegression], vocabulary: dict[str, int], classes: list[str]) -> dict:
    names = sorted(vocabulary, key=vocabulary.get)
    columns = np.vstack([models[c].coef_[0] for c in classes]).T  # features × classes
    columns = columns * feature_scale(vocabulary)[:, None]
    weights = {}
    for name, row in zip(names, columns, strict=True):
        if np.max(np.abs(row)) >= MIN_WEIGHT:
            weights[name] = [round(float(w), 2) for w in row]
    bias = [round(float(models[c].intercept_[0]), 3) for c in classes]
    return {"classes": classes, "bias": bias, "weights": weights}


def sentence_groups(rows: list[corpus.Sentence]) -> list[str]:
    # The old development set has no documents: each of its rows is its own group.
    return [row.doc or f"devset-{index}" for index, row in enumerate(rows)]


def sentence_labels(rows: list[corpus.Sentence], label: str) -> np.ndarray:
    if label == language.OVERALL:
        return np.array([bool(r.expect) for r in rows])
    return np.array([f"language.{label}" in r.expect for r in rows])


def fit_sentences(rows, features, classes) -> tuple[dict[str, LogisticRegression], dict[str, int]]:
    vocabulary = vocabulary_of(features, MIN_COUNT_SENTENCES)
    x = matrix(features, vocabulary)
    real = np.array([r.real for r in rows])
    models = {label: fit(x, sentence_labels(rows, label), real, C_SENTENCES) for label in classes}
    return models, vocabulary


def out_of_fold_sentences(rows, features, classes) -> dict[str, np.ndarray]:
    """Each class's score for every row from a model fitted without the row's document."""
    scores = {label: np.zeros(len(rows)) for label in classes}
    for fit_index, held_index in folds_by_document(sentence_groups(rows)):
        models, vocabulary = fit_sentences(
            [rows[i] for i in fit_index], [features[i] for i in fit_index], classes
        )
        x_held = matrix([features[i] for i in held_index], vocabulary)
        for label in classes:
            scores[label][held_index] = models[label].predict_proba(x_held)[:, 1]
    return scores


def train_sentences() -> dict:
    rows = corpus.corpus_sentences({"train", "dev"}) + corpus.devset_sentences({"devset-train"})
    features = sentence_features(rows)
    classes = [language.OVERALL, *corpus.CATEGORIES]
    oof = out_of_fold_sentences(rows, features, classes)
    thresholds = {
        label: best_threshold(oof[label], sentence_labels(rows, label))
        for label in classes
        if label != language.OVERALL
    }
    report = fit_rate(rows, features, oof)
    print_out_of_fold(rows, features, oof, report)
    models, vocabulary = fit_sentences(rows, features, classes)
    data = export(models, vocabulary, classes)
    data["thresholds"] = thresholds
    data["report_thresholds"] = report
    data["error_thresholds"] = {c: round(min(0.97, max(0.85, t + 0.25)), 2) for c, t in thresholds.items()}
    return data


def fit_rate(rows, features, scores) -> dict[str, float]:
    """Per-class reporting thresholds: the most out-of-fold recall within the false-positive budget.

    Greedy: every class starts at 0.99; each step lowers the one class threshold that reports the
    most blameful sentences per blameless one added, while the blameless sentences reported (by the
    phrase rules and the model together) stay within REAL_FP_RATE of the real ones and
    WRITTEN_FP_RATE of the written hard negatives.
    """
    truth = np.array([bool(r.expect) for r in rows])
    real = np.array([r.real for r in rows])
    by_rules = np.array([any(f.startswith("r:") for f in row) for row in features])
    real_budget = int(REAL_FP_RATE * (~truth & real).sum())
    written_budget = int(WRITTEN_FP_RATE * (~truth & ~real).sum())
    report = dict.fromkeys(scores, 0.99)
    steps = np.round(np.arange(0.97, OVERALL_FLOOR - 0.001, -0.02), 2)
    weight = np.where(real, REAL_WEIGHT, 1.0)

    def flags(candidate) -> np.ndarray:
        found = by_rules.copy()
        for label, threshold in candidate.items():
            found |= scores[label] >= threshold
        return found

    current = flags(report)
    while True:
        best = None
        for label in scores:
            for threshold in steps[steps < report[label]]:
                found = flags({**report, label: threshold})
                over_real = (found & ~truth & real).sum() > real_budget
                if over_real or (found & ~truth & ~real).sum() > written_budget:
                    continue
                gained = float(weight[found & truth].sum() - weight[current & truth].sum())
                if gained <= 0:
                    continue
                added = float(weight[found & ~truth].sum() - weight[current & ~truth].sum())
                value = gained / (added + 1)
                if value < MIN_GAIN:
                    continue  # a step that buys as many false positives as it finds is noise
                if best is None or value > best[0]:
                    best = (value, label, float(threshold), found)
        if best is None:
            break
        _, label, threshold, current = best
        report[label] = threshold
    return {c: round(float(t), 2) for c, t in report.items()}


def print_out_of_fold(rows, features, scores, report) -> None:
    """The out-of-fold figures at the chosen thresholds: tuned data, a guide and not a result."""
    truth = np.array([bool(r.expect) for r in rows])
    real = np.array([r.real for r in rows])
    found = np.array([any(f.startswith("r:") for f in row) for row in features])
    for label, threshold in report.items():
        found |= scores[label] >= threshold
    for name, part in (("real", real), ("written", ~real)):
        recall = (found & truth & part).sum() / max(1, (truth & part).sum())
        fp = (found & ~truth & part).sum() / max(1, (~truth & part).sum())
        print(f"out of fold, {name}: blameful reported {recall:.3f}, blameless reported {fp:.3f}")
    for category in corpus.CATEGORIES:
        labelled = sentence_labels(rows, category) & real
        if labelled.any():
            recall = (found & labelled).sum() / labelled.sum()
            print(f"  {category:<12} real recall {recall:.2f} of {labelled.sum()}")


def train_items() -> dict:
    lexicon = trained.load().lexicon
    rows = corpus.corpus_items({"train", "dev"})
    features = [set(evidence.item_features(i.text, lexicon)) for i in rows]
    groups = [row.doc or f"item-{index}" for index, row in enumerate(rows)]
    oof_scores: list[dict[str, float]] = [{} for _ in rows]
    for fit_index, held_index in folds_by_document(groups):
        fitted = fit_items([rows[i] for i in fit_index], [features[i] for i in fit_index])
        fold = trained.Linear.from_data(fitted)
        for i in held_index:
            oof_scores[i] = fold.scores(features[i])
    data = fit_items(rows, features)
    data["thresholds"] = item_thresholds(rows, oof_scores)
    chosen = data["thresholds"]
    people = np.array([s["reminder"] + s["training"] for s in oof_scores])
    found = (people >= chosen["people"]) | (np.array([s["vague"] for s in oof_scores]) >= chosen["vague"])
    reported_kind = np.array([r.kind in corpus.REPORTED_KINDS for r in rows])
    print(
        f"out of fold, items: people and vague reported {found[reported_kind].mean():.3f}, "
        f"typed reported {found[~reported_kind].mean():.3f}"
    )
    return data


def fit_items(rows: list[corpus.Item], features: list[set[str]]) -> dict:
    vocabulary = vocabulary_of(features, MIN_COUNT_ITEMS)
    x = matrix(features, vocabulary)
    real = np.array([r.real for r in rows])
    classes = list(corpus.ITEM_KINDS)
    models = {k: fit(x, np.array([r.kind == k for r in rows]), real, C_ITEMS) for k in classes}
    data = export(models, vocabulary, classes)
    data["multiclass"] = True
    return data


def item_thresholds(rows, scores) -> dict[str, float]:
    """People-reliant and vague thresholds: the pair that reports the most reminder, training and
    vague items while typed items stay reported at the target rate."""
    reported_kind = np.array([r.kind in corpus.REPORTED_KINDS for r in rows])
    people = np.array([s["reminder"] + s["training"] for s in scores])
    vague = np.array([s["vague"] for s in scores])
    best = (-1, 0.999, 0.999)
    # Softmax scores crowd near 1 for a confident model: the grid is finer at the top.
    grid = np.concatenate(
        [[0.999, 0.995, 0.99], np.round(np.arange(0.98, ITEM_THRESHOLD_FLOOR - 0.001, -0.02), 2)]
    )
    for people_threshold in grid:
        for vague_threshold in grid:
            found = (people >= people_threshold) | (vague >= vague_threshold)
            if (found & ~reported_kind).sum() > ITEM_TARGET_FP * (~reported_kind).sum():
                continue
            hits = int((found & reported_kind).sum())
            if hits > best[0]:
                best = (hits, float(people_threshold), float(vague_threshold))
    return {"people": best[1], "vague": best[2], "type": TYPE_MISMATCH}


def main() -> int:
    texts = [s.text for s in corpus.corpus_sentences({"train", "dev"})]
    texts += [s.text for s in corpus.devset_sentences({"devset-train"})]
    texts += [i.text for i in corpus.corpus_items({"train", "dev"})]
    empty = {"classes": [], "bias": [], "weights": {}}
    data = {"lemmas": lemma_table(texts), "sentences": empty, "items": empty}
    write_model(data)  # the lemma table first: the features below look words up in it
    data["sentences"] = train_sentences()
    write_model(data)
    data["items"] = train_items()
    write_model(data)
    size = trained.MODEL_PATH.stat().st_size
    print(f"wrote {trained.MODEL_PATH.relative_to(ROOT)} ({size / 1024:.0f} KB)")
    print("sentence thresholds:", data["sentences"]["thresholds"])
    print("item thresholds:", data["items"]["thresholds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
