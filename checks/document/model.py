"""The document model: a postmortem as sections, prose, timeline entries, factors and action items."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Span:
    """A range of the source by character offsets (end exclusive)."""

    start: int
    end: int


@dataclass
class Section:
    """A heading and everything under it up to the next heading of the same or a higher level."""

    key: str | None  # canonical key ("timeline") when the title matches a known section, else None
    title: str
    level: int
    span: Span  # the heading itself
    body: Span  # from the end of the heading to the end of the section
    has_content: bool  # any text other than headings, comments and placeholders


@dataclass
class Prose:
    """A run of human-written text (paragraph, list item, table cell, heading) for the language checks.

    `text` has the same length as the source it came from; code, link targets and HTML comments are
    blanked with spaces so that an offset in `text` plus `span.start` is an offset in the source.
    """

    span: Span
    text: str
    kind: str  # paragraph | list_item | table_cell | heading
    section: str | None  # canonical key of the enclosing top-level section
    in_timeline: bool = False


@dataclass
class TimelineEntry:
    span: Span
    time_text: str  # the timestamp as written ("" when the entry has none)
    time_span: Span | None
    when: datetime | None  # parsed; naive when no timezone is stated
    has_date: bool
    timezone: str | None  # "UTC", "+02:00", "PST" …, from the entry or the section
    actor: str | None
    actor_span: Span | None
    text: str
    text_span: Span
    milestones: frozenset[str] = frozenset()
    actor_column: bool = False  # the actor came from a table's actor column, not a "Label:" prefix


@dataclass
class Factor:
    """One contributing factor (a list item or a sub-heading under "Contributing factors")."""

    id: str | None
    text: str
    span: Span


@dataclass
class ActionItem:
    id: str  # explicit ("AI-3") when the document gives one, else derived from the text
    explicit_id: bool
    text: str
    span: Span  # the whole row or list item
    text_span: Span
    type: str | None  # guardrail | constraint | decision-policy | the unknown word as written
    type_span: Span | None
    owners: list[str]
    owner_span: Span | None
    due: date | None
    due_text: str | None
    due_span: Span | None
    issue: str | None  # "#123", "owner/repo#123" or a URL
    addresses: str | None  # the contributing factor it addresses, as written
    owner_text: str | None = None  # the owner field as written ("@alice", "Sarah", "SRE team")


@dataclass
class Comment:
    """An HTML comment (suppression directives live here)."""

    text: str
    span: Span


@dataclass
class Document:
    path: str
    source: str
    metadata: dict = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    prose: list[Prose] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    timeline_timezone: str | None = None  # stated once for the whole timeline ("all times UTC")
    factors: list[Factor] = field(default_factory=list)
    action_items: list[ActionItem] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    placeholders: list[Span] = field(default_factory=list)
    problems: list[tuple[Span, str]] = field(default_factory=list)  # parse problems (front matter…)
    _line_starts: list[int] = field(default_factory=list, repr=False)
    _placeholder_index: tuple[int, list[int], list[int]] = field(default=(0, [], []), repr=False)

    def __post_init__(self) -> None:
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", self.source))]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset; columns count characters."""
        offset = max(0, min(offset, len(self.source)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_offset(self, line: int) -> int:
        """Offset of the first character of a 0-based line."""
        if line >= len(self._line_starts):
            return len(self.source)
        return self._line_starts[line]

    def in_placeholder(self, *spans: Span | None) -> bool:
        """True when any of the spans overlaps a template placeholder (an unfilled part)."""
        starts, reach = self._placeholders_by_start()
        for span in spans:
            if span is None:
                continue
            before_end = bisect.bisect_left(starts, span.end)  # placeholders starting before it ends
            if before_end and reach[before_end - 1] > span.start:
                return True
        return False

    def _placeholders_by_start(self) -> tuple[list[int], list[int]]:
        """Placeholder starts in order, and the furthest end reached by each prefix of them: a
        rule asks once per item or entry, and a scan of every placeholder each time is quadratic."""
        count, starts, reach = self._placeholder_index
        if count != len(self.placeholders):
            ordered = sorted(self.placeholders, key=lambda p: p.start)
            starts = [p.start for p in ordered]
            reach = []
            for placeholder in ordered:
                reach.append(max(placeholder.end, reach[-1] if reach else 0))
            self._placeholder_index = (len(self.placeholders), starts, reach)
        return starts, reach

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)
