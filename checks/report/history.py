"""The history a culture report reads: incidents, action items and documents as plain data.

Whoever collects it (the GitHub source in app/jobs/culture_report.py, a `--history` JSON file, or
the documents of a local clone) hands the report these records and nothing else. They hold dates
and counts only, never who: participation arrives as the number of distinct people, so no report
built from them can rank or name anyone.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, date, datetime

KINDS = ("incident", "near-miss")


class HistoryError(ValueError):
    """A history file that cannot be read: names the file, the record and the key."""


@dataclass(frozen=True)
class Incident:
    """One incident or near miss, and how its postmortem went."""

    kind: str  # incident | near-miss
    opened: datetime
    postmortem_opened: datetime | None = None  # the postmortem issue
    pr_opened: datetime | None = None  # the first pull request adding its document
    merged: datetime | None = None  # that document merged
    due: date | None = None  # the postmortem's due date
    commenters: int | None = None  # distinct people who commented on the postmortem issue
    reviewers: int | None = None  # distinct people who reviewed its pull request


@dataclass(frozen=True)
class ItemRecord:
    """One action item as tracked: when it was created and closed, its due date and its kind."""

    created: date
    closed: date | None = None
    due: date | None = None
    kind: str | None = None  # see checks.report.kinds; None when the item's document is unknown


@dataclass(frozen=True)
class DocumentRecord:
    """A postmortem document at the default branch, dated by its merge (or its own date)."""

    path: str
    text: str
    merged: date | None = None


@dataclass
class History:
    incidents: list[Incident] = field(default_factory=list)
    items: list[ItemRecord] = field(default_factory=list)
    documents: list[DocumentRecord] = field(default_factory=list)
    # What the source could see: a local clone has documents only, so the report leaves out
    # the incident and action-item sections instead of showing zeros that mean "unknown".
    has_incidents: bool = False
    has_items: bool = False
    # Words the source saw that name people (the logins of authors, commenters, owners): the
    # report takes them out of any text it quotes. Never written out.
    private_terms: frozenset[str] = frozenset()


_DATETIME_FIELDS = {"opened", "postmortem_opened", "pr_opened", "merged"}
_DATE_FIELDS = {"due", "created", "closed"}


def parse_time(value: str) -> datetime:
    """ISO 8601 with or without a zone (UTC assumed), or a bare date (midnight UTC)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _value(record: type, name: str, raw, where: str):
    if raw is None:
        return None
    try:
        if record is Incident and name in _DATETIME_FIELDS:
            return parse_time(str(raw))
        if name in _DATE_FIELDS or (record is DocumentRecord and name == "merged"):
            return date.fromisoformat(str(raw)[:10])
    except ValueError:
        raise HistoryError(f"{where}: key {name!r}: {raw!r} is not an ISO 8601 date") from None
    if name in ("commenters", "reviewers"):
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise HistoryError(f"{where}: key {name!r}: a count (a whole number), got {raw!r}")
    elif not isinstance(raw, str):
        raise HistoryError(f"{where}: key {name!r}: text expected, got {raw!r}")
    return raw


def _records(data: dict, key: str, record: type, source: str) -> list:
    rows = data.get(key) or []
    if not isinstance(rows, list):
        raise HistoryError(f"{source}: key {key!r}: a list expected")
    names = {f.name for f in fields(record)}
    required = {f.name for f in fields(record) if f.default is MISSING}
    found = []
    for index, row in enumerate(rows):
        where = f"{source}: {key}[{index}]"
        if not isinstance(row, dict):
            raise HistoryError(f"{where}: an object expected")
        unknown = sorted(set(row) - names)
        if unknown:
            raise HistoryError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
        missing = sorted(n for n in required if n not in row)
        if missing:
            raise HistoryError(f"{where}: key {missing[0]!r} is required")
        found.append(record(**{name: _value(record, name, raw, where) for name, raw in row.items()}))
    return found


def history_from_json(text: str, source: str = "history.json") -> History:
    """A history file: {"incidents": [...], "action_items": [...], "documents": [...]}."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HistoryError(f"{source}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise HistoryError(f"{source}: a JSON object expected")
    incidents = _records(data, "incidents", Incident, source)
    for index, incident in enumerate(incidents):
        if incident.kind not in KINDS:
            raise HistoryError(f"{source}: incidents[{index}]: key 'kind': one of {', '.join(KINDS)}")
    return History(
        incidents=incidents,
        items=_records(data, "action_items", ItemRecord, source),
        documents=_records(data, "documents", DocumentRecord, source),
        has_incidents="incidents" in data,
        has_items="action_items" in data,
    )


def history_to_json(history: History) -> str:
    """The inverse of `history_from_json`: a collected history kept as a file."""

    def plain(record) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(record).items()}

    data: dict = {"documents": [plain(d) for d in history.documents]}
    if history.has_incidents:
        data["incidents"] = [plain(i) for i in history.incidents]
    if history.has_items:
        data["action_items"] = [plain(i) for i in history.items]
    return json.dumps(data, indent=2) + "\n"
