"""markdown-it's block parser as `blocks` uses it: the same blocks at a fraction of the calls.

markdown-it tries every block rule in turn at the start of each line, and asks a chain of
"terminator" rules at each further line of a paragraph, list item, table or quote. Most rules give
up at once because the line does not begin with their marker, but each still costs a call, a debug
log call and a few lookups: on a postmortem that is most of the block parse. Here each chain is a
single routing rule that asks only the rules whose marker the line begins with (a rule with no
marker test is always asked), in the chain's own order.

Tables are read as rows only: `blocks` takes a row's cells from the source, so the cell tokens
(three per cell, after a character-by-character split of the row) are not made. The row rule is
the table rule of markdown-it-py with the cells left out; it is used only with the release it was
compared against (`ROWS_ONLY_TABLE_RELEASES`), any other keeps the stock rule.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import markdown_it
from markdown_it import MarkdownIt
from markdown_it.ruler import Ruler
from markdown_it.rules_block.state_block import StateBlock

Rule = Callable[[StateBlock, int, int, bool], bool]

# The characters a rule's first test requires at a line's first non-space position: on any other
# line the rule returns False before it changes anything. Rules not named here are always asked.
MARKERS = {
    "fence": "`~",
    "blockquote": ">",
    "hr": "*-_",
    "list": "*-+0123456789",
    "reference": "[",
    "html_block": "<",
    "heading": "#",
}
# The tables of these releases are made exactly as `_rows_only_table` makes them, cells aside.
ROWS_ONLY_TABLE_RELEASES = frozenset({"4.3.0"})


def block_parser() -> MarkdownIt:
    """CommonMark with tables, block rules only (inline text is read from the source itself), and
    without `normalize`: `parse` has already made line ends LF and NUL U+FFFD, all it does."""
    parser = MarkdownIt("commonmark").enable("table").disable(["inline", "text_join", "normalize"])
    if markdown_it.__version__ in ROWS_ONLY_TABLE_RELEASES:
        # The module, not the function `markdown_it.rules_block.table` that the package exports.
        stock_table = importlib.import_module("markdown_it.rules_block.table")
        parser.block.ruler.at("table", _rows_only_table(stock_table), {"alt": ["paragraph", "reference"]})
    parser.block.ruler = _RoutedRuler(parser.block.ruler)
    return parser


class _RoutedRuler(Ruler):
    """The parser's block rules, each chain answered by one routing rule."""

    def __init__(self, ruler: Ruler) -> None:
        super().__init__()
        self.__rules__ = ruler.__rules__  # the rule list itself: which are active, by name
        names = {rule.fn: rule.name for rule in ruler.__rules__}
        chains = {""} | {chain for rule in ruler.__rules__ if rule.enabled for chain in rule.alt}
        self._routes = {
            chain: [_router([(names[fn], fn) for fn in ruler.getRules(chain)])] for chain in chains
        }

    def getRules(self, chainName: str) -> list[Rule]:
        return self._routes.get(chainName, [])


def _router(chain: list[tuple[str, Rule]]) -> Rule:
    """One rule that asks, in order, those of `chain` that can match a line with its first character."""

    def candidates(first: str | None) -> tuple[Rule, ...]:
        """The rules to ask at a line beginning with `first` (None: with no rule's marker)."""
        return tuple(
            _guarded(name, fn)
            for name, fn in chain
            if name not in MARKERS or (first is not None and first in MARKERS[name])
        )

    by_first = {first: candidates(first) for first in "".join(MARKERS.values())}
    unmarked = candidates(None)

    def route(state: StateBlock, line: int, end: int, silent: bool) -> bool:
        try:  # the very character each rule tests
            first = state.src[state.bMarks[line] + state.tShift[line]]
        except IndexError:
            first = ""
        for rule in by_first.get(first, unmarked):  # noqa: SIM110 (a generator costs more, at every line)
            if rule(state, line, end, silent):
                return True
        return False

    return route


def _guarded(name: str, rule: Rule) -> Rule:
    """The table, code and setext heading rules test something other than a line's first character."""
    if name == "table":
        return _when_delimiter_row_follows(rule)
    if name == "code":
        return _when_indented(rule)
    if name == "lheading":
        return _when_underline_may_follow(rule)
    return rule


def _when_delimiter_row_follows(table: Rule) -> Rule:
    """A table's second line must begin with "|", "-" or ":" (its delimiter row)."""

    def rule(state: StateBlock, line: int, end: int, silent: bool) -> bool:
        following = line + 1
        if following >= end:
            return False
        start = state.bMarks[following] + state.tShift[following]
        if start >= state.eMarks[following] or state.src[start] not in "|-:":
            return False
        return table(state, line, end, silent)

    return rule


def _when_underline_may_follow(lheading: Rule) -> Rule:
    """A setext heading is underlined ("===", "---") before the paragraph's first blank line. Without
    such a line the rule walks the whole paragraph (asking the terminators at each line, as the
    paragraph rule then does again) only to return False, leaving the parent type "paragraph"
    unless the line is indented code: that is all it does, and all this does."""

    def rule(state: StateBlock, line: int, end: int, silent: bool) -> bool:
        following = line + 1
        while following < end:
            start = state.bMarks[following] + state.tShift[following]
            if start >= state.eMarks[following]:
                break  # a blank line ends the paragraph
            if state.src[start] in "-=":
                return lheading(state, line, end, silent)
            following += 1
        if not state.is_code_block(line):
            state.parentType = "paragraph"
        return False

    return rule


def _when_indented(code: Rule) -> Rule:
    """An indented code block is indented four columns past the block's own indent."""

    def rule(state: StateBlock, line: int, end: int, silent: bool) -> bool:
        if state.sCount[line] - state.blkIndent < 4:
            return False
        return code(state, line, end, silent)

    return rule


def column_count(row: str) -> int:
    """How many cells markdown-it's table rule splits a trimmed row into: pipes not right after a
    backslash separate cells, and an empty cell before the first or after the last is no column."""
    if not row:
        return 0
    count = 1 + row.count("|") - row.count("\\|")
    if row.startswith("|"):
        count -= 1
    if row.endswith("|") and not row.endswith("\\|") and count > 0:
        count -= 1
    return count


def _rows_only_table(stock: ModuleType) -> Rule:
    """markdown-it-py's table rule (`stock`) without the cells: the same tests and the same table,
    head, body and row tokens, line for line, but no cell or inline tokens."""
    get_line, trim, is_space = stock.getLine, stock.mdTrim, stock.isStrSpace
    header_line, max_autocompleted = stock.headerLineRe, stock.MAX_AUTOCOMPLETED_CELLS

    def delimiter_columns(state: StateBlock, line: int) -> int:
        """The number of columns of a delimiter row (|:--|--:|), or -1 when the line is not one."""
        pos = state.bMarks[line] + state.tShift[line]
        end = state.eMarks[line]
        if pos >= end:
            return -1
        first = state.src[pos]
        pos += 1
        if first not in ("|", "-", ":") or pos >= end:
            return -1
        second = state.src[pos]
        pos += 1
        if second not in ("|", "-", ":") and not is_space(second):
            return -1
        if first == "-" and is_space(second):
            return -1
        while pos < end:
            char = state.src[pos]
            if char not in ("|", "-", ":") and not is_space(char):
                return -1
            pos += 1
        columns = get_line(state, line).split("|")
        aligned = 0
        for index, column in enumerate(columns):
            text = trim(column)
            if not text:
                if index == 0 or index == len(columns) - 1:
                    continue
                return -1
            if not header_line.search(text):
                return -1
            aligned += 1
        return aligned

    def table(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        if start_line + 2 > end_line:
            return False
        following = start_line + 1
        if state.sCount[following] < state.blkIndent or state.is_code_block(following):
            return False
        aligned = delimiter_columns(state, following)
        if aligned < 0:
            return False
        header = trim(get_line(state, start_line))
        if "|" not in header or state.is_code_block(start_line):
            return False
        columns = column_count(header)
        if columns == 0 or columns != aligned:
            return False
        if silent:
            return True
        old_parent = state.parentType
        state.parentType = "table"
        terminators = state.md.block.ruler.getRules("blockquote")
        token = state.push("table_open", "table", 1)
        token.map = table_lines = [start_line, 0]
        state.push("thead_open", "thead", 1).map = [start_line, start_line + 1]
        state.push("tr_open", "tr", 1).map = [start_line, start_line + 1]
        state.push("tr_close", "tr", -1)
        state.push("thead_close", "thead", -1)
        body_lines = None
        autocompleted = 0
        line = start_line + 2
        while line < end_line:
            if state.sCount[line] < state.blkIndent:
                break
            if any(terminator(state, line, end_line, True) for terminator in terminators):
                break
            row = trim(get_line(state, line))
            if not row or state.is_code_block(line):
                break
            autocompleted += columns - column_count(row)
            if autocompleted > max_autocompleted:
                break
            if line == start_line + 2:
                state.push("tbody_open", "tbody", 1).map = body_lines = [start_line + 2, 0]
            state.push("tr_open", "tr", 1).map = [line, line + 1]
            state.push("tr_close", "tr", -1)
            line += 1
        if body_lines:
            state.push("tbody_close", "tbody", -1)
            body_lines[1] = line
        state.push("table_close", "table", -1)
        table_lines[1] = line
        state.parentType = old_parent
        state.line = line
        return True

    return table
