"""Markdown blocks with exact source spans, from markdown-it-py's token stream.

markdown-it gives line ranges for blocks but no columns for inline text, so this module keeps
the source itself: each block knows its character span, and a masked copy of the source (code,
link targets, HTML and comments blanked to spaces, same length) lets the checks read prose
without ever losing a position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from checks.document.block_rules import block_parser
from checks.document.model import Span

# Only block structure is read (inline text comes from the source itself), so the inline pass,
# the parser's most expensive stage, is switched off; see `block_parser` for the rest.
_PARSER = block_parser()

# Each pattern is linear: literal delimiters around negated character classes. Code spans are
# matched by `code_spans`, not by a pattern: "(`+)…\1" backtracks on a long run of backticks.
# A pattern scanned over the whole text begins with a literal character, so that the regex engine
# jumps from one occurrence of it to the next instead of trying every position: "`+" and
# "\bhttps?://" did, a tenth of a small document's parse. They are written "``*" and
# "h(?<!\wh)ttps?://" (an "h" not preceded by a letter, digit or "_": where "\b" stood).
_BACKTICKS = re.compile(r"``*")
_LINK_TARGET = re.compile(r"\]\([^()\s]*(?:\s+\"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<(?:https?|mailto):[^>\s]*>")
_BARE_URL = re.compile(r"h(?<!\wh)ttps?://[^\s)>\]]+")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>\n]*)?/?>")
# A line's list marker, quote marks and task box, at the start of every line. The look-ahead asks
# for a character a prefix can begin with, so that a line with none is passed over by the regex
# engine rather than handed to `_blank` as an empty match.
_LINE_PREFIX = re.compile(
    r"^(?=[ \t>*+\-\d])[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?)?",
    re.MULTILINE,
)
_NOT_NEWLINE = re.compile(r"[^\n]")
_CELL_MARKS = re.compile(r"[\\`|]")
_HEADING_MARKS = re.compile(r"^[ \t]*#{1,6}[ \t]*|[ \t]+#+[ \t]*$")


@dataclass
class Cell:
    span: Span  # the cell's text, trimmed


@dataclass
class Block:
    kind: str  # heading | paragraph | list_item | table_row | code | html
    lines: tuple[int, int]  # 0-based, end exclusive
    span: Span  # text of the block (markers included for paragraphs, trimmed at the end)
    level: int = 0  # heading level, or list nesting depth (1 = top-level item)
    header: bool = False  # a table's header row
    cells: list[Cell] = field(default_factory=list)
    table: int = -1  # which table a row belongs to (index in document order)


def mask_source(source: str) -> str:
    """The source with everything that is not prose replaced by spaces (newlines kept)."""
    spans = [(span.start, span.end) for _text, span in comments(source)]
    spans += [(span.start, span.end) for span in code_spans(source)]
    for pattern in (_AUTOLINK, _BARE_URL, _HTML_TAG):
        spans += [match.span() for match in pattern.finditer(source)]
    # Keep the "]" so the link text stays readable.
    spans += [(match.start() + 1, match.end()) for match in _LINK_TARGET.finditer(source)]
    return blanked(source, spans)


def blanked(source: str, spans: list[tuple[int, int]]) -> str:
    """The source with every character in the (start, end) spans but newlines made a space.

    Built from slices of the source rather than a list of its characters: on a long document
    the list and its join cost more than finding what to blank. Spans may overlap.
    """
    pieces = []
    kept = 0  # the source before this offset is placed in `pieces`
    for start, end in sorted(spans):
        if end <= kept:
            continue
        start = max(start, kept)
        pieces.append(source[kept:start])
        pieces.append(_NOT_NEWLINE.sub(" ", source[start:end]))
        kept = end
    pieces.append(source[kept:])
    return "".join(pieces)


def code_spans(source: str) -> Iterator[Span]:
    """Inline code as CommonMark pairs it: a run of backticks up to the next run of the same length.

    Each run is looked at once: for every run the next one of equal length is found in a single
    backward sweep, so 400,000 backticks cost no more than 400,000 letters.
    """
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(source)]
    next_same: list[int | None] = [None] * len(runs)
    last_of_length: dict[int, int] = {}
    for index in range(len(runs) - 1, -1, -1):
        length = runs[index][1] - runs[index][0]
        next_same[index] = last_of_length.get(length)
        last_of_length[length] = index
    index = 0
    while index < len(runs):
        closer = next_same[index]
        if closer is None:
            index += 1  # no closing run: the backticks are literal
            continue
        yield Span(runs[index][0], runs[closer][1])
        index = closer + 1


def comments(source: str) -> Iterator[tuple[str, Span]]:
    """HTML comments in order. A plain scan: a regex with `.*?` goes quadratic on "<!--<!--<!--…"."""
    start = source.find("<!--")
    while start != -1:
        end = source.find("-->", start + 4)
        if end == -1:
            return  # an unclosed comment runs to the end; there can be no further ones
        yield source[start + 4 : end].strip(), Span(start, end + 3)
        start = source.find("<!--", end + 3)


def _line_bounds(line_starts: list[int], source: str, lines: tuple[int, int]) -> Span:
    start = line_starts[lines[0]] if lines[0] < len(line_starts) else len(source)
    end = line_starts[lines[1]] if lines[1] < len(line_starts) else len(source)
    return Span(start, start + len(source[start:end].rstrip("\r\n \t")))


def _table_cells(source: str, span: Span) -> list[Cell]:
    """Split a table row on unescaped pipes outside code spans; cells trimmed of spaces."""
    text = source[span.start : span.end]
    if "\\" in text or "`" in text:
        cells = _cells_with_escapes(source, span, text)
    else:  # every pipe separates two cells
        cells = []
        start = span.start
        for cell in text.split("|"):
            cells.append(_trimmed(start, start + len(cell), source))
            start += len(cell) + 1
    # A leading or trailing pipe leaves an empty edge cell that is not a column.
    if cells and text.lstrip().startswith("|"):
        cells = cells[1:]
    if cells and text.rstrip().endswith("|") and cells[-1].span.start == cells[-1].span.end:
        cells = cells[:-1]
    return cells


def _cells_with_escapes(source: str, span: Span, text: str) -> list[Cell]:
    """The cells of a row that holds backslashes or backticks: pipes they escape or enclose stay."""
    cells: list[Cell] = []
    start = 0
    in_code = False
    skip_to = 0  # a backslash escapes the character after it
    # Only backslashes, backticks and pipes change anything: they are found by a regex scan,
    # not by a Python loop over every character of the row.
    for match in _CELL_MARKS.finditer(text):
        index = match.start()
        if index < skip_to:
            continue
        char = match.group()
        if char == "\\":
            skip_to = index + 2
        elif char == "`":
            in_code = not in_code
        elif not in_code:
            cells.append(_trimmed(span.start + start, span.start + index, source))
            start = index + 1
    cells.append(_trimmed(span.start + start, span.start + len(text), source))
    return cells


def _trimmed(start: int, end: int, source: str) -> Cell:
    """The cell from `start` to `end` without its leading and trailing spaces and tabs."""
    text = source[start:end]
    words = text.strip(" \t")
    if not words:
        return Cell(Span(end, end))
    start += len(text) - len(text.lstrip(" \t"))
    return Cell(Span(start, start + len(words)))


# The token types `blocks` reads. Most tokens are of other types (inline text, cells, closing
# tags) and are passed over at once rather than compared with each of these in turn.
_READ_TOKENS = frozenset(
    {
        "bullet_list_open",
        "ordered_list_open",
        "bullet_list_close",
        "ordered_list_close",
        "list_item_open",
        "list_item_close",
        "table_open",
        "thead_open",
        "thead_close",
        "heading_open",
        "paragraph_open",
        "tr_open",
        "fence",
        "code_block",
        "html_block",
    }
)


def blocks(source: str, line_starts: list[int]) -> list[Block]:
    """Headings, paragraphs, list items, table rows and code blocks, in document order. The source
    is normalised as `parse` leaves it: LF line ends, no NUL."""
    out: list[Block] = []
    list_depth = 0
    in_item = [False]
    header = False
    table = -1
    tokens = _PARSER.parse(source)
    for index, token in enumerate(tokens):
        kind = token.type
        if kind not in _READ_TOKENS:
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif kind == "list_item_open":
            in_item.append(True)
        elif kind == "list_item_close":
            in_item.pop()
        elif kind == "table_open":
            table += 1
        elif kind == "thead_open":
            header = True
        elif kind == "thead_close":
            header = False
        elif kind == "heading_open" and token.map:
            span = _line_bounds(line_starts, source, tuple(token.map))
            out.append(Block("heading", tuple(token.map), span, level=int(token.tag[1])))
        elif kind == "paragraph_open" and token.map:
            span = _line_bounds(line_starts, source, tuple(token.map))
            # Only a list item's first paragraph is the item; later ones are its prose.
            first_in_item = in_item[-1] and tokens[index - 1].type == "list_item_open"
            block_kind = "list_item" if first_in_item else "paragraph"
            out.append(Block(block_kind, tuple(token.map), span, level=list_depth))
        elif kind == "tr_open" and token.map:
            span = _line_bounds(line_starts, source, tuple(token.map))
            cells = _table_cells(source, span)
            out.append(Block("table_row", tuple(token.map), span, header=header, cells=cells, table=table))
        elif kind in ("fence", "code_block", "html_block") and token.map:
            span = _line_bounds(line_starts, source, tuple(token.map))
            out.append(Block("html" if kind == "html_block" else "code", tuple(token.map), span))
    return out


def strip_line_prefix(text: str) -> str:
    """Blank list markers, quote markers and task boxes at the start of each line (same length)."""
    return _LINE_PREFIX.sub(_blank, text)  # one scan of the text, not a match per line


def _blank(match: re.Match[str]) -> str:
    return " " * (match.end() - match.start())


def heading_text(text: str) -> str:
    """A heading's title without its `#` marks (for matching, not for positions)."""
    return _HEADING_MARKS.sub("", text).strip()
