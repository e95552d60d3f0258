"""Inline suppression: `blameless-disable-next-line`, `blameless-disable` … `blameless-enable` comments.

A directive names rule ids or families (`language.moral`, `language`), separated by spaces or
commas; with no names it applies to every rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from checks.document.model import Document

_DIRECTIVE = re.compile(r"^blameless-(disable-next-line|disable-line|disable|enable)\b(.*)$", re.DOTALL)
ALL = "*"


@dataclass
class Suppressions:
    lines: dict[int, set[str]] = field(default_factory=dict)  # line → rules off on that line
    ranges: list[tuple[str, int, int]] = field(default_factory=list)  # rule, first line, last line

    @classmethod
    def from_document(cls, doc: Document) -> Suppressions:
        out = cls()
        open_ranges: dict[str, int] = {}
        last_line = doc.source.count("\n") + 1
        for comment in doc.comments:
            match = _DIRECTIVE.match(comment.text)
            if not match:
                continue
            verb, names = match.group(1), re.split(r"[\s,]+", match.group(2).strip())
            rules = [n for n in names if n] or [ALL]
            line, _ = doc.position(comment.span.start)
            end_line, _ = doc.position(comment.span.end)
            if verb == "disable-next-line":
                out.lines.setdefault(end_line + 1, set()).update(rules)
            elif verb == "disable-line":
                out.lines.setdefault(line, set()).update(rules)
            elif verb == "disable":
                for rule in rules:
                    open_ranges.setdefault(rule, line)
            else:
                for rule in rules:
                    targets = list(open_ranges) if rule == ALL else [rule]
                    for target in targets:
                        if target in open_ranges:
                            out.ranges.append((target, open_ranges.pop(target), line))
        for rule, start in open_ranges.items():
            out.ranges.append((rule, start, last_line))
        return out

    def suppressed(self, rule_id: str, line: int) -> bool:
        if not self.lines and not self.ranges:
            return False  # most documents disable nothing: every finding asks
        family = rule_id.split(".", 1)[0]
        names = {rule_id, family, ALL}
        if names & self.lines.get(line, set()):
            return True
        return any(rule in names and start <= line <= end for rule, start, end in self.ranges)
