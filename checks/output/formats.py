"""Output formats for findings: text, JSON (stable schema), SARIF 2.1.0 and GitHub workflow commands."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring as _encode_string  # C, as json.dumps uses it
from typing import TYPE_CHECKING

from checks import tool_version
from checks.config import repo_relative
from checks.findings import DOCS_URL, Finding, Level

if TYPE_CHECKING:  # formatting needs findings, not the engine that made them
    from checks.findings import Result

JSON_SCHEMA_VERSION = 1
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTICE: "note"}
GITHUB_COMMANDS = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTICE: "notice"}


def all_findings(results: Iterable[Result]) -> list[Finding]:
    return [finding for result in results for finding in result.findings]


ANSI = {
    "path": "1",
    Level.ERROR: "1;31",
    Level.WARNING: "1;33",
    Level.NOTICE: "1;36",
    "rule": "2",
    "suggestion": "32",
}


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{style}m{text}\x1b[0m" if color else text


def to_text(results: list[Result], color: bool = False) -> str:
    """One line per finding, `path:line:col level rule message`, its suggestion indented under it,
    and a closing line that says what was checked (also when nothing was found). `color` adds
    ANSI colours, as ruff and Vale print on a terminal."""
    lines = []
    for f in all_findings(results):
        place = _paint(f"{f.path}:{f.line}:{f.column}", ANSI["path"], color)
        level = _paint(str(f.level), ANSI[f.level], color)
        rule = _paint(f.rule, ANSI["rule"], color)
        lines.append(f"{place} {level} {rule} {f.message}")
        if f.suggestion:
            lines.append("  " + _paint(f"suggestion: {f.suggestion}", ANSI["suggestion"], color))
    lines.append(_paint(checked_line(results), "1", color))
    return "\n".join(lines) + "\n"


def checked_line(results: list[Result]) -> str:
    """`3 postmortems checked, 0 findings.` or `…, 5 findings (2 errors, 3 warnings).`"""
    findings = all_findings(results)
    documents = f"{len(results)} postmortem{'' if len(results) == 1 else 's'} checked"
    if not findings:
        return f"{documents}, 0 findings."
    counts = [(sum(1 for f in findings if f.level == level), str(level)) for level in reversed(Level)]
    detail = ", ".join(f"{n} {name}{'' if n == 1 else 's'}" for n, name in counts if n)
    return f"{documents}, {len(findings)} finding{'' if len(findings) == 1 else 's'} ({detail})."


def to_json(results: list[Result]) -> str:
    """The documented JSON schema (see README, "JSON output"); keys never change within a version."""
    return "".join(json_lines(results))


JSON_FINDING_KEYS = (
    "path",
    "line",
    "column",
    "end_line",
    "end_column",
    "rule",
    "level",
    "message",
    "suggestion",
    "why",
    "link",
)
# One finding as `json.dumps(..., indent=2)` lays it out two levels deep: the strings go in already
# encoded (`%s`), the positions as numbers (`%d`).
_NUMBER_KEYS = frozenset({"line", "column", "end_line", "end_column"})
_FINDING_JSON = (
    "    {\n"
    + ",\n".join(f'      "{key}": %{"d" if key in _NUMBER_KEYS else "s"}' for key in JSON_FINDING_KEYS)
    + "\n    }"
)


def json_lines(results: list[Result]) -> Iterator[str]:
    """`to_json`'s text, a finding at a time, for writing as it is made.

    `json.dumps` with an indent runs the pure-Python encoder over the whole document, and a run
    over a thousand files has tens of thousands of findings. The findings are flat (strings,
    numbers, null), so each is laid out here with the C string encoder in exactly the form
    `json.dumps(document, indent=2, ensure_ascii=False)` gives (a test holds them equal).
    """
    findings = all_findings(results)
    head = {
        "version": JSON_SCHEMA_VERSION,
        "files": [r.path for r in results],
        "counts": {str(level): sum(1 for f in findings if f.level == level) for level in reversed(Level)},
        "findings": [],
    }
    text = json.dumps(head, indent=2, ensure_ascii=False)
    if not findings:
        yield text + "\n"
        return
    yield text.removesuffix("[]\n}") + "[\n"
    last = len(findings) - 1
    for index, f in enumerate(findings):
        suggestion = "null" if f.suggestion is None else _encode_string(f.suggestion)
        yield _FINDING_JSON % (
            _encode_string(f.path),
            f.line,
            f.column,
            f.end_line,
            f.end_column,
            _encode_string(f.rule),
            _encode_string(str(f.level)),
            _encode_string(f.message),
            suggestion,
            _encode_string(f.why),
            _encode_string(f.link),
        ) + (",\n" if index < last else "\n")
    yield "  ]\n}\n"


def _sarif_rule(rule_id: str) -> dict:
    from checks.rules.catalog import catalog

    rule = catalog()[rule_id]
    return {
        "id": rule.id,
        "name": rule.id.split(".", 1)[1].title().replace("-", ""),
        "shortDescription": {"text": rule.message.replace("{match}", "…").split("\n")[0][:1000]},
        "fullDescription": {"text": rule.why},
        "helpUri": f"{DOCS_URL}#{rule.id.replace('.', '')}",
        "help": {"text": rule.why},
        "defaultConfiguration": {"level": SARIF_LEVELS[rule.level]},
        "properties": {"tags": [rule.family]},
    }


def fingerprints(findings: list[Finding]) -> list[str]:
    """A stable, distinct fingerprint for each finding, in the order given.

    Code scanning tracks an alert across commits by its fingerprint, so it must not change when
    lines are added above the finding, and two findings must never share one (GitHub merges
    them). It hashes the rule, the path, the matched text (or the message, when the rule matched
    no text) and which occurrence of that text in the file this is, counted in document order.
    """
    seen: Counter[tuple[str, str, str]] = Counter()
    occurrence: dict[int, int] = {}
    for i in sorted(range(len(findings)), key=lambda i: _position(findings[i])):
        f = findings[i]
        key = (f.rule, repo_relative(f.path), (f.matched or f.message).casefold())
        occurrence[i] = seen[key]
        seen[key] += 1
    out = []
    for i, f in enumerate(findings):
        text = (f.matched or f.message).casefold()
        material = "\0".join((f.rule, repo_relative(f.path), text, str(occurrence[i])))
        out.append(hashlib.sha256(material.encode("utf-8")).hexdigest()[:32])
    return out


def _position(f: Finding) -> tuple:
    return (f.path, f.line, f.column, f.rule, f.end_line, f.end_column, f.message)


def to_sarif(results: list[Result]) -> str:
    """SARIF 2.1.0 as GitHub code scanning accepts it: one run, rules with help links, relative URIs."""
    findings = all_findings(results)
    rule_ids = sorted({f.rule for f in findings})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    sarif_results = []
    for f, fingerprint in zip(findings, fingerprints(findings), strict=True):
        region = {"startLine": f.line, "startColumn": f.column, "endLine": f.end_line}
        if f.end_column > 0:
            region["endColumn"] = f.end_column
        message = f.message + (f"\nSuggestion: {f.suggestion}" if f.suggestion else "")
        sarif_results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": SARIF_LEVELS[f.level],
                "message": {"text": message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": repo_relative(f.path), "uriBaseId": "%SRCROOT%"},
                            "region": region,
                        }
                    }
                ],
                "partialFingerprints": {"blamelessFinding/v2": fingerprint},
            }
        )
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "blameless",
                        "informationUri": DOCS_URL,
                        "semanticVersion": tool_version(),
                        "rules": [_sarif_rule(rule_id) for rule_id in rule_ids],
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(f: Finding) -> str:
    """`::error file=…,line=…::message`, escaped as @actions/core escapes it."""
    props = {"file": f.path, "line": str(f.line), "endLine": str(f.end_line), "title": f.rule}
    if f.line == f.end_line:
        props["col"] = str(f.column)
        props["endColumn"] = str(f.end_column)
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in props.items())
    message = f.message + (f" Suggestion: {f.suggestion}" if f.suggestion else "")
    return f"::{GITHUB_COMMANDS[f.level]} {rendered}::{escape_data(message)}"


def prioritised(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notices; in document order within a level."""
    return sorted(findings, key=lambda f: (-f.level, f.path, f.line, f.column))


def to_github(results: list[Result]) -> str:
    lines = [github_command(f) for f in prioritised(all_findings(results))]
    return "\n".join(lines) + ("\n" if lines else "")


FORMATTERS = {"text": to_text, "json": to_json, "sarif": to_sarif, "github": to_github}
