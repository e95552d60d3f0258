"""The engine: text and config in, findings out. Composes the rule families in one list."""

from __future__ import annotations

import gc
import operator
from collections.abc import Callable, Iterable

from checks import split
from checks.config import Config
from checks.document.model import Document
from checks.document.parse import parse
from checks.findings import Finding, Hit, Level, Result
from checks.rules import action_items, language, structure, timeline
from checks.rules.catalog import rule as lookup_rule
from checks.suppress import Suppressions

Family = Callable[[Document, Config], Iterable[Hit]]

FAMILY_CHECKS: list[Family] = [language.check, structure.check, timeline.check, action_items.check]

# The order of `Finding`'s compared fields, as one key made in C: sorting by it gives the order of
# the dataclass's own `<`, which builds two tuples in Python at each of a large document's
# hundreds of thousands of comparisons. Two findings with equal keys are equal findings, which
# the set has already made one.
FINDING_ORDER = operator.attrgetter("path", "line", "column", "end_line", "end_column", "rule", "message")


def fill(text: str, params: dict[str, str]) -> str:
    """Replace "{name}" by its value; plain replacement, so braces in user text are safe."""
    for name, value in params.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def to_finding(doc: Document, hit: Hit, config: Config) -> Finding | None:
    rule = lookup_rule(hit.rule)
    configured = config.rule_level(hit.rule)
    if configured == "off":
        return None
    level = Level.parse(configured) if configured else (hit.level or rule.level)
    line, column = doc.position(hit.span.start)
    end_line, end_column = doc.position(max(hit.span.start, hit.span.end))
    params = {"match": " ".join(doc.source[hit.span.start : hit.span.end].split()), **hit.params}
    message = fill(hit.message or rule.message, params)
    suggestion = hit.suggestion if hit.suggestion is not None else rule.suggestion
    suggestion = fill(suggestion, params) if suggestion else None
    return Finding(
        path=doc.path,
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        rule=hit.rule,
        message=message,
        level=level,
        suggestion=suggestion,
        why=rule.why,
        matched=" ".join(str(params["match"]).split()),
    )


def check_document(
    doc: Document, config: Config | None = None, jobs: int = 1, shared: split.SharedLanguage | None = None
) -> Result:
    """The findings of a parsed document; with `jobs` above one a large document's language
    checks are shared over that many processes (`checks.split`), with the same findings.
    `shared` is such a sharing already started (`check_text` starts it during the parse), and
    is closed here."""
    config = config or Config()
    if shared is None and jobs > 1:
        shared = split.start(doc, config, jobs)

    def located(hits: Iterable[Hit]) -> list[Finding]:
        found = (to_finding(doc, hit, config) for hit in hits)
        return [f for f in found if f and not suppressions.suppressed(f.rule, f.line)]

    try:
        suppressions = Suppressions.from_document(doc)
        # The other families run here while the workers check the prose; their findings are then
        # taken in the families' order, as in one process (of two equal findings, the first is kept).
        families = [
            None if shared is not None and family is language.check else located(family(doc, config))
            for family in FAMILY_CHECKS
        ]
        if shared is not None:
            prose = located(language.check(doc, config, shared=shared.hits()))
            families = [prose if family is None else family for family in families]
    finally:
        if shared is not None:
            shared.close()
    findings: set[Finding] = set()
    for family in families:
        findings.update(family)
    return Result(path=doc.path, document=doc, findings=sorted(findings, key=FINDING_ORDER))


def check_text(text: str, path: str = "postmortem.md", config: Config | None = None, jobs: int = 1) -> Result:
    """Check one postmortem's text. Never raises on strange input: problems become findings."""
    # Parsing and checking allocate hundreds of thousands of small objects (tokens, blocks,
    # spans) that all stay alive until the result is built, so the cyclic collector's passes
    # find nothing to free and cost a fifth of the run on a large document. It is paused for the
    # call (reference counting still frees everything acyclic) and resumed as it was found.
    paused = gc.isenabled()
    gc.disable()
    config = config or Config()
    shared: split.SharedLanguage | None = None

    def share_prose(doc: Document) -> None:
        # The workers start as soon as the prose is read, and check it while this process reads
        # the timeline, factors and action items, which the language checks never look at.
        nonlocal shared
        shared = split.start(doc, config, jobs)

    try:
        try:
            doc = parse(text, path, config, prose_read=share_prose if jobs > 1 else None)
        except BaseException:
            if shared is not None:
                shared.close()
            raise
        return check_document(doc, config, shared=shared)  # the sharing was decided in the parse
    finally:
        if paused:
            gc.enable()
