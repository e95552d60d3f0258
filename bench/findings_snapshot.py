"""Findings snapshot: every finding the checker reports on the examples and the bench documents.

Run: python bench/findings_snapshot.py OUT.json [--jobs N] [--skip-10mb]

A speed change must leave the findings exactly as they were. This writes a sorted JSON list of
every finding (rule, path, line, column, end, level, message, suggestion) over the bundled example
postmortems, the test suite's sample documents, and the documents `bench/targets.py` and
`bench/throughput.py` time (a 1 MB and a 10 MB file of the examples, the 7 KB file of the
1,000-file case, the dense synthetic postmortems). Compare two runs with `cmp` or `diff`: one
taken before a change, one after. `--jobs` checks the large documents as the CLI does with that
many processes, so the parallel paths are compared with the serial ones too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from targets import ALL, SEVEN_KB, repeated  # noqa: E402
from throughput import document  # noqa: E402

from checks.batch import check_paths  # noqa: E402
from checks.config import Config  # noqa: E402


def documents(skip_10mb: bool) -> dict[str, str]:
    """Name → text of every document the snapshot covers."""
    found = {}
    for path in sorted((ROOT / "examples").rglob("*.md")) + sorted((ROOT / "tests" / "data").glob("*.md")):
        found[path.relative_to(ROOT).as_posix()] = path.read_text("utf-8")
    found["bench/seven-kb.md"] = SEVEN_KB
    found["bench/one-mb.md"] = repeated(ALL, 1_000_000)
    for size in (1_000, 100_000, 1_000_000):
        found[f"bench/throughput-{size}.md"] = document(size)
    if not skip_10mb:
        found["bench/ten-mb.md"] = repeated(ALL, 10_000_000)
    return found


def row(f, name: str) -> list:
    return [f.rule, name, f.line, f.column, f.end_line, f.end_column, str(f.level), f.message, f.suggestion]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--skip-10mb", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in documents(args.skip_10mb).items():
            path = Path(scratch) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
            # One file at a time, as the CLI checks a single large file.
            for result in check_paths([path], Config(), keep_documents=False, jobs=args.jobs):
                rows.extend(row(f, name) for f in result.findings)
        # The 1,000-file case in small: many files, over processes when --jobs > 1.
        many = Path(scratch) / "many"
        many.mkdir()
        files = []
        for index in range(40):
            files.append(many / f"2026-{index:04d}.md")
            files[-1].write_text(SEVEN_KB, "utf-8")
        for result in check_paths(files, Config(), keep_documents=False, jobs=args.jobs):
            name = "many/" + Path(result.path).name
            rows.extend(row(f, name) for f in result.findings)
    rows.sort(key=lambda row: json.dumps(row))
    args.output.write_text(json.dumps(rows, ensure_ascii=False, indent=0) + "\n", "utf-8")
    print(f"{len(rows)} findings → {args.output}")


if __name__ == "__main__":
    main()
