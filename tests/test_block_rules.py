"""The routed, rows-only block parser makes the blocks markdown-it's own rules make, on awkward text."""

from __future__ import annotations

import importlib
import random
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from checks.document import block_rules, markdown
from checks.document.parse import parse

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    *sorted((ROOT / "examples").rglob("*.md")),
    *sorted((ROOT / "tests" / "data").glob("*.md")),
    ROOT / "checks" / "data" / "template.md",
]

# Lines of every kind the block rules tell apart, and the near misses of each.
LINES = [
    "| a | b |",
    "|---|---|",
    "| :-- | --: |",
    "|:-:|",
    "a | b",
    "--- | ---",
    "-|-",
    ":-|-:",
    "- | -",
    "|-|",
    "||",
    "|",
    "| a |",
    "| x \\| y | z |",
    "| `a|b` | c \\\\| d |",
    "a|b|c\\|",
    "| Time | Actor | Event |",
    "| 14:02 | Pipeline | rolled out |",
    "> | a | b |",
    "> |---|---|",
    "    | a | b |",
    "\t|---|",
    "  |---|---|",
    "# Heading",
    "## Closed ##",
    "#not a heading",
    "###### six",
    "####### seven",
    "Setext title",
    "===",
    "---",
    "- - -",
    "***",
    "___",
    "* star item",
    "+ plus item",
    "- dash item",
    "-no space",
    "1. one",
    "2) two",
    "10. ten",
    "0. zero",
    "07) leading zero",
    "1234567890. too long",
    "1.",
    "-",
    "- [ ] a task",
    "  - nested",
    "    - deeper",
    "      - code or continuation",
    "> a quote",
    ">> deeper quote",
    ">",
    "```",
    "```py",
    "~~~",
    "``` a ` b",
    "    indented code",
    "\tcode after a tab",
    "<div>",
    "</div>",
    "<!-- a comment -->",
    "<?php x ?>",
    "<![CDATA[ x ]]>",
    "<!DOCTYPE html>",
    "<pre>",
    "</pre>",
    "<span>inline</span>",
    "[ref]: https://example.com",
    "[ref]:",
    "  [r]: /url 'title'",
    "[not] a reference",
    "Plain text line",
    "more words here",
    "",
    "",
    "",
    "   ",
]
PREFIXES = ["", "", "", "  ", "    ", "> ", "- ", "1. ", "\t"]


def _awkward_documents(count: int, seed: int) -> list[str]:
    chance = random.Random(seed)
    documents = []
    for _ in range(count):
        lines = []
        for _ in range(chance.randrange(1, 30)):
            prefix = chance.choice(PREFIXES) if chance.random() < 0.3 else ""
            if chance.random() < 0.15:
                lines.extend(prefix + line for line in _table(chance))
            else:
                lines.append(prefix + chance.choice(LINES))
        documents.append("\n".join(lines) + chance.choice(["", "\n", "\n\n"]))
    return documents


def _table(chance: random.Random) -> list[str]:
    """A header, a delimiter row and some rows, their columns often not matching."""
    columns = chance.randrange(1, 4)

    def row(cells: int, cell: list[str]) -> str:
        text = " | ".join(chance.choice(cell) for _ in range(cells))
        return chance.choice(["| ", "", "|"]) + text + chance.choice([" |", "", "|", " \\|"])

    header = row(columns + chance.choice([0, 0, 0, 1, -1]), ["a", "Time", "`x|y`", "\\|", ""])
    delimiter = row(columns, ["---", ":--", "--:", ":-:", "-", "- -", "x"])
    rows = [
        row(chance.randrange(0, 5), ["1", "two", "", "`c|d`", "e\\|f"]) for _ in range(chance.randrange(4))
    ]
    return [header, delimiter, *rows, *(chance.choice(LINES) for _ in range(chance.randrange(2)))]


def _stock_parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").disable(["inline", "text_join", "normalize"])


def _without_cells(tokens) -> list:
    """The tokens outside table rows' insides: what the rows-only table makes."""
    kept, in_row = [], False
    for token in tokens:
        if token.type == "tr_close":
            in_row = False
        if not in_row:
            kept.append(token)
        if token.type == "tr_open":
            in_row = True
    return kept


SOURCES = [path.read_text("utf-8") for path in DOCUMENTS] + _awkward_documents(3000, seed=3)


def test_the_block_parser_makes_the_tokens_of_the_stock_rules_less_the_cells():
    stock, routed = _stock_parser(), block_rules.block_parser()
    tables = 0
    for source in SOURCES:
        expected = _without_cells(stock.parse(source))
        assert routed.parse(source) == expected, source
        tables += sum(token.type == "table_open" for token in expected)
    assert tables > 500  # the documents do hold tables


@pytest.mark.parametrize("source", _awkward_documents(300, seed=4))
def test_the_block_parser_builds_the_document_the_full_parser_builds(source, monkeypatch):
    built = parse(source)
    monkeypatch.setattr(markdown, "_PARSER", MarkdownIt("commonmark").enable("table"))
    assert parse(source) == built


def _stock_column_count(row: str) -> int:
    columns = importlib.import_module("markdown_it.rules_block.table").escapedSplit(row)
    if columns and columns[0] == "":
        columns.pop(0)
    if columns and columns[-1] == "":
        columns.pop()
    return len(columns)


def test_rows_split_into_as_many_columns_as_the_table_rule_splits_them_into():
    chance = random.Random(9)
    rows = ["", "|", "||", "\\|", "|\\|", "a\\\\|b", "| a | b |", "\\|a|"]
    rows += ["".join(chance.choice("a|\\` ") for _ in range(chance.randrange(12))) for _ in range(5000)]
    for row in rows:
        assert block_rules.column_count(row) == _stock_column_count(row), row


def test_the_rows_only_table_is_used_with_the_release_it_was_compared_against():
    import markdown_it

    table = next(rule for rule in markdown._PARSER.block.ruler.__rules__ if rule.name == "table")
    stock = importlib.import_module("markdown_it.rules_block.table").table
    assert (table.fn is not stock) == (markdown_it.__version__ in block_rules.ROWS_ONLY_TABLE_RELEASES)
