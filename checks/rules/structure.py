"""Structure checks: required sections present and filled, no leftover placeholders, no single root cause."""

from __future__ import annotations

import re
from collections.abc import Iterator

from checks.config import Config
from checks.document.model import Document, Span
from checks.document.parse import builtin_aliases
from checks.findings import Hit

# "the root cause", "root cause was/is", "root-caused" — the singular framing only.
_ROOT_CAUSE = re.compile(
    r"(?i)\b(?:the|a|single|one|primary|main|true|real)\s+root[- ]cause\b(?!s)|\broot[- ]caused\b"
)
_ROOT_CAUSE_HEADING = re.compile(r"(?i)^\W*(?:\d+\W+)?root[- ]cause(?:\s+analysis)?\W*$")


def section_title(key: str) -> str:
    titles = builtin_aliases().get(key)
    return titles[0] if titles else key.replace("-", " ").capitalize()


def missing_and_empty(doc: Document, config: Config) -> Iterator[Hit]:
    seen: set[str] = set()
    for section in doc.sections:
        if section.key is None:
            continue
        if section.key in seen:
            yield Hit("structure.duplicate-section", section.span, params={"section": section.title})
            continue
        seen.add(section.key)
        required = section.key in config["sections"]["required"]
        if required and not section.has_content and not doc.in_placeholder(section.body):
            yield Hit("structure.empty-section", section.span, params={"section": section.title})
    anchor = doc.sections[0].span if doc.sections else Span(0, 0)
    for key in config["sections"]["required"]:
        if key not in seen:
            title = section_title(key)
            yield Hit("structure.missing-section", anchor, params={"section": title, "title": title})


def placeholders(doc: Document) -> Iterator[Hit]:
    for span in doc.placeholders:
        yield Hit("structure.placeholder", span)


def root_cause(doc: Document) -> Iterator[Hit]:
    for section in doc.sections:
        if _ROOT_CAUSE_HEADING.match(section.title):
            yield Hit(
                "structure.root-cause",
                section.span,
                suggestion='Rename the section "Contributing factors" and list each factor.',
            )
    for prose in doc.prose:
        # Every match holds "root" in some case, and nothing but R, O and T folds onto r, o, t:
        # the lowercase test skips the runs that cannot match, where the case-insensitive
        # pattern would try its alternatives at every word.
        if prose.kind == "heading" or "root" not in prose.text.lower():
            continue
        for match in _ROOT_CAUSE.finditer(prose.text):
            yield Hit(
                "structure.root-cause", Span(prose.span.start + match.start(), prose.span.start + match.end())
            )


def single_factor(doc: Document) -> Iterator[Hit]:
    section = doc.section("contributing-factors")
    if section is not None and len(doc.factors) == 1:
        yield Hit("structure.single-factor", doc.factors[0].span)


def front_matter(doc: Document) -> Iterator[Hit]:
    for span, problem in doc.problems:
        yield Hit("structure.front-matter", span, message=problem)


def check(doc: Document, config: Config) -> Iterator[Hit]:
    yield from front_matter(doc)
    yield from missing_and_empty(doc, config)
    yield from placeholders(doc)
    yield from root_cause(doc)
    yield from single_factor(doc)
