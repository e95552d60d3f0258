"""Findings: what a rule reports about a place in a postmortem document."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a run whose findings all come from the results cache never loads the parser
    from checks.document.model import Document, Span

DOCS_URL = "https://github.com/blameless-bot/blameless-bot/blob/main/README.md"


class Level(IntEnum):
    """Severity of a finding; ordered so that `level >= Level.WARNING` reads naturally."""

    NOTICE = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, name: str) -> Level:
        return cls[name.upper()]

    def __str__(self) -> str:
        return self.name.lower()


FAMILIES = ("language", "structure", "timeline", "action-items")


def rule_link(rule_id: str) -> str:
    """The README anchor that documents a rule: the heading is the rule id itself."""
    return f"{DOCS_URL}#{rule_id.replace('.', '')}"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one place. Positions are 1-based; the end line is inclusive, the end column not."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    rule: str
    message: str
    level: Level = field(compare=False)
    suggestion: str | None = field(default=None, compare=False)
    why: str = field(default="", compare=False)
    # The text the rule matched, whitespace-collapsed: with the rule and the path it tells this
    # finding apart from its neighbours without depending on the line it sits on.
    matched: str = field(default="", compare=False, repr=False)

    @property
    def family(self) -> str:
        return self.rule.split(".", 1)[0]

    @property
    def link(self) -> str:
        return rule_link(self.rule)

    def to_dict(self) -> dict:
        data = asdict(self)
        del data["matched"]
        data["level"] = str(self.level)
        data["link"] = self.link
        return data


@dataclass(frozen=True)
class Hit:
    """What a rule reports before the engine locates it: the rule, where, and optional wording."""

    rule: str
    span: Span
    message: str | None = None  # replaces the rule's message; "{match}" becomes the matched text
    suggestion: str | None = None
    level: Level | None = None  # replaces the rule's level (a name in a timeline is a warning)
    params: dict[str, str] = field(default_factory=dict)  # fills "{name}" in message and suggestion


@dataclass
class Result:
    """The findings for one document, with the parsed document for summaries and job 3 (None when
    only the findings were kept)."""

    path: str
    document: Document | None
    findings: list[Finding] = field(default_factory=list)

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level == level)
