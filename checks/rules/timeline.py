"""Timeline checks: precise timestamps, a stated timezone, order, milestones; and the derived durations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from checks.config import Config
from checks.document.model import Document, Span, TimelineEntry
from checks.document.timestamps import is_approximate, utc_offset
from checks.findings import Hit

MILESTONE_EXAMPLES = {
    "start": "Impact starts",
    "detection": "Detected",
    "mitigation": "Mitigated",
    "resolution": "Resolved",
}
# An undated entry this much earlier than the one before is taken as the next day, not disorder.
_MIDNIGHT_WRAP = timedelta(hours=12)


def real_entries(doc: Document) -> list[TimelineEntry]:
    """Entries that are not template placeholders ("HH:MM — TODO")."""

    return [entry for entry in doc.timeline if not doc.in_placeholder(entry.span)]


def timestamps(entries: list[TimelineEntry]) -> Iterator[Hit]:
    for entry in entries:
        if entry.time_span is not None:
            continue
        rule = "timeline.imprecise-timestamp" if is_approximate(entry.text) else "timeline.missing-timestamp"
        yield Hit(
            rule,
            Span(
                entry.text_span.start, entry.text_span.start + min(len(entry.text), 40) or entry.text_span.end
            ),
        )


def ordered_times(entries: list[TimelineEntry]) -> list[tuple[TimelineEntry, object]]:
    """(entry, comparable time) for timed entries, rolling undated entries past midnight."""
    out = []
    shift = timedelta(0)
    previous = None
    for entry in entries:
        if entry.when is None:
            continue
        when = entry.when - utc_offset(entry.timezone) + shift  # compared in UTC
        if (
            previous is not None
            and not entry.has_date
            and when < previous
            and previous - when > _MIDNIGHT_WRAP
        ):
            shift += timedelta(days=1)
            when += timedelta(days=1)
        out.append((entry, when))
        previous = when
    return out


def order(entries: list[TimelineEntry]) -> Iterator[Hit]:
    latest = None
    for entry, when in ordered_times(entries):
        if latest is not None and when < latest:
            yield Hit("timeline.out-of-order", entry.time_span)
        else:
            latest = when


def timezone(doc: Document, entries: list[TimelineEntry], config: Config) -> Iterator[Hit]:
    if not config["timeline"]["require_timezone"] or doc.timeline_timezone:
        return
    timed = [e for e in entries if e.time_span is not None]
    if timed and not any(e.timezone for e in timed):
        section = doc.section("timeline")
        yield Hit("timeline.timezone", section.span if section else timed[0].time_span)


def milestones(doc: Document, entries: list[TimelineEntry], config: Config) -> Iterator[Hit]:
    marked = set().union(*(e.milestones for e in entries)) if entries else set()
    section = doc.section("timeline")
    for name in config["timeline"]["milestones"]:
        if name not in marked and section is not None:
            yield Hit(
                "timeline.missing-milestone",
                section.span,
                params={"milestone": name, "example": MILESTONE_EXAMPLES[name]},
            )


def durations(doc: Document) -> dict[str, timedelta]:
    """Time to detect, mitigate and resolve, from the start milestone (or the first entry)."""
    timed = ordered_times(real_entries(doc))
    if not timed:
        return {}
    first = {}
    for entry, when in timed:
        for name in entry.milestones:
            first.setdefault(name, when)
    start = first.get("start", timed[0][1])
    out = {}
    for label, name in (("detect", "detection"), ("mitigate", "mitigation"), ("resolve", "resolution")):
        if name in first and first[name] >= start:
            out[label] = first[name] - start
    return out


def check(doc: Document, config: Config) -> Iterator[Hit]:
    entries = real_entries(doc)
    if not entries:
        return  # an empty or unfilled timeline is the structure family's finding
    yield from timestamps(entries)
    yield from order(entries)
    yield from timezone(doc, entries, config)
    yield from milestones(doc, entries, config)
