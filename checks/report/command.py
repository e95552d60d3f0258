"""`blameless report`: where the history comes from, and where the report goes.

From a local clone (a PATH, default the current directory) the report has the documents' signals,
plus whatever a `--history` file adds. With `--repo OWNER/NAME` a report source collects the whole
history from an API; sources are plugins in the entry point group `blameless.report_sources`
(the package's own `github` source lives in the App's code, which the engine never imports).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from checks.config import Config
from checks.report.history import DocumentRecord, History, HistoryError, history_from_json

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

SOURCE_GROUP = "blameless.report_sources"
DEFAULT_SOURCE = "github"

# A source: (repository, since, config, environment) -> History.
Source = Callable[..., History]


class SourceError(Exception):
    """No source of that name is installed, or it failed to load."""


def resolve_source(name: str = DEFAULT_SOURCE, available: Iterable[EntryPoint] | None = None) -> Source:
    """The report source registered under `name` (by default, among the installed entry points)."""
    from importlib.metadata import entry_points  # loads email and socket: only when asked

    found = list(entry_points(group=SOURCE_GROUP) if available is None else available)
    match = next((ep for ep in found if ep.name == name and ep.group == SOURCE_GROUP), None)
    if match is None:
        names = ", ".join(sorted(ep.name for ep in found)) or "none"
        raise SourceError(
            f"no report source {name!r} is installed (group {SOURCE_GROUP}: {names}); "
            "install the package itself (pip install blameless-bot), not only its engine"
        )
    try:
        return match.load()
    except (ImportError, AttributeError) as exc:
        raise SourceError(f"report source {name!r} ({match.value}) failed to load: {exc}") from None


def local_history(documents: list[Path], history_file: str | None) -> History:
    """Documents from disk, with incidents and action items from a history file when given."""
    history = History()
    if history_file:
        path = Path(history_file)
        try:
            history = history_from_json(path.read_text("utf-8"), str(path))
        except OSError as exc:
            raise HistoryError(f"{history_file}: {exc.strerror}") from None
    known = {d.path for d in history.documents}
    for path in documents:
        if path.as_posix() not in known:
            history.documents.append(
                DocumentRecord(path.as_posix(), path.read_text("utf-8", errors="replace"))
            )
    return history


def github_history(
    repository: str, since: date | None, config: Config, source: Source | None = None
) -> History:
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise HistoryError(f"--repo: {repository!r} is not OWNER/NAME")
    source = source or resolve_source(DEFAULT_SOURCE)
    return source(repository, since=since, config=config, environ=dict(os.environ))


def render(report, fmt: str) -> str:
    from checks.report import render_html, render_json, render_markdown

    return {"markdown": render_markdown, "json": render_json, "html": render_html}[fmt](report)


def today_utc() -> date:
    return datetime.now(UTC).date()
