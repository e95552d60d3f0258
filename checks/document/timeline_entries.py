"""Timeline entries from the blocks of a timeline section: bullet lists, tables and time-led lines."""

from __future__ import annotations

import re
from datetime import date

from checks.document.markdown import Block, blanked, comments
from checks.document.model import Document, Span, TimelineEntry
from checks.document.timestamps import combine, leading_date, leading_stamp, mentions_zone

_MILESTONE_PATTERNS = {
    "start": (
        r"\b(?:outage|incident|impact|degradation|disruption|errors?|failures?)\s+"
        r"(?:begins?|began|starts?|started)\b|\bstart(?:s|ed)?\s+of\s+(?:the\s+)?(?:outage|incident|impact)\b"
        r"|\b(?:impact|incident|outage)\s+start\b|\bfirst\s+(?:errors?|failures?|customer\s+reports?)\b"
        r"|\btrigger(?:ed|s)?\b|\*\*start\*\*"
    ),
    "detection": (
        r"\b(?:detected|detection|detects|alert(?:s|ed)?\s+(?:fire[sd]?|triggere?d?)|alerted|paged"
        r"|pages?\s+(?:sent|fired)|pager|noticed|notices|reported|reports?\s+(?:of|that)|acknowledged"
        r"|acknowledges|escalated|incident\s+declared|declared\s+(?:an?\s+)?incident)\b"
    ),
    "mitigation": (
        r"\b(?:mitigat\w*|roll(?:ed|ing|s)?\s*back|rollback|revert(?:ed|s)?|fail(?:ed)?\s*over|failover"
        r"|workaround|drain(?:ed|s)?|scaled\s+(?:up|out)|throttl\w+|traffic\s+(?:shifted|moved|redirected)"
        r"|stabili[sz]\w*|disabled)\b"
    ),
    "resolution": (
        r"\b(?:resolved|resolution|resolves|fully\s+(?:restored|recovered)|recovered|recovery\s+complete"
        r"|back\s+to\s+normal|all\s+clear|outage\s+ends?|incident\s+(?:closed|ends?|over)|service\s+restored"
        r"|restored|closed\s+the\s+incident)\b"
    ),
}
MILESTONES = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in _MILESTONE_PATTERNS.items()}
# The same patterns matched exactly, on an entry whose ASCII letters are lowercased once: ignoring
# case folds every letter tried at every position of every entry, most of a timeline's cost.
# The patterns are ASCII, so they match there exactly where they match the entry ignoring case,
# unless the entry holds one of the four other characters that fold to an ASCII letter.
_LOWERCASE_MILESTONES = {name: re.compile(pattern) for name, pattern in _MILESTONE_PATTERNS.items()}
# Every match of a milestone's pattern holds one of its cues (each alternative is written with one),
# and most entries hold none of a milestone's: one scan for the cues spares trying each of the
# pattern's alternatives at each position of the entry.
_MILESTONE_CUES = {
    "start": re.compile("beg|start|first|trigger"),
    "detection": re.compile("detect|alert|page|notice|report|acknowledge|escalated|declared"),
    "mitigation": re.compile(
        "mitigat|roll|revert|fail|workaround|drain|scaled|throttl|traffic|stabili|disabled"
    ),
    "resolution": re.compile("resol|restored|recover|back|clear|outage|incident"),
}
_FOLDS_TO_ASCII = re.compile("[\u0130\u0131\u017f\u212a]")  # İ ı (i), ſ (s), Kelvin sign (k)
_TIME_HEADERS = re.compile(r"(?i)^(?:time|timestamp|when|date|date\s*/\s*time|utc|time\s*\(.*\))")
_ACTOR_HEADERS = re.compile(r"(?i)^(?:actor|who|role|owner|by|responder|person)\b")
_EVENT_HEADERS = re.compile(r"(?i)^(?:event|events|description|what|action|details?|activity|notes?)\b")
_LIST_MARKER = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?")
_SEPARATOR = re.compile(r"[\s*_\])`]*(?:[-–—:|]+\s*)?")
_DATE_NOTE_WORDS = frozenset({"all", "times", "time", "in", "are", "is", "day", "local"})
_ACTOR_PREFIX = re.compile(r"(?:\*\*|\[)?(?P<actor>[A-Za-z@][\w@/ .'-]{0,38}?)(?:\*\*|\])?:\s+(?=\S)")


def _milestones(text: str) -> frozenset[str]:
    if _FOLDS_TO_ASCII.search(text):
        return frozenset(name for name, pattern in MILESTONES.items() if pattern.search(text))
    lowered = _ascii_lowercase(text)
    return frozenset(
        name
        for name, pattern in _LOWERCASE_MILESTONES.items()
        if _MILESTONE_CUES[name].search(lowered) and pattern.search(lowered)
    )


def _ascii_lowercase(text: str) -> str:
    """A-Z lowercased, every other character kept (str.lower also changes "É", "Σ" …)."""
    # bytes.lower changes only ASCII bytes; UTF-8 encodes every other character in bytes >= 0x80.
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


class _Reader:
    def __init__(self, doc: Document, masked: str):
        self.doc = doc
        self.masked = masked
        # Times are read with code spans kept (`14:07` is a time) but HTML comments blanked.
        self.timed = _without_comments(doc.source)
        self.day: date | None = None
        self.columns: dict[str, int] = {}

    def note_zone(self, text: str) -> None:
        zone = mentions_zone(text)
        if zone and not self.doc.timeline_timezone:
            self.doc.timeline_timezone = zone

    def entry(self, start: int, end: int, actor_span: Span | None = None) -> None:
        """An entry whose text runs from `start` to `end` and may begin with a timestamp."""
        text = self.timed[start:end]
        stamp = leading_stamp(text)
        rest = stamp.end if stamp else len(text) - len(text.lstrip(" \t*_-"))
        separator = _SEPARATOR.match(text, rest)
        rest = separator.end() if separator else rest
        if actor_span is None:
            prefix = _ACTOR_PREFIX.match(text, rest)
            if prefix and len(prefix.group("actor").split()) <= 4:
                actor_span = Span(start + prefix.start("actor"), start + prefix.end("actor"))
                rest = prefix.end()
        if stamp and stamp.day:
            self.day = stamp.day  # later entries without a date are on the same day
        day = self.day if stamp else None
        self.doc.timeline.append(
            TimelineEntry(
                span=Span(start, end),
                time_text=stamp.text if stamp else "",
                time_span=Span(start + stamp.start, start + stamp.end) if stamp else None,
                when=combine(day, stamp.clock) if stamp else None,
                has_date=day is not None,
                timezone=(stamp.zone if stamp else None) or self.doc.timeline_timezone,
                actor=self.doc.source[actor_span.start : actor_span.end].strip() if actor_span else None,
                actor_span=actor_span,
                text=self.doc.source[start + rest : end].strip(),
                text_span=Span(start + rest, end),
                milestones=_milestones(self.masked[start:end]),
            )
        )

    def heading(self, block: Block) -> None:
        text = self.masked[block.span.start : block.span.end].lstrip("# ")
        self.day = leading_date(text) or self.day
        self.note_zone(text)

    def paragraph(self, block: Block) -> None:
        """Lines that start with a time are entries; the others are context or continuations."""
        offset = block.span.start
        for line in self.timed[block.span.start : block.span.end].split("\n"):
            start, end = offset, offset + len(line)
            offset = end + 1
            if leading_stamp(line):
                self.entry(start, end)
                continue
            day = leading_date(line)
            if day:
                self.day = day
            self.note_zone(line)

    def list_item(self, block: Block) -> None:
        text = self.timed[block.span.start : block.span.end]
        marker = _LIST_MARKER.match(text)
        start = block.span.start + (marker.end() if marker else 0)
        content = self.timed[start : block.span.end]
        if leading_stamp(content):
            self.entry(start, block.span.end)
        elif block.level > 1:
            return  # a nested note under an entry, not an entry of its own
        elif (day := leading_date(content)) and _only_a_date(content):
            self.day = day  # "- 2024-03-05 (UTC)" heading a nested list of that day's entries
            self.note_zone(content.split("\n")[0])
        else:
            self.entry(start, block.span.end)  # an entry without a timestamp: reported as such

    def table_row(self, block: Block) -> None:
        cells = [self.doc.source[c.span.start : c.span.end] for c in block.cells]
        if block.header:
            self.columns = {}
            for index, cell in enumerate(cells):
                for name, pattern in (
                    ("time", _TIME_HEADERS),
                    ("actor", _ACTOR_HEADERS),
                    ("event", _EVENT_HEADERS),
                ):
                    if name not in self.columns and pattern.match(cell.strip()):
                        self.columns[name] = index
                self.note_zone(cell)
            return
        if not block.cells:
            return
        time_cell = block.cells[min(self.columns.get("time", 0), len(block.cells) - 1)]
        event_index = self.columns.get("event", len(block.cells) - 1)
        event_cell = block.cells[min(event_index, len(block.cells) - 1)]
        actor_span = None
        if "actor" in self.columns and self.columns["actor"] < len(block.cells):
            actor_cell = block.cells[self.columns["actor"]]
            if actor_cell.span.end > actor_cell.span.start:
                actor_span = actor_cell.span
        self._table_entry(time_cell.span, event_cell.span, actor_span, block.span)

    def _table_entry(self, time_span: Span, event_span: Span, actor_span: Span | None, row: Span) -> None:
        stamp = leading_stamp(self.timed[time_span.start : time_span.end])
        if stamp and stamp.day:
            self.day = stamp.day
        day = self.day
        if not stamp:
            # A date-only cell in the time column heads the rows that follow it.
            self.day = leading_date(self.masked[time_span.start : time_span.end]) or self.day
        self.doc.timeline.append(
            TimelineEntry(
                span=row,
                time_text=stamp.text if stamp else "",
                time_span=Span(time_span.start + stamp.start, time_span.start + stamp.end) if stamp else None,
                when=combine(day, stamp.clock) if stamp else None,
                has_date=day is not None,
                timezone=(stamp.zone if stamp else None) or self.doc.timeline_timezone,
                actor=self.doc.source[actor_span.start : actor_span.end].strip() if actor_span else None,
                actor_span=actor_span,
                text=self.doc.source[event_span.start : event_span.end].strip(),
                text_span=event_span,
                milestones=_milestones(self.masked[row.start : row.end]),
                actor_column=actor_span is not None,
            )
        )


def read(doc: Document, timeline_blocks: list[Block], masked: str) -> None:
    """Fill doc.timeline and doc.timeline_timezone from the blocks of the timeline section."""
    reader = _Reader(doc, masked)
    metadata_day = doc.metadata.get("date")
    reader.day = metadata_day if isinstance(metadata_day, date) else None
    for block in timeline_blocks:
        getattr(reader, block.kind, lambda _block: None)(block)
    # "All times UTC" may come after the first entries (a footnote, a closing line).
    for entry in doc.timeline:
        entry.timezone = entry.timezone or doc.timeline_timezone


def _without_comments(source: str) -> str:
    return blanked(source, [(span.start, span.end) for _text, span in comments(source)])


def _only_a_date(content: str) -> bool:
    """A date with at most a zone note ("2026-03-05 (all times UTC)"): a heading, not an entry
    ("2026-03-05 errors begin at 14:02" is an entry that lacks a precise timestamp)."""
    first_line = content.split("\n")[0]
    rest = re.sub(r"^[\s*_#]*\d{4}[-/]\d{2}[-/]\d{2}", "", first_line)
    words = re.findall(r"[A-Za-z]+", rest)
    return all(w.lower() in _DATE_NOTE_WORDS or mentions_zone(w) for w in words)
