"""Output formats: text lines, the JSON schema, SARIF 2.1.0 and escaped workflow commands."""

import json
import re
from pathlib import Path

from checks.engine import check_text
from checks.findings import Finding, Level
from checks.output.formats import escape_property, github_command, to_github, to_json, to_sarif, to_text
from checks.output.summary import render_markdown

EXAMPLES = Path(__file__).parent.parent / "examples" / "postmortems"
BAD = EXAMPLES / "2026-05-02-blameful-draft.md"


def results():
    return [check_text(BAD.read_text(), "docs/postmortems/bad.md")]


def test_text_lines_have_path_line_col_level_rule_message():
    first = to_text(results()).splitlines()[0]
    path, line, rest = first.split(":", 2)
    column, level, rule, _message = rest.split(" ", 3)
    assert path == "docs/postmortems/bad.md" and int(line) >= 1 and int(column) >= 1
    assert level in ("error", "warning", "notice") and "." in rule


def test_json_has_the_documented_keys_and_counts():
    data = json.loads(to_json(results()))
    assert data["version"] == 1
    keys = {
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
    }
    assert all(set(f) == keys for f in data["findings"])
    assert data["counts"]["error"] == sum(1 for f in data["findings"] if f["level"] == "error")


def test_sarif_is_2_1_0_with_rules_and_relative_locations():
    sarif = json.loads(to_sarif(results()))
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert re.fullmatch(r"\d+\.\d+\.\d+", run["tool"]["driver"]["semanticVersion"])
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        location = result["locations"][0]["physicalLocation"]
        assert not location["artifactLocation"]["uri"].startswith("/")
        assert location["region"]["startLine"] >= 1


def test_workflow_commands_escape_data_and_properties():
    finding = Finding("a,b:c.md", 3, 2, 3, 9, "language.moral", "50% bad\nline", Level.ERROR, suggestion=None)
    assert github_command(finding) == (
        "::error file=a%2Cb%3Ac.md,line=3,endLine=3,title=language.moral,col=2,endColumn=9::50%25 bad%0Aline"
    )
    assert escape_property("x\r\n") == "x%0D%0A"


def test_workflow_commands_put_errors_first():
    levels = [line.split()[0] for line in to_github(results()).splitlines()]
    assert levels == sorted(levels, key=lambda level: ["::error", "::warning", "::notice"].index(level))


def test_summary_counts_figures_and_is_cut_to_the_limit():
    good = check_text((EXAMPLES / "2026-03-14-checkout-latency.md").read_text(), "good.md")
    summary = render_markdown([good])
    assert "No findings" in summary
    assert "guardrail share 2 of 4 (50%)" in summary
    assert "time to detect 10 min" in summary and "time to resolve 47 min" in summary
    many = results() * 200
    short = render_markdown(many, limit=3000)
    assert len(short) <= 3000 and "more finding" in short


def test_family_summary_only_counts_that_family():
    summary = render_markdown(results(), family="timeline")
    assert summary.startswith("### Timeline:")
    assert "action-items." not in summary


def _sarif_results(text: str, path: str = "docs/postmortems/x.md") -> list[dict]:
    return json.loads(to_sarif([check_text(text, path)]))["runs"][0]["results"]


def test_sarif_keeps_a_dot_folder_in_the_uri():
    results = _sarif_results(BAD.read_text(), ".incidents/bad.md")
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {".incidents/bad.md"}
    results = _sarif_results(BAD.read_text(), "./docs/bad.md")
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {
        "docs/bad.md"
    }


def _fingerprints(results: list[dict]) -> list[str]:
    return [next(iter(r["partialFingerprints"].values())) for r in results]


def test_sarif_fingerprints_are_distinct_for_every_result():
    text = BAD.read_text() + "\n".join(["", "## More", "", *["Bob should have known better."] * 5, ""])
    fingerprints = _fingerprints(_sarif_results(text))
    assert len(fingerprints) > 10
    assert len(set(fingerprints)) == len(fingerprints)


def test_sarif_fingerprints_survive_lines_added_above():
    text = BAD.read_text()
    head, _, body = text.partition("\n## ")
    edited = head + "\n\nA new paragraph.\n\nAnd another one, further up.\n\n## " + body
    before = _sarif_results(text)
    after = _sarif_results(edited)
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in before] != [
        r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after
    ]
    assert set(_fingerprints(before)) <= set(_fingerprints(after))


def _json_as_one_document(results) -> str:
    """The JSON output as first written: one `json.dumps` of the whole document."""
    from checks.findings import Level
    from checks.output.formats import JSON_SCHEMA_VERSION, all_findings

    findings = all_findings(results)
    document = {
        "version": JSON_SCHEMA_VERSION,
        "files": [r.path for r in results],
        "counts": {str(level): sum(1 for f in findings if f.level == level) for level in reversed(Level)},
        "findings": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "end_line": f.end_line,
                "end_column": f.end_column,
                "rule": f.rule,
                "level": str(f.level),
                "message": f.message,
                "suggestion": f.suggestion,
                "why": f.why,
                "link": f.link,
            }
            for f in findings
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def test_json_written_line_by_line_is_byte_for_byte_the_whole_document():
    from checks.engine import check_text
    from checks.output.formats import json_lines

    tricky = 'Dave was careless. "Quoted" \\ back\tslash — ünïcode 🙂 and a\u2028separator\n'
    many = [*results(), check_text(tricky * 3, 'odd/päth "x".md')]
    for case in ([], results()[:1], many):
        assert "".join(json_lines(case)) == to_json(case) == _json_as_one_document(case)


def test_findings_are_sorted_by_the_fields_they_compare_by():
    """The engine sorts by a key of `Finding`'s compared fields, in their order: the same order as
    the dataclass's own comparison, so the key must name exactly those fields."""
    from dataclasses import fields

    from checks.engine import FINDING_ORDER
    from checks.findings import Finding, Level

    compared = tuple(f.name for f in fields(Finding) if f.compare)
    finding = Finding("p.md", 1, 2, 3, 4, "language.moral", "m", Level.ERROR)
    assert FINDING_ORDER(finding) == tuple(getattr(finding, name) for name in compared)
    shuffled = [
        Finding(path, line, column, 1, 1, rule, message, Level.NOTICE)
        for path in ("b.md", "a.md")
        for line in (10, 2)
        for column in (3, 1)
        for rule, message in (("timeline.order", "z"), ("language.moral", "y"), ("language.moral", "x"))
    ]
    assert sorted(shuffled, key=FINDING_ORDER) == sorted(shuffled)
