"""The one Markdown summary: counts by family, guardrail share, timeline durations, the findings table.

Check runs (≤65535 characters) and Actions job summaries (≤1 MiB) both render through here; the
findings table is cut to fit `limit`, with a line saying how many rows were left out.
"""

from __future__ import annotations

from datetime import timedelta

from checks.findings import FAMILIES, Finding, Level, Result
from checks.output.formats import all_findings, prioritised
from checks.output.safe_markdown import code, inline
from checks.rules.action_items import guardrail_share
from checks.rules.timeline import durations

FAMILY_TITLES = {
    "language": "Blameless language",
    "structure": "Structure",
    "timeline": "Timeline",
    "action-items": "Action items",
}
LEVEL_ICONS = {Level.ERROR: "❌ error", Level.WARNING: "⚠️ warning", Level.NOTICE: "ℹ️ notice"}
CHECK_RUN_LIMIT = 65535
MAX_FIGURE_LINES = 20  # one line per document; beyond this the table of findings matters more


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)


def headline(findings: list[Finding]) -> str:
    counts = [
        sum(1 for f in findings if f.level == level) for level in (Level.ERROR, Level.WARNING, Level.NOTICE)
    ]
    if not any(counts):
        return "No findings"
    return ", ".join((plural(counts[0], "error"), plural(counts[1], "warning"), plural(counts[2], "notice")))


def _family_table(findings: list[Finding], families: tuple[str, ...]) -> list[str]:
    rows = ["| Family | Errors | Warnings | Notices |", "|---|---:|---:|---:|"]
    for family in families:
        in_family = [f for f in findings if f.family == family]
        counts = [
            sum(1 for f in in_family if f.level == level)
            for level in (Level.ERROR, Level.WARNING, Level.NOTICE)
        ]
        rows.append(f"| {FAMILY_TITLES[family]} | {counts[0]} | {counts[1]} | {counts[2]} |")
    return rows


def _figures(results: list[Result], families: tuple[str, ...]) -> list[str]:
    lines = []
    for result in results:
        figures = []
        if "action-items" in families:
            share = guardrail_share(result.document)
            items = result.document.action_items
            if share is not None:
                guardrails = round(share * len(items))
                figures.append(f"guardrail share {guardrails} of {len(items)} ({share:.0%})")
        if "timeline" in families:
            spans = durations(result.document)
            for label in ("detect", "mitigate", "resolve"):
                if label in spans:
                    figures.append(f"time to {label} {format_duration(spans[label])}")
        if figures:
            lines.append(f"- {code(result.path)}: " + " · ".join(figures))
    return lines


def _finding_row(f: Finding) -> str:
    # Paths, messages and suggestions quote the document: they go in through the safe renderer.
    suggestion = f"<br>💡 {inline(f.suggestion)}" if f.suggestion else ""
    return (
        f"| {code(f'{f.path}:{f.line}', cell=True)} | {LEVEL_ICONS[f.level]} | [`{f.rule}`]({f.link}) | "
        f"{inline(f.message)}{suggestion} |"
    )


def render_markdown(results: list[Result], family: str | None = None, limit: int = CHECK_RUN_LIMIT) -> str:
    """The summary for every family, or for one (a check run per family)."""
    families = (family,) if family else FAMILIES
    findings = [f for f in all_findings(results) if f.family in families]
    title = FAMILY_TITLES[family] if family else "Postmortem checks"
    head = [f"### {title}: {headline(findings)}", ""]
    head.append(f"Checked {plural(len(results), 'postmortem document')}.")
    head.append("")
    head += [*_family_table(findings, families), ""]
    figures = _figures(results, families)
    if len(figures) > MAX_FIGURE_LINES:
        figures = [*figures[:MAX_FIGURE_LINES], f"- … and {len(figures) - MAX_FIGURE_LINES} more documents"]
    if figures:
        head += ["**Figures**", "", *figures, ""]
    if not findings:
        return "\n".join(head).rstrip() + "\n"
    head += ["| Where | Level | Rule | Message |", "|---|---|---|---|"]
    text = "\n".join(head) + "\n"
    rows = [_finding_row(f) + "\n" for f in prioritised(findings)]
    for index, row in enumerate(rows):
        remaining = len(rows) - index
        tail = f"\n… and {plural(remaining, 'more finding')} (see the annotations).\n"
        if len(text) + len(row) + len(tail) > limit:
            return text + tail
        text += row
    return text
