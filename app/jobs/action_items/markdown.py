"""How text is shortened for the Markdown the job writes: on one line, cut short. What people
typed is then rendered through `checks.output.safe_markdown`, the one way it enters Markdown."""

from __future__ import annotations

SHORT_SHA = 7  # characters of a commit SHA shown in text
NONE = "—"  # an empty field of the issue, or cell of a status table


def one_line(text: str) -> str:
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
