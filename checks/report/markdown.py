"""The report as Markdown: for a job summary, the "Postmortem health" issue or a terminal.

The same figures as the HTML page, as tables, with a small Mermaid `xychart-beta` per section that
GitHub draws in issues and job summaries. Charts show the last MERMAID_MONTHS months: a chart of
every month since the first incident is unreadable at issue width.
"""

from __future__ import annotations

import json

from checks.output import safe_markdown
from checks.report.signals import Report, Section, Series

MERMAID_MONTHS = 12
ARROWS = {"rising": "↑", "falling": "↓", "flat": "→", "unknown": ""}
UNITS = {"percent": "%", "days": " d"}
TOTAL_NAMES = {
    "incidents": "incidents",
    "near_misses": "near misses",
    "near_miss_share": "near-miss share",
    "merged_share": "with a merged postmortem",
    "overdue_now": "overdue now",
    "created": "created",
    "completed": "completed",
    "open": "open",
    "completion_rate": "completed on time",
    "systemic": "guardrail, constraint or decision-policy",
    "people": "reminder, training or vague",
    "documents": "postmortems",
    "undated": "undated",
    "words": "median words",
    "language_findings": "language findings per postmortem",
}
PERCENT_TOTALS = {"near_miss_share", "merged_share", "completion_rate", "systemic", "people"}


def fmt(value: float | int | None, unit: str = "count") -> str:
    if value is None:
        return "–"
    number = f"{value:g}" if isinstance(value, int) or float(value).is_integer() else f"{value:.1f}"
    return number + UNITS.get(unit, "")


def trend_text(series: Series) -> str:
    trend = series.trend
    if trend.direction == "unknown":
        return "not enough months"
    words = f"{ARROWS[trend.direction]} {trend.direction}"
    return f"{words}, {trend.verdict}" if trend.verdict else words


def totals_text(section: Section) -> str:
    parts = []
    for key, value in section.totals.items():
        if key in TOTAL_NAMES:
            parts.append(
                f"{TOTAL_NAMES[key]}: **{fmt(value, 'percent' if key in PERCENT_TOTALS else 'count')}**"
            )
    return " · ".join(parts)


def mermaid(section: Section, months: list[str]) -> str:
    """An xychart of the section's plottable series over the last months (none when empty)."""
    recent = slice(max(0, len(months) - MERMAID_MONTHS), len(months))
    shown = [s for s in section.series if s.unit != "percent" or section.stacked or len(section.series) == 1]
    if section.stacked:
        shown = [s for s in section.series if s.key in ("guardrail", "reminder", "training", "vague")]
    shown = [s for s in shown if any(v is not None for v in s.values[recent])]
    # Months without data are left out rather than drawn at 0 (Mermaid has no gaps).
    indices = [i for i in range(len(months))[recent] if any(s.values[i] is not None for s in shown)]
    if not shown or len(indices) < 2:
        return ""
    values = [[s.values[i] or 0 for i in indices] for s in shown]
    top = max((v for row in values for v in row), default=0)
    unit = shown[0].unit
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{section.title}"',
        "    x-axis [" + ", ".join(json.dumps(months[i][2:]) for i in indices) + "]",
        f'    y-axis "{unit}" 0 --> {max(1, round(top * 1.15 + 0.5))}',
    ]
    kinds = ["bar" if s.unit == "count" and i == 0 else "line" for i, s in enumerate(shown)]
    for kind, row in zip(kinds, values, strict=True):
        lines.append(f"    {kind} [" + ", ".join(fmt(v) for v in row) + "]")
    lines.append("```")
    legend = ", ".join(
        f"{'bars' if k == 'bar' else 'line'}: {s.title}" for k, s in zip(kinds, shown, strict=True)
    )
    return "\n".join(lines) + f"\n\n<sub>{legend}; months without data left out.</sub>"


def table(section: Section, months: list[str]) -> str:
    header = "| Month | " + " | ".join(s.title for s in section.series) + " |"
    rule = "|---|" + "---:|" * len(section.series)
    rows = [
        f"| {month} | " + " | ".join(fmt(s.values[i], s.unit) for s in section.series) + " |"
        for i, month in enumerate(months)
    ]
    trends = "| **Trend** | " + " | ".join(trend_text(s) for s in section.series) + " |"
    return "\n".join([header, rule, *rows, trends])


def render_section(section: Section, months: list[str]) -> str:
    parts = [
        f"### {section.title}",
        "",
        f"**Healthy:** {section.healthy} [Why this matters]({section.link})",
        "",
    ]
    totals = totals_text(section)
    if totals:
        parts += [totals, ""]
    chart = mermaid(section, months)
    if chart:
        parts += [chart, ""]
    parts += ["<details><summary>Month by month</summary>", "", table(section, months), "", "</details>", ""]
    return "\n".join(parts)


def render_markdown(report: Report, title: str = "Postmortem health") -> str:
    where = f" for `{report.repository}`" if report.repository else ""
    period = f"{report.months[0]} to {report.months[-1]}" if report.months else ""
    out = [
        f"## {title}",
        "",
        f"Team-level culture signals{where}, {period}, generated {report.today.isoformat()}. "
        "Counts and medians only: nothing here ranks, counts or names individuals.",
        "",
        "| Signal | Trend |",
        "|---|---|",
    ]
    for section in report.sections:
        for series in section.series:
            if series.healthy != "neutral":
                out.append(f"| {section.title}: {series.title} | {trend_text(series)} |")
    out.append("")
    for section in report.sections:
        out.append(render_section(section, report.months))
    out += ["### Contributing factors that recur", ""]
    if report.recurring:
        out += [
            f"- {safe_markdown.inline(factor.text)} — in **{factor.documents}** postmortems "
            f"({factor.first} to {factor.last})"
            for factor in report.recurring
        ]
    else:
        out.append("No contributing factor appears in more than one postmortem.")
    out.append("")
    return "\n".join(out)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
