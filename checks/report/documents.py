"""What one postmortem document shows about the culture: its length, detail and language.

Length and detail (words, timeline entries, contributing factors) falling over time is a negative
signal; blameless-language findings at merge should fall; contributing factors that come back in
postmortem after postmortem are what the action items did not fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from checks.config import Config
from checks.engine import check_text
from checks.report.kinds import item_kind

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_NAME_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")


@dataclass(frozen=True)
class DocumentStats:
    path: str
    when: date | None
    words: int
    timeline_entries: int
    factors: tuple[str, ...]  # the contributing factors' texts
    language_findings: int  # blameless-language findings, as the check would report them
    item_kinds: tuple[str, ...]


def word_count(text: str) -> int:
    """Words a reader reads: front matter and HTML comments left out."""
    body = _COMMENT.sub(" ", _FRONT_MATTER.sub("", text))
    return len(_WORD.findall(body))


def document_date(metadata: dict, path: str, merged: date | None) -> date | None:
    """The merge date when known, else the front matter's `date:`, else a date in the file name."""
    if merged is not None:
        return merged
    value = metadata.get("date")
    if isinstance(value, date):
        return value
    for candidate in (str(value or ""), path.rsplit("/", 1)[-1]):
        match = _NAME_DATE.search(candidate)
        if match:
            try:
                return date.fromisoformat(match.group(1))
            except ValueError:
                continue
    return None


def document_stats(
    path: str, text: str, merged: date | None = None, config: Config | None = None
) -> DocumentStats:
    result = check_text(text, path, config)
    doc = result.document
    items = [i for i in doc.action_items if not doc.in_placeholder(i.text_span, i.owner_span, i.due_span)]
    return DocumentStats(
        path=path,
        when=document_date(doc.metadata, path, merged),
        words=word_count(text),
        timeline_entries=len(doc.timeline),
        factors=tuple(f.text for f in doc.factors),
        language_findings=sum(1 for f in result.findings if f.rule.startswith("language.")),
        item_kinds=tuple(item_kind(i) for i in items),
    )
