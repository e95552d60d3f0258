"""Parsing: Markdown with optional YAML front matter into the document model. Never raises."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from functools import cache, lru_cache

from checks.config import Config
from checks.document import items as item_parser
from checks.document import timeline_entries
from checks.document.markdown import Block, blocks, comments, heading_text, mask_source, strip_line_prefix
from checks.document.model import Comment, Document, Prose, Section, Span

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:^|\n)(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
# Template placeholders, as whole tokens only. Variables and formats count anywhere; a login
# counts only when it is the whole login (`@owner`, never `@owner-ops`); a word like TODO only
# where the template writes it: as the whole text of a line, list item or cell, or leading it
# before a colon ("TODO: two or three sentences…", "- CF-1: TODO: the trigger…"), never inside a
# sentence a person wrote ("the TODO list of the runbook").
PLACEHOLDER = re.compile(
    r"\{\{[^{}\n]{0,80}\}\}|\bYYYY-MM-DD\b|\bHH:MM\b|(?<![\w@/-])@(?:owner|username)(?![\w-])"
)
PLACEHOLDER_WORD = re.compile(
    r"^[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:\[[ xX]\][ \t]+)?"  # list marker, task box
    r"(?:(?:\{\{[^{}\n]{0,80}\}\}|HH:MM|\d{1,2}:\d{2})[ \t]+)?"  # a timeline entry's time
    r"(?:[A-Za-z]{1,10}-\d{1,6}:?[ \t]+)?"  # an id: "CF-1:", "AI-2"
    r"(?:\*\*)?(?P<word>TODO|TBD|FIXME|XXX)(?:\*\*)?(?=[ \t]*(?::|$))",
    re.MULTILINE,
)
PLACEHOLDER_CELL = re.compile(r"(?:TODO|TBD|FIXME|XXX|@owner|@username|YYYY-MM-DD|HH:MM)")
# Every match of the three patterns above holds one of these, and none holds a newline: a block
# (whole lines) in which none begins has no placeholder, and is passed over without running them.
PLACEHOLDER_CUE = re.compile(r"\{\{|YYYY-MM-DD|HH:MM|@owner|@username|TODO|TBD|FIXME|XXX")
_NORMALISE = re.compile(r"[^a-z0-9;]+")
_PLURAL = re.compile(r"\(s\)")
_ASIDE = re.compile(r"\([^()]*\)")
_NUMBERING = re.compile(r"^(?:\d+ )+")
_WORD_CHARACTER = re.compile(r"\w")


def normalise_title(title: str) -> str:
    """ "## 3. Root Cause(s):" → "root causes": compare headings without numbering or punctuation."""
    # "Contributing Factor(s)" is the plural; "Timeline (all times UTC)" is the timeline:
    # other parenthesised asides do not name the section.
    title = _PLURAL.sub("s", title.lower())
    text = _NORMALISE.sub(" ", _ASIDE.sub(" ", title)).strip()
    return _NUMBERING.sub("", text)


@cache
def builtin_aliases() -> dict[str, tuple[str, ...]]:
    from checks.packaged import packaged_yaml

    return {key: tuple(titles) for key, titles in packaged_yaml("data/sections.yaml").items()}


def alias_table(config: Config) -> dict[str, str]:
    """Normalised heading → section key, built-ins first, then the config's extra aliases."""
    extra = tuple((key, tuple(titles)) for key, titles in config["sections"]["aliases"].items())
    return _alias_table(extra)


# Built once per set of configured aliases, not once per document: normalising the hundred-odd
# titles cost a directory run more than half a millisecond a file. Read-only for the callers.
@lru_cache(maxsize=8)
def _alias_table(configured: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, str]:
    table: dict[str, str] = {}
    merged = {key: list(titles) for key, titles in builtin_aliases().items()}
    for key, extra in configured:
        merged.setdefault(key, []).extend(extra)
    for key, titles in merged.items():
        table[normalise_title(key)] = key
        for title in titles:
            table.setdefault(normalise_title(title), key)
    return table


def _front_matter(source: str, doc: Document) -> str:
    """Read front matter into doc.metadata; return the source with it blanked (lines kept)."""
    match = _FRONT_MATTER.match(source)
    if not match:
        return source
    from checks.document import front_matter

    try:
        data = front_matter.load(match.group(1))
    except Exception as exc:
        import yaml  # imported already: only PyYAML's loader raises its errors

        if not isinstance(exc, yaml.YAMLError):
            raise
        mark = getattr(exc, "problem_mark", None)
        start = doc.line_offset(mark.line + 1) if mark else 0
        problem = getattr(exc, "problem", None) or "not valid YAML"
        doc.problems.append((Span(start, start), f"front matter is not valid YAML: {problem}"))
        data = None
    if data is not None and not isinstance(data, dict):
        doc.problems.append((Span(0, 3), "front matter must be a mapping of keys to values"))
        data = None
    doc.metadata = data or {}
    blanked = re.sub(r"[^\n]", " ", match.group(0))
    return blanked + source[match.end() :]


def _section_keys(doc_blocks: list[Block], sections: list[Section]) -> list[str | None]:
    """For each block, the key of the innermost enclosing section that has one. `sections`: the
    section of each heading block, in order (their keys are read once, by `_sections`)."""
    heading_sections = iter(sections)
    stack: list[tuple[int, str | None]] = []  # open headings: level, innermost key up to there
    keys: list[str | None] = []
    for block in doc_blocks:
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            enclosing = stack[-1][1] if stack else None
            stack.append((block.level, next(heading_sections).key or enclosing))
        keys.append(stack[-1][1] if stack else None)
    return keys


def _sections(
    doc: Document,
    doc_blocks: list[Block],
    masked: str,
    aliases: dict[str, str],
    placeholders: list[list[Span]],
) -> None:
    """One pass: a stack of open headings closes each at the next heading of its level or higher,
    and a running count of blocks with text says whether anything lies between (the old per-heading
    rescan was headings × blocks). `placeholders`: each block's placeholder spans."""
    texts = [0]  # texts[i]: how many of the first i blocks hold text
    for block, spans in zip(doc_blocks, placeholders, strict=True):
        texts.append(texts[-1] + _has_text(block, masked, spans))
    ends: dict[int, int] = {}  # heading's block index → index of the block that closes it
    open_headings: list[int] = []
    for index, block in enumerate(doc_blocks):
        if block.kind != "heading":
            continue
        while open_headings and doc_blocks[open_headings[-1]].level >= block.level:
            ends[open_headings.pop()] = index
        open_headings.append(index)
    for index in (i for i, b in enumerate(doc_blocks) if b.kind == "heading"):
        block = doc_blocks[index]
        closer = ends.get(index, len(doc_blocks))
        end = doc_blocks[closer].span.start if closer < len(doc_blocks) else len(doc.source)
        title = heading_text(doc.source[block.span.start : block.span.end].split("\n")[0])
        doc.sections.append(
            Section(
                key=aliases.get(normalise_title(title)),
                title=title,
                level=block.level,
                span=block.span,
                body=Span(block.span.end, end),
                has_content=texts[closer] > texts[index + 1],
            )
        )


def _has_text(block: Block, masked: str, spans: list[Span]) -> bool:
    if block.kind == "heading" or block.header:
        return False
    if block.kind == "code":
        return True
    text = masked[block.span.start : block.span.end]
    for span in sorted(spans, key=lambda p: -p.start):
        start, end = span.start - block.span.start, span.end - block.span.start
        text = text[:start] + text[end:]
    if block.kind == "table_row":
        text = text.replace("|", "").replace("-", "")
    return bool(_WORD_CHARACTER.search(text))


def _prose(doc: Document, doc_blocks: list[Block], keys: list[str | None], masked: str) -> None:
    for block, key in zip(doc_blocks, keys, strict=True):
        in_timeline = key == "timeline"
        if block.kind in ("paragraph", "list_item"):
            text = strip_line_prefix(masked[block.span.start : block.span.end])
            doc.prose.append(Prose(block.span, text, block.kind, key, in_timeline))
        elif block.kind == "heading":
            first_line, newline, rest = masked[block.span.start : block.span.end].partition("\n")
            text = first_line.replace("#", " ") + newline + rest
            doc.prose.append(Prose(block.span, text, "heading", key, in_timeline))
        elif block.kind == "table_row" and not block.header:
            for cell in block.cells:
                text = masked[cell.span.start : cell.span.end]
                if text.strip():
                    doc.prose.append(Prose(cell.span, text, "table_cell", key, in_timeline))


def _placeholder_spans(doc_blocks: list[Block], masked: str) -> list[list[Span]]:
    """Each block's placeholders (none for code): found once, for the sections and the document.

    The cues are found in one scan of the whole text; only the few blocks where one begins are
    searched with the placeholder patterns (a call per block was most of this on a long document).
    """
    cues = [match.start() for match in PLACEHOLDER_CUE.finditer(masked)]
    return [
        placeholder_spans(block, masked) if block.kind != "code" and _cue_within(cues, block.span) else []
        for block in doc_blocks
    ]


def _cue_within(cues: list[int], span: Span) -> bool:
    index = bisect.bisect_left(cues, span.start)
    return index < len(cues) and cues[index] < span.end


def placeholder_spans(block: Block, masked: str) -> list[Span]:
    """The template placeholders of a block, as whole tokens in the template's positions."""
    start, end = block.span.start, block.span.end
    found = {(m.start(), m.end()) for m in PLACEHOLDER.finditer(masked, start, end)}
    if block.kind == "table_row":
        for cell in block.cells:
            if PLACEHOLDER_CELL.fullmatch(masked[cell.span.start : cell.span.end].strip()):
                found.add((cell.span.start, cell.span.end))
    else:
        text = masked[start:end]
        found |= {(start + m.start("word"), start + m.end("word")) for m in PLACEHOLDER_WORD.finditer(text)}
    return [Span(a, b) for a, b in sorted(found)]


def parse(
    source: str,
    path: str = "postmortem.md",
    config: Config | None = None,
    prose_read: Callable[[Document], None] | None = None,
) -> Document:
    """Build the document model; problems in the input become `doc.problems`, never exceptions.

    `prose_read`, when given, is called with the document once its prose runs are read and
    before its timeline, factors and action items are: what the language checks read is then
    complete, and `checks.engine` starts sharing them out over processes while the rest is read."""
    config = config or Config()
    source = source.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    doc = Document(path=path, source=source)
    body = _front_matter(source, doc)
    masked = mask_source(body)
    doc_blocks = blocks(body, doc._line_starts)
    aliases = alias_table(config)
    doc.comments = [Comment(text, span) for text, span in comments(body)]
    placeholders = _placeholder_spans(doc_blocks, masked)
    _sections(doc, doc_blocks, masked, aliases, placeholders)
    keys = _section_keys(doc_blocks, doc.sections)
    _prose(doc, doc_blocks, keys, masked)
    if prose_read is not None:
        prose_read(doc)
    doc.placeholders = [span for spans in placeholders for span in spans]
    timeline_entries.read(doc, [b for b, k in zip(doc_blocks, keys, strict=True) if k == "timeline"], masked)
    factor_blocks = [b for b, k in zip(doc_blocks, keys, strict=True) if k == "contributing-factors"]
    doc.factors = item_parser.factors(doc, factor_blocks, masked)
    item_blocks = [b for b, k in zip(doc_blocks, keys, strict=True) if k == "action-items"]
    doc.action_items = item_parser.action_items(doc, item_blocks, masked)
    return doc
