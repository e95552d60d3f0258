"""Timestamps as postmortems write them: "14:02", "2:14 PM PST", "2024-03-05 14:02 UTC", ISO 8601."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

# Abbreviations people put after times; a closed list so that words after a time are not zones.
ZONES = (
    "UTC|GMT|Z|PST|PDT|PT|MST|MDT|MT|CST|CDT|CT|EST|EDT|ET|BST|CET|CEST|EET|EEST|WET|WEST"
    "|IST|JST|KST|SGT|HKT|AEST|AEDT|AWST|NZST|NZDT|BRT|MSK"
)
_NAMED_ZONE = rf"(?:(?:UTC|GMT)[+-]\d{{1,2}}(?::?\d{{2}})?|(?:{ZONES})\b)"
# A bare offset counts only right after a time ("14:02+02:00"), never in running text.
_ZONE = rf"(?:{_NAMED_ZONE}|[+-]\d{{2}}:?\d{{2}}\b)"
_DATE = r"(?P<date>\d{4}-\d{2}-\d{2}|\d{4}/\d{2}/\d{2})"
_TIME = r"(?P<time>(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)"
_AMPM = r"(?:\s?(?P<ampm>[AaPp]\.?[Mm]\.?)(?![A-Za-z]))"
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
# "Mar 5, 14:02", "March 5 2026 14:05": the month by name, the year optional.
_MONTH_DATE = (
    r"(?P<month>(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?)\s+"
    r"(?P<mday>\d{1,2})(?:st|nd|rd|th)?,?\s+(?:(?P<year>\d{4}),?\s+)?"
)
_STAMP = re.compile(
    rf"(?:{_DATE}(?:[T ]|,\s*)|{_MONTH_DATE}(?:at\s+)?)?{_TIME}{_AMPM}?(?:\s?(?P<zone>{_ZONE}))?"
)
# What may stand before a leading timestamp: emphasis, a bracket, a bullet-like dash.
_LEAD = re.compile(r"[\s*_\[(`~]*")
_DATE_ONLY = re.compile(rf"^[\s*_#]*{_DATE}\b")
_ZONE_MENTION = re.compile(rf"(?<![A-Za-z]){_NAMED_ZONE}(?![A-Za-z])")
_ZONE_WORDS = re.compile(r"(?i)\b(pacific|mountain|central|eastern)\s+time\b")
_ZONE_WORD_ABBREVIATIONS = {"pacific": "PT", "mountain": "MT", "central": "CT", "eastern": "ET"}
_APPROXIMATE = re.compile(r"(?i)^[\s*_]*(?:~|about\b|around\b|approx(?:\.|imately)?\b|circa\b|ca\.)")


@dataclass(frozen=True)
class Stamp:
    start: int  # offsets within the text that was searched
    end: int
    text: str
    day: date | None
    clock: time
    zone: str | None


def _clock(match: re.Match[str]) -> time | None:
    parts = match.group("time").split(":")
    hour, minute = int(parts[0]), int(parts[1])
    second = int(float(parts[2])) if len(parts) > 2 else 0
    ampm = (match.group("ampm") or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    return time(hour, minute, second)


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None


def leading_stamp(text: str) -> Stamp | None:
    """A timestamp at the very start of an entry (after emphasis or brackets), or None."""
    lead = _LEAD.match(text)
    offset = lead.end() if lead else 0
    match = _STAMP.match(text, offset)
    if not match:
        return None
    clock = _clock(match)
    if clock is None:
        return None
    zone = match.group("zone")
    return Stamp(match.start(), match.end(), match.group(0), _stamp_day(match), clock, zone)


def _stamp_day(match: re.Match[str]) -> date | None:
    if match.group("date"):
        return _day(match.group("date"))
    if match.group("month") and match.group("year"):  # without a year the day cannot be placed
        try:
            month = _MONTHS.index(match.group("month")[:3].lower()) + 1
            return date(int(match.group("year")), month, int(match.group("mday")))
        except ValueError:
            return None
    return None


def leading_date(text: str) -> date | None:
    """A date that heads a group of entries ("2015-10-21 (all times UTC)", "### 2024-03-05")."""
    match = _DATE_ONLY.match(text)
    return _day(match.group("date")) if match else None


def mentions_zone(text: str) -> str | None:
    match = _ZONE_MENTION.search(text)
    if match:
        return match.group(0)
    words = _ZONE_WORDS.search(text)  # "Times are in Pacific time."
    return _ZONE_WORD_ABBREVIATIONS[words.group(1).lower()] if words else None


def is_approximate(text: str) -> bool:
    return bool(_APPROXIMATE.match(text))


def combine(day: date | None, clock: time) -> datetime:
    """A comparable datetime; entries with no date are placed on a fixed day."""
    return datetime.combine(day or date(1970, 1, 1), clock)


# Hours from UTC of the abbreviations in ZONES. The US "PT/ET/CT/MT" and "IST" are ambiguous
# (daylight time, India or Ireland): standard time and India are assumed, which keeps a timeline
# written in one of them in order with itself.
_ZONE_HOURS = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "WET": 0,
    "BST": 1,
    "CET": 1,
    "WEST": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "IST": 5.5,
    "SGT": 8,
    "HKT": 8,
    "AWST": 8,
    "JST": 9,
    "KST": 9,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "BRT": -3,
    "EST": -5,
    "EDT": -4,
    "ET": -5,
    "CST": -6,
    "CDT": -5,
    "CT": -6,
    "MST": -7,
    "MDT": -6,
    "MT": -7,
    "PST": -8,
    "PDT": -7,
    "PT": -8,
}
_OFFSET = re.compile(r"(?:UTC|GMT)?(?P<sign>[+-])(?P<hours>\d{1,2}):?(?P<minutes>\d{2})?")


def utc_offset(zone: str | None) -> timedelta:
    """The zone's offset from UTC ("PST" → -8 h, "+02:00" → 2 h); zero when unknown or absent."""
    if not zone:
        return timedelta(0)
    if zone in _ZONE_HOURS:
        return timedelta(hours=_ZONE_HOURS[zone])
    match = _OFFSET.fullmatch(zone)
    if not match:
        return timedelta(0)
    sign = -1 if match.group("sign") == "-" else 1
    return sign * timedelta(hours=int(match.group("hours")), minutes=int(match.group("minutes") or 0))
