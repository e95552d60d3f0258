"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network at view
time. Each section: what a healthy trend looks like, a link to the reasoning, the chart, and the
numbers under it."""

from __future__ import annotations

from html import escape

from checks.report.charts import svg
from checks.report.markdown import PERCENT_TOTALS, TOTAL_NAMES, fmt, trend_text
from checks.report.signals import Report, Section

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2937; margin: 0;
       background: #f8fafc; }
main { max-width: 860px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
.lead { color: #4b5563; margin: 0 0 20px; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 16px 20px;
          margin: 0 0 18px; }
h2 { font-size: 18px; margin: 0 0 6px; }
.healthy { margin: 0 0 8px; color: #374151; }
.healthy b { color: #15803d; }
.totals { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; padding: 0; list-style: none; }
.totals li { background: #f1f5f9; border-radius: 6px; padding: 4px 10px; font-size: 13px; }
.totals strong { font-size: 15px; }
.chart svg { width: 100%; height: auto; }
.trends { font-size: 13px; color: #4b5563; margin: 6px 0; }
.improving { color: #15803d; } .worsening { color: #b91c1c; } .steady { color: #4b5563; }
details { font-size: 13px; } table { border-collapse: collapse; margin-top: 6px; }
th, td { padding: 2px 8px; text-align: right; border-bottom: 1px solid #f1f5f9; }
th:first-child, td:first-child { text-align: left; }
a { color: #1d4ed8; }
"""


def _unit(total: str) -> str:
    return "percent" if total in PERCENT_TOTALS else "count"


def _totals(section: Section) -> str:
    items = [
        f"<li><strong>{fmt(value, _unit(key))}</strong> {escape(TOTAL_NAMES[key])}</li>"
        for key, value in section.totals.items()
        if key in TOTAL_NAMES
    ]
    return f'<ul class="totals">{"".join(items)}</ul>' if items else ""


def _trends(section: Section) -> str:
    parts = [
        f'{escape(s.title)}: <span class="{s.trend.verdict}">{escape(trend_text(s))}</span>'
        for s in section.series
        if s.healthy != "neutral"
    ]
    return f'<p class="trends">{" · ".join(parts)}</p>' if parts else ""


def _table(section: Section, months: list[str]) -> str:
    head = "".join(f"<th>{escape(s.title)}</th>" for s in section.series)
    rows = "".join(
        f"<tr><td>{m}</td>"
        + "".join(f"<td>{fmt(s.values[i], s.unit)}</td>" for s in section.series)
        + "</tr>"
        for i, m in enumerate(months)
    )
    return (
        "<details><summary>Month by month</summary>"
        f"<table><thead><tr><th>Month</th>{head}</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def _section(section: Section, months: list[str]) -> str:
    return (
        f'<section id="{section.key}"><h2>{escape(section.title)}</h2>'
        f'<p class="healthy"><b>Healthy:</b> {escape(section.healthy)} '
        f'<a href="{escape(section.link)}">Why this matters</a></p>'
        f"{_totals(section)}"
        f'<div class="chart">{svg(section, months)}</div>'
        f"{_trends(section)}{_table(section, months)}</section>"
    )


def _recurring(report: Report) -> str:
    if not report.recurring:
        body = "<p>No contributing factor appears in more than one postmortem.</p>"
    else:
        rows = [
            f"<li>{escape(r.text)} — in <strong>{r.documents}</strong> postmortems"
            f" ({r.first} to {r.last})</li>"
            for r in report.recurring
        ]
        body = f"<ul>{''.join(rows)}</ul>"
    return (
        '<section id="recurring"><h2>Contributing factors that recur</h2>'
        "<p class=healthy><b>Healthy:</b> Few factors come back: the action items fixed them.</p>"
        f"{body}</section>"
    )


def render_html(report: Report, title: str = "Postmortem health") -> str:
    where = f" — {escape(report.repository)}" if report.repository else ""
    period = f"{report.months[0]} to {report.months[-1]}" if report.months else ""
    sections = "".join(_section(s, report.months) for s in report.sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}{where}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{escape(title)}{where}</h1>"
        f'<p class="lead">Team-level culture signals, {period}, generated {report.today.isoformat()}, '
        f"from {report.documents} postmortems. Counts and medians only: nothing here ranks, counts or "
        "names individuals.</p>"
        f"{sections}{_recurring(report)}</main></body></html>\n"
    )
