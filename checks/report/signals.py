"""The culture signals: a history in, one value per month per signal out, each with its trend.

Everything is team-level. Counts of people appear only as the number of distinct participants per
postmortem; nothing here is keyed by, or can be traced to, a person.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from checks.config import Config
from checks.findings import DOCS_URL
from checks.report.documents import DocumentStats, document_stats
from checks.report.history import History, Incident, ItemRecord
from checks.report.kinds import ALL_KINDS, PEOPLE, SYSTEMIC, VAGUE
from checks.report.privacy import Redactor

NO_DUE_GRACE = timedelta(days=30)  # an item without a due date counts as on time within this
TREND_MIN_POINTS = 3
TREND_FLAT = 0.10  # a fitted change under 10% of the mean is flat


@dataclass(frozen=True)
class Trend:
    direction: str  # rising | falling | flat | unknown (fewer than TREND_MIN_POINTS months)
    verdict: str  # improving | worsening | steady | unknown | "" (no healthy direction)
    change: float | None  # the fitted change from the first to the last month with data


@dataclass
class Series:
    key: str
    title: str
    unit: str  # count | percent | days | words | entries | factors | findings | people
    healthy: str  # up | down | neutral
    values: list[float | None]  # one per month of the report
    trend: Trend = field(default_factory=lambda: Trend("unknown", "unknown", None))


@dataclass
class Section:
    key: str
    title: str
    healthy: str  # what a healthy trend looks like, in words
    anchor: str  # the README section with the reasoning
    series: list[Series]
    totals: dict[str, float | int | None] = field(default_factory=dict)
    stacked: bool = False  # the series are shares of one whole (the kinds of action items)

    @property
    def link(self) -> str:
        return f"{DOCS_URL}#{self.anchor}"


@dataclass(frozen=True)
class RecurringFactor:
    text: str  # one of its wordings, with names and handles taken out
    documents: int  # how many postmortems name it
    first: str  # month
    last: str


@dataclass
class Report:
    repository: str | None
    today: date
    months: list[str]
    sections: list[Section]
    recurring: list[RecurringFactor]
    documents: int

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def to_dict(self) -> dict:
        return {
            "repository": self.repository,
            "generated": self.today.isoformat(),
            "months": self.months,
            "documents": self.documents,
            "sections": [
                {
                    "key": s.key,
                    "title": s.title,
                    "healthy": s.healthy,
                    "reasoning": s.link,
                    "totals": s.totals,
                    "series": [
                        {
                            "key": x.key,
                            "title": x.title,
                            "unit": x.unit,
                            "healthy": x.healthy,
                            "values": dict(zip(self.months, x.values, strict=True)),
                            "trend": {
                                "direction": x.trend.direction,
                                "verdict": x.trend.verdict,
                                "change": x.trend.change,
                            },
                        }
                        for x in s.series
                    ],
                }
                for s in self.sections
            ],
            "recurring_factors": [
                {"text": r.text, "documents": r.documents, "first": r.first, "last": r.last}
                for r in self.recurring
            ],
        }


# --- months and trends -------------------------------------------------------------------------


def month_of(moment: date | datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def month_range(first: date, last: date) -> list[str]:
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def trend(values: list[float | None], healthy: str) -> Trend:
    """The least-squares slope over the months with a value, as a change over the period."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < TREND_MIN_POINTS:
        return Trend("unknown", "unknown" if healthy != "neutral" else "", None)
    xs, ys = [float(p[0]) for p in points], [float(p[1]) for p in points]
    flat = len(set(xs)) < 2 or len(set(ys)) < 2
    slope = 0.0 if flat else statistics.linear_regression(xs, ys).slope
    change = slope * (xs[-1] - xs[0])
    scale = max(abs(statistics.fmean(ys)), 1e-9)
    direction = "flat" if abs(change) <= TREND_FLAT * scale else ("rising" if change > 0 else "falling")
    return Trend(direction, _verdict(direction, healthy), round(change, 2))


def _verdict(direction: str, healthy: str) -> str:
    if healthy == "neutral":
        return ""
    if direction == "flat":
        return "steady"
    good = (direction == "rising") == (healthy == "up")
    return "improving" if good else "worsening"


def _series(key: str, title: str, unit: str, healthy: str, values: list[float | None]) -> Series:
    return Series(key, title, unit, healthy, values, trend(values, healthy))


def _per_month(months: list[str], records: Iterable, month: Callable, value: Callable) -> list[float | None]:
    """`value(records of the month)` for each month; None where a month has no record."""
    grouped: dict[str, list] = defaultdict(list)
    for record in records:
        key = month(record)
        if key is not None:
            grouped[key].append(record)
    return [value(grouped[m]) if grouped.get(m) else None for m in months]


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _days(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / 86400


# --- the sections ------------------------------------------------------------------------------


def reporting(months: list[str], incidents: list[Incident]) -> Section:
    def count(kind: str) -> Callable:
        return lambda group: sum(1 for i in group if i.kind == kind)

    monthly = _per_month(months, incidents, lambda i: month_of(i.opened), lambda g: g)
    incident_counts = [count("incident")(g) if g else 0 for g in monthly]
    near_miss_counts = [count("near-miss")(g) if g else 0 for g in monthly]
    shares = [_share(n, i + n) for i, n in zip(incident_counts, near_miss_counts, strict=True)]
    return Section(
        "reporting",
        "Incidents and near misses reported",
        "Reporting rises over time (not because failures increase, but because reporting improves), "
        "and near misses make up a growing share: people report what almost went wrong.",
        "reporting-incidents-and-near-misses",
        [
            _series("incidents", "Incidents", "count", "up", incident_counts),
            _series("near_misses", "Near misses", "count", "up", near_miss_counts),
            _series("near_miss_share", "Near-miss share", "percent", "up", shares),
        ],
        totals={
            "incidents": sum(incident_counts),
            "near_misses": sum(near_miss_counts),
            "near_miss_share": _share(sum(near_miss_counts), sum(incident_counts) + sum(near_miss_counts)),
        },
    )


def postmortem_speed(months: list[str], incidents: list[Incident], today: date) -> Section:
    def by_month(value: Callable) -> list[float | None]:
        return _per_month(months, incidents, lambda i: month_of(i.opened), value)

    def median_days(end: str) -> Callable:
        return lambda group: _median(_days(i.opened, getattr(i, end)) for i in group)

    merged_share = by_month(lambda g: _share(sum(1 for i in g if i.merged), len(g)))
    overdue = [i for i in incidents if i.merged is None and i.due is not None and i.due < today]
    return Section(
        "postmortem-speed",
        "From incident to merged postmortem",
        "The time from an incident to its postmortem issue, pull request and merge falls (people "
        "surface and write up what happened sooner), and the share of incidents with a merged "
        "postmortem rises.",
        "time-to-postmortem",
        [
            _series(
                "days_to_issue",
                "Days to postmortem issue",
                "days",
                "down",
                by_month(median_days("postmortem_opened")),
            ),
            _series("days_to_pr", "Days to pull request", "days", "down", by_month(median_days("pr_opened"))),
            _series(
                "days_to_merge", "Days to merged postmortem", "days", "down", by_month(median_days("merged"))
            ),
            _series("merged_share", "With a merged postmortem", "percent", "up", merged_share),
        ],
        totals={
            "merged_share": _share(sum(1 for i in incidents if i.merged), len(incidents)),
            "overdue_now": len(overdue),
        },
    )


def on_time(item: ItemRecord, today: date) -> bool | None:
    """Closed by its due date (or within NO_DUE_GRACE without one): True/False; None while it is
    open and not yet due (too early to say)."""
    deadline = item.due or item.created + NO_DUE_GRACE
    if item.closed is not None:
        return item.closed <= deadline
    return False if deadline < today else None


def action_items(months: list[str], items: list[ItemRecord], today: date) -> Section:
    def created_month(item: ItemRecord) -> str:
        return month_of(item.created)

    created = [len(g) if g else 0 for g in _per_month(months, items, created_month, lambda g: g)]
    closed = [
        len(g) if g else 0
        for g in _per_month(months, items, lambda i: month_of(i.closed) if i.closed else None, lambda g: g)
    ]

    def completion(group: list[ItemRecord]) -> float | None:
        decided = [on_time(i, today) for i in group]
        decided = [d for d in decided if d is not None]
        return _share(sum(decided), len(decided))

    rate = _per_month(months, items, created_month, completion)
    time_to_close = _per_month(
        months,
        items,
        lambda i: month_of(i.closed) if i.closed else None,
        lambda g: _median((i.closed - i.created).days for i in g),
    )
    overdue = sum(1 for i in items if i.closed is None and i.due is not None and i.due < today)
    return Section(
        "action-items",
        "Action items",
        "The share of action items completed on time rises and the time to close them falls: items "
        "that change the system get done, reminders and training do not.",
        "action-item-completion",
        [
            _series("created", "Created", "count", "neutral", created),
            _series("completed", "Completed", "count", "neutral", closed),
            _series("completion_rate", "Completed on time", "percent", "up", rate),
            _series("days_to_close", "Median days to close", "days", "down", time_to_close),
        ],
        totals={
            "created": len(items),
            "completed": sum(1 for i in items if i.closed),
            "open": sum(1 for i in items if i.closed is None),
            "overdue_now": overdue,
            "completion_rate": _share(
                sum(1 for i in items if on_time(i, today)),
                sum(1 for i in items if on_time(i, today) is not None),
            ),
        },
    )


def item_kinds(months: list[str], dated_kinds: list[tuple[date, str]]) -> Section:
    """Each kind's share of the month's action items; systemic kinds should grow."""
    series = []
    for kind in ALL_KINDS:
        values = _per_month(
            months,
            dated_kinds,
            lambda pair: month_of(pair[0]),
            lambda g, kind=kind: _share(sum(1 for _, k in g if k == kind), len(g)),
        )
        healthy = "up" if kind in SYSTEMIC else "down"
        series.append(_series(kind, kind.replace("-", " ").capitalize(), "percent", healthy, values))
    counts = Counter(kind for _, kind in dated_kinds)
    total = len(dated_kinds)
    return Section(
        "item-kinds",
        "What the action items change",
        "Guardrails, constraints and decision-policy changes make up a growing share; reminders, "
        "training and vague items a shrinking one. Items drifting back to reminders and training "
        "mean the postmortems are blaming people again.",
        "kinds-of-action-items",
        series,
        totals={
            **{kind: _share(counts[kind], total) for kind in ALL_KINDS},
            "systemic": _share(sum(counts[k] for k in SYSTEMIC), total),
            "people": _share(sum(counts[k] for k in (*PEOPLE, VAGUE)), total),
        },
        stacked=True,
    )


def document_detail(months: list[str], stats: list[DocumentStats]) -> Section:
    dated = [s for s in stats if s.when is not None]

    def monthly(value: Callable) -> list[float | None]:
        return _per_month(months, dated, lambda s: month_of(s.when), value)

    findings = monthly(lambda g: round(statistics.fmean(s.language_findings for s in g), 1))
    return Section(
        "documents",
        "Length and detail of the postmortems",
        "Postmortems keep their length and detail (words, timeline entries, contributing factors) "
        "and blameless-language findings at merge fall. Reports getting shorter or less detailed "
        "over time is a warning sign.",
        "postmortem-length-and-language",
        [
            _series("words", "Words (median)", "words", "up", monthly(lambda g: _median(s.words for s in g))),
            _series(
                "timeline_entries",
                "Timeline entries (median)",
                "entries",
                "up",
                monthly(lambda g: _median(s.timeline_entries for s in g)),
            ),
            _series(
                "factors",
                "Contributing factors (median)",
                "factors",
                "up",
                monthly(lambda g: _median(len(s.factors) for s in g)),
            ),
            _series("language_findings", "Language findings per postmortem", "findings", "down", findings),
        ],
        totals={
            "documents": len(stats),
            "undated": len(stats) - len(dated),
            "words": _median(s.words for s in stats),
            "language_findings": round(statistics.fmean(s.language_findings for s in stats), 1)
            if stats
            else None,
        },
    )


def participation(months: list[str], incidents: list[Incident]) -> Section:
    def monthly(name: str) -> list[float | None]:
        return _per_month(
            months,
            incidents,
            lambda i: month_of(i.opened),
            lambda g: _median(getattr(i, name) for i in g),
        )

    return Section(
        "participation",
        "Participation",
        "The number of people who comment on and review each postmortem stays high. Only counts "
        "are shown: who took part is never reported.",
        "participation",
        [
            _series(
                "commenters", "Commenters per postmortem (median)", "people", "up", monthly("commenters")
            ),
            _series("reviewers", "Reviewers per postmortem (median)", "people", "up", monthly("reviewers")),
        ],
    )


# --- recurring contributing factors ------------------------------------------------------------

_STOP = frozenset(
    """a an the and or of to in on for at by with from was were is are be been not no had has have
    its it this that which so as but into than then when while""".split()  # noqa: SIM905
)
_ID = re.compile(r"^\s*(?:\*\*)?[A-Z]{1,5}-?\d{1,4}(?:\*\*)?\s*[:.)—–-]?\s*")


def factor_key(text: str) -> str:
    """The factor's gist: its lead phrase (before a colon or dash) or its first content words."""
    text = _ID.sub("", text)
    lead = re.split(r"\s*[:—–]\s+|\.\s", text, maxsplit=1)[0]
    words = [w for w in re.findall(r"[a-z0-9]+", lead.lower()) if w not in _STOP]
    return " ".join(words[:6])


def recurring_factors(stats: list[DocumentStats], redact: Redactor, limit: int = 10) -> list[RecurringFactor]:
    seen: dict[str, list[tuple[DocumentStats, str]]] = defaultdict(list)
    for doc in stats:
        for text in dict.fromkeys(doc.factors):
            key = factor_key(text)
            if key and all(d.path != doc.path for d, _ in seen[key]):
                seen[key].append((doc, text))
    found = []
    for group in seen.values():
        if len(group) < 2:
            continue
        dates = sorted(month_of(d.when) for d, _ in group if d.when)
        found.append(
            RecurringFactor(
                redact(_ID.sub("", group[-1][1])),
                len(group),
                dates[0] if dates else "",
                dates[-1] if dates else "",
            )
        )
    return sorted(found, key=lambda r: (-r.documents, r.text))[:limit]


# --- the report --------------------------------------------------------------------------------


def build_report(
    history: History,
    today: date,
    *,
    since: date | None = None,
    config: Config | None = None,
    repository: str | None = None,
    redact: Redactor | None = None,
) -> Report:
    """The report on `history` from `since` (default: its first record) up to `today`."""
    redact = redact or Redactor.for_config(config, history.private_terms)
    stats = [document_stats(d.path, d.text, d.merged, config) for d in history.documents]
    incidents = [i for i in history.incidents if since is None or i.opened.date() >= since]
    items = [i for i in history.items if since is None or i.created >= since]
    stats = [s for s in stats if since is None or s.when is None or s.when >= since]
    first = since or min(
        [i.opened.date() for i in incidents] + [i.created for i in items] + [s.when for s in stats if s.when],
        default=today,
    )
    months = month_range(min(first, today), today)
    sections = []
    if history.has_incidents:
        sections += [reporting(months, incidents), postmortem_speed(months, incidents, today)]
    if history.has_items:
        sections.append(action_items(months, items, today))
        dated_kinds = [(i.created, i.kind) for i in items if i.kind]
    else:
        dated_kinds = [(s.when, kind) for s in stats if s.when for kind in s.item_kinds]
    sections.append(item_kinds(months, dated_kinds))
    sections.append(document_detail(months, stats))
    if history.has_incidents and any(i.commenters is not None or i.reviewers is not None for i in incidents):
        sections.append(participation(months, incidents))
    return Report(repository, today, months, sections, recurring_factors(stats, redact), len(stats))
