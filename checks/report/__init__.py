"""The culture report: is blameless culture working here? Team-level signals from a history.

`build_report(history, today)` turns incidents, action items and documents (plain data, see
`history`) into monthly signals with trends (`signals`); `render_markdown`, `render_json` and
`render_html` draw them. Where the history comes from is not this package's business: the CLI
reads documents from disk and a `--history` file, and a source plugin (entry point group
`blameless.report_sources`, the GitHub one in app/jobs/culture_report.py) collects it from an API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checks.report.history import (
        DocumentRecord,
        History,
        HistoryError,
        Incident,
        ItemRecord,
        history_from_json,
    )
    from checks.report.markdown import render_json, render_markdown
    from checks.report.signals import Report, build_report

# Where each name lives, imported on first use (PEP 562): the CLI imports `checks.report.command`
# to build its parser, and the signals and renderers cost some 30 ms that only `report` needs.
_HOMES = {
    "DocumentRecord": "history",
    "History": "history",
    "HistoryError": "history",
    "Incident": "history",
    "ItemRecord": "history",
    "history_from_json": "history",
    "render_json": "markdown",
    "render_markdown": "markdown",
    "Report": "signals",
    "build_report": "signals",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"checks.report.{home}"), name)


__all__ = [
    "DocumentRecord",
    "History",
    "HistoryError",
    "Incident",
    "ItemRecord",
    "Report",
    "build_report",
    "history_from_json",
    "render_html",
    "render_json",
    "render_markdown",
]


def render_html(report: Report) -> str:
    """The HTML page (imports matplotlib, the `report` extra, on first use)."""
    from checks.report.html import render_html as render

    return render(report)
