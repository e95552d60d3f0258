#!/usr/bin/env python3
"""Recompute splits.json and FROZEN.sha256 deterministically from the jsonl files.

Split is by DOCUMENT: bucket = int(sha1(doc).hexdigest()[:8], 16) % 10;
0-5 -> train, 6-7 -> dev, 8-9 -> test. Every item of one document lands in one split.
Rows marked `"holdout": true` (collected from sources kept apart from all the others, and never read
while tuning) form a fourth split, `holdout`, whatever their bucket. Rows marked `"fresh": true`
(collected after the shipped model was trained, from sites no other split has) form a fifth,
`fresh`, likewise. Rows marked `"fit": "<batch>"` were collected for fitting, or were the `fresh`
split of an earlier release and are fitted since: they go to `train` whatever their bucket, so the
held-out splits never change when a batch is fitted.

Usage: python3 freeze.py          # rewrite splits.json and FROZEN.sha256
       python3 freeze.py --check  # exit 1 if the jsonl files or splits.json differ from FROZEN.sha256
"""
import hashlib, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ["sentences.jsonl", "action_items.jsonl"]
METHOD = ("by document: bucket = int(sha1(doc.encode('utf-8')).hexdigest()[:8], 16) % 10; "
          "0-5 train, 6-7 dev, 8-9 test; rows marked holdout form the holdout split, "
          "rows marked fresh the fresh split, rows marked fit go to train; "
          "ids listed in file order")


def split_of(doc):
    b = int(hashlib.sha1(doc.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if b <= 5 else ("dev" if b <= 7 else "test")


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sha256(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def compute():
    splits = {"method": METHOD, "train": [], "dev": [], "test": [], "holdout": [], "fresh": []}
    for name in FILES:
        for item in load(name):
            if item.get("holdout"):
                split = "holdout"
            elif item.get("fresh"):
                split = "fresh"
            elif item.get("fit"):
                split = "train"
            else:
                split = split_of(item["doc"])
            splits[split].append(item["id"])
    return splits


def frozen_text():
    return "".join(f"{sha256(n)}  {n}\n" for n in FILES + ["splits.json"])


def main():
    splits = compute()
    text = json.dumps(splits, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        ok = open(os.path.join(HERE, "splits.json"), encoding="utf-8").read() == text
        ok = ok and open(os.path.join(HERE, "FROZEN.sha256")).read() == frozen_text()
        print("frozen corpus intact" if ok else "corpus differs from FROZEN.sha256")
        sys.exit(0 if ok else 1)
    with open(os.path.join(HERE, "splits.json"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(HERE, "FROZEN.sha256"), "w") as f:
        f.write(frozen_text())
    print({k: len(v) for k, v in splits.items() if k != "method"})


if __name__ == "__main__":
    main()
