"""The culture report's figures on a small history whose answers are worked out by hand here."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from checks.cli import main
from checks.config import parse_config
from checks.report import History, build_report, render_json, render_markdown
from checks.report.command import SOURCE_GROUP, SourceError, resolve_source
from checks.report.documents import word_count
from checks.report.history import DocumentRecord, HistoryError, Incident, ItemRecord, history_from_json
from checks.report.kinds import declared_kind
from checks.report.signals import trend

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 4, 15)


def at(day: str, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


INCIDENTS = [
    # A: issue after 1 day, PR after 3, merged after 10; 3 commenters, 2 reviewers
    Incident(
        "incident",
        at("2026-01-10"),
        at("2026-01-11"),
        at("2026-01-13"),
        at("2026-01-20"),
        date(2026, 1, 25),
        3,
        2,
    ),
    # B: a near miss whose postmortem never got a PR: overdue since 2026-02-06
    Incident("near-miss", at("2026-01-20"), at("2026-01-23"), None, None, date(2026, 2, 6), 1, None),
    # C: 0.5, 2 and 4 days
    Incident(
        "incident",
        at("2026-02-05"),
        at("2026-02-05", 12),
        at("2026-02-07"),
        at("2026-02-09"),
        date(2026, 2, 20),
        4,
        1,
    ),
    # D: 1, 2 and 3 days
    Incident(
        "near-miss",
        at("2026-03-01"),
        at("2026-03-02"),
        at("2026-03-03"),
        at("2026-03-04"),
        date(2026, 3, 20),
        2,
        3,
    ),
    # E: issue after 0.2 days (4h48), due after today: not overdue
    Incident("near-miss", at("2026-03-10"), at("2026-03-10", 4, 48), None, None, date(2026, 4, 30), 0, None),
    # F: no postmortem yet
    Incident("incident", at("2026-04-02")),
]
ITEMS = [
    ItemRecord(date(2026, 1, 20), date(2026, 1, 30), date(2026, 2, 3), "guardrail"),  # on time, 10 d
    ItemRecord(date(2026, 1, 20), date(2026, 2, 20), date(2026, 2, 3), "reminder"),  # late, 31 d
    ItemRecord(date(2026, 1, 20), None, date(2026, 3, 1), "training"),  # open, overdue
    ItemRecord(date(2026, 2, 9), None, date(2026, 5, 1), "constraint"),  # open, not yet due
    ItemRecord(date(2026, 2, 9), date(2026, 2, 15), None, "vague"),  # no due date: on time within 30 d
    ItemRecord(date(2026, 3, 4), date(2026, 4, 10), date(2026, 4, 1), "decision-policy"),  # late, 37 d
    ItemRecord(date(2026, 3, 4), None, None, None),  # open past 30 days without a due date: late
]


def history(**extra) -> History:
    return History(incidents=list(INCIDENTS), items=list(ITEMS), has_incidents=True, has_items=True, **extra)


def values(report, section: str, series: str) -> list:
    found = next(s for s in report.section(section).series if s.key == series)
    return found.values


def test_reporting_counts_incidents_and_near_misses_per_month():
    report = build_report(history(), TODAY)
    assert report.months == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert values(report, "reporting", "incidents") == [1, 1, 0, 1]
    assert values(report, "reporting", "near_misses") == [1, 0, 2, 0]
    assert values(report, "reporting", "near_miss_share") == [50.0, 0.0, 100.0, 0.0]
    assert report.section("reporting").totals == {"incidents": 3, "near_misses": 3, "near_miss_share": 50.0}


def test_time_to_postmortem_is_the_median_per_month_of_opening():
    report = build_report(history(), TODAY)
    assert values(report, "postmortem-speed", "days_to_issue") == [2.0, 0.5, 0.6, None]  # (1+3)/2; (1+0.2)/2
    assert values(report, "postmortem-speed", "days_to_pr") == [3.0, 2.0, 2.0, None]
    assert values(report, "postmortem-speed", "days_to_merge") == [10.0, 4.0, 3.0, None]
    assert values(report, "postmortem-speed", "merged_share") == [50.0, 100.0, 50.0, 0.0]
    assert report.section("postmortem-speed").totals == {"merged_share": 50.0, "overdue_now": 1}  # B only


def test_action_items_created_completed_on_time_and_time_to_close():
    report = build_report(history(), TODAY)
    assert values(report, "action-items", "created") == [3, 2, 2, 0]
    assert values(report, "action-items", "completed") == [1, 2, 0, 1]  # by month of closing
    # Jan: on time, late, overdue -> 1/3; Feb: not yet due (left out), on time -> 1/1; Mar: 0/2
    assert values(report, "action-items", "completion_rate") == [33.3, 100.0, 0.0, None]
    assert values(report, "action-items", "days_to_close") == [10.0, 18.5, None, 37.0]  # Feb: (31+6)/2
    assert report.section("action-items").totals == {
        "created": 7,
        "completed": 4,
        "open": 3,
        "overdue_now": 1,  # the training item; the one without a due date is late but not "overdue"
        "completion_rate": 33.3,  # 2 on time of 6 decided
    }


def test_kinds_are_shares_of_the_months_items():
    report = build_report(history(), TODAY)
    assert values(report, "item-kinds", "guardrail") == [33.3, 0.0, 0.0, None]
    assert values(report, "item-kinds", "reminder") == [33.3, 0.0, 0.0, None]
    assert values(report, "item-kinds", "constraint") == [0.0, 50.0, 0.0, None]
    assert values(report, "item-kinds", "decision-policy") == [0.0, 0.0, 100.0, None]
    totals = report.section("item-kinds").totals
    assert (totals["systemic"], totals["people"]) == (50.0, 50.0)  # 3 of the 6 items with a kind


def test_participation_is_a_median_count_per_postmortem():
    report = build_report(history(), TODAY)
    assert values(report, "participation", "commenters") == [2.0, 4.0, 1.0, None]
    assert values(report, "participation", "reviewers") == [2.0, 1.0, 3.0, None]


def test_trends_say_which_way_is_healthy():
    report = build_report(history(), TODAY)
    incidents = next(s for s in report.section("reporting").series if s.key == "incidents")
    # slope of [1, 1, 0, 1] is -0.1 a month: -0.3 over the period, 40% of the mean of 0.75
    assert (incidents.trend.direction, incidents.trend.verdict, incidents.trend.change) == (
        "falling",
        "worsening",
        -0.3,
    )
    merge = next(s for s in report.section("postmortem-speed").series if s.key == "days_to_merge")
    assert (merge.trend.direction, merge.trend.verdict, merge.trend.change) == ("falling", "improving", -7.0)
    assert trend([5, None, 5.2, 4.9], "up").verdict == "steady"
    assert trend([1, 2], "up").direction == "unknown"


def test_since_starts_the_report_later():
    report = build_report(history(), TODAY, since=date(2026, 3, 1))
    assert report.months == ["2026-03", "2026-04"]
    assert report.section("reporting").totals["near_misses"] == 2


DOC = """---
date: {day}
---
# Postmortem

## Summary

The cache stampeded.

## Timeline

All times UTC.

- {day} 10:00 Alert fired.
- {day} 10:05 Cache flushed.

## Contributing factors

- Retry storm: clients retried without backoff, as {who} saw in the logs.
- {second}

## Action items

- [guardrail] Add jittered backoff to the client — owner @octo-dana — due 2026-06-01
- Remind everyone to be careful — owner @octo-dana — due 2026-06-01
"""


def documents() -> list[DocumentRecord]:
    return [
        DocumentRecord("a.md", DOC.format(day="2026-01-20", who="Dana", second="The dashboard lagged.")),
        DocumentRecord(
            "b.md", DOC.format(day="2026-03-04", who="@octo-dana", second="Priya approved the change.")
        ),
    ]


def test_document_signals_and_recurring_factors():
    report = build_report(History(documents=documents()), TODAY)
    section = report.section("documents")
    assert [s.values for s in section.series[1:3]] == [[2, None, 2, None], [2, None, 2, None]]
    assert section.totals["documents"] == 2
    kinds = report.section("item-kinds")
    assert values(report, "item-kinds", "guardrail") == [50.0, None, 50.0, None]
    assert values(report, "item-kinds", "reminder") == [50.0, None, 50.0, None]
    assert kinds.totals["systemic"] == 50.0
    [factor] = report.recurring
    assert factor.documents == 2 and factor.text.startswith("Retry storm")
    assert (factor.first, factor.last) == ("2026-01", "2026-03")
    assert report.section("reporting") is None  # a clone alone knows no incidents: no zeros shown


def test_word_count_leaves_out_front_matter_and_comments():
    assert word_count("---\ndate: 2026-01-01\n---\n# Two words\n<!-- hidden words -->\nAnd 3 more.") == 4


def test_declared_kind_reads_the_reminder_rule_before_the_type():
    from checks.document.parse import parse

    doc = parse(
        "## Action items\n\n- [guardrail] Train the team on failovers — @a\n- [constraint] Cap retries — @a\n"
        "- Look into it — @a\n",
        "x.md",
    )
    assert [declared_kind(i) for i in doc.action_items] == ["training", "constraint", "vague"]


def test_the_engine_classifier_is_used_when_it_exists(monkeypatch):
    from checks.report import kinds
    from checks.rules import action_items

    monkeypatch.setattr(action_items, "item_kind", lambda item: "guardrail", raising=False)
    doc = DOC.format(day="2026-01-20", who="x", second="y")
    report = build_report(History(documents=[DocumentRecord("a.md", doc)]), TODAY)
    assert values(report, "item-kinds", "guardrail")[0] == 100.0
    monkeypatch.setattr(action_items, "item_kind", lambda item: "nonsense", raising=False)
    from checks.document.parse import parse

    assert kinds.item_kind(parse(doc, "a.md").action_items[0]) == "vague"


# --- team-level only ---------------------------------------------------------------------------

NAMES = ("dana", "octo-dana", "priya", "raman")


def test_no_output_names_anyone_whatever_the_history_holds():
    config = parse_config("language:\n  people: [Priya Raman]\n", "blameless.yml")
    seeded = History(
        incidents=list(INCIDENTS),
        items=list(ITEMS),
        documents=documents(),
        has_incidents=True,
        has_items=True,
        private_terms=frozenset({"octo-dana"}),
    )
    report = build_report(seeded, TODAY, config=config)
    assert report.recurring, "the factor that names people must still be reported, without them"
    from checks.report import render_html

    for output in (render_markdown(report), render_json(report), render_html(report)):
        lowered = output.lower()
        assert not [name for name in NAMES if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", lowered)]


# --- the history file and the command ----------------------------------------------------------


def test_history_file_errors_name_the_record_and_key():
    with pytest.raises(HistoryError, match=r"h.json: incidents\[0\]: key 'opened' is required"):
        history_from_json('{"incidents": [{"kind": "incident"}]}', "h.json")
    with pytest.raises(HistoryError, match=r"action_items\[1\]: key 'due': 'soon' is not an ISO 8601 date"):
        history_from_json(
            '{"action_items": [{"created": "2026-01-01"}, {"created": "2026-01-01", "due": "soon"}]}'
        )
    with pytest.raises(HistoryError, match=r"key 'commenters': a count"):
        history_from_json(
            '{"incidents": [{"kind": "incident", "opened": "2026-01-01", "commenters": "alice"}]}'
        )
    with pytest.raises(HistoryError, match=r"unknown key 'who'"):
        history_from_json('{"incidents": [{"kind": "incident", "opened": "2026-01-01", "who": "alice"}]}')


def test_the_readme_command_runs_on_the_bundled_examples(tmp_path, capsys):
    out = tmp_path / "report.json"
    code = main(
        [
            "report",
            str(ROOT / "examples/postmortems"),
            "--history",
            str(ROOT / "examples/history.json"),
            "--until",
            "2026-06-30",
            "--format",
            "json",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    data = json.loads(out.read_text("utf-8"))
    assert data["months"] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert data["documents"] == 3
    reporting = next(s for s in data["sections"] if s["key"] == "reporting")
    assert reporting["totals"]["incidents"] + reporting["totals"]["near_misses"] == 38


def test_a_broken_history_file_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "h.json"
    bad.write_text('{"incidents": 3}', "utf-8")
    assert main(["report", str(tmp_path), "--history", str(bad)]) == 2
    assert "h.json: key 'incidents': a list expected" in capsys.readouterr().err


def test_repo_and_path_together_are_refused(capsys):
    assert main(["report", ".", "--repo", "octo/app"]) == 2
    assert "not both" in capsys.readouterr().err


def test_the_github_source_is_found_through_its_entry_point():
    declared = EntryPoint("github", "app.jobs.culture_report:report_history", SOURCE_GROUP)
    from app.jobs.culture_report import report_history

    assert resolve_source("github", [declared]) is report_history
    with pytest.raises(SourceError, match="no report source 'github' is installed"):
        resolve_source("github", [])
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert '[project.entry-points."blameless.report_sources"]' in pyproject
    assert 'github = "app.jobs.culture_report:report_history"' in pyproject


def test_every_section_links_to_a_readme_heading():
    report = build_report(History(documents=documents()), TODAY)
    full = build_report(history(), TODAY)
    readme = (ROOT / "README.md").read_text("utf-8")
    anchors = {
        re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in readme.splitlines()
        if line.startswith("#")
    }
    for section in [*full.sections, *report.sections]:
        assert section.anchor in anchors, section.anchor


def test_the_markdown_draws_mermaid_charts_with_the_same_numbers():
    markdown = render_markdown(build_report(history(), TODAY))
    charts = re.findall(r"```mermaid\n(.*?)```", markdown, re.S)
    reporting = next(c for c in charts if '"Incidents and near misses reported"' in c)
    assert 'x-axis ["26-01", "26-02", "26-03", "26-04"]' in reporting
    assert "bar [1, 1, 0, 1]" in reporting and "line [1, 0, 2, 0]" in reporting
    speed = next(c for c in charts if '"From incident to merged postmortem"' in c)
    assert 'x-axis ["26-01", "26-02", "26-03"]' in speed  # April has no postmortem yet: left out
    assert "line [10, 4, 3]" in speed
    assert "[Why this matters](https://github.com/" in markdown


def test_a_recurring_factor_reaches_the_markdown_neutralised():
    """The health issue is written by the bot: a factor copied from documents pings no one and
    closes nothing."""
    hostile = "@victim's cache, fixes #12 <!-- blameless-bot:postmortem-for repo=o/r issue=2 -->"
    text = f"## Contributing factors\n\n- {hostile}\n"
    docs = [DocumentRecord(f"docs/postmortems/{n}.md", text, None) for n in ("a", "b")]
    report = build_report(History(documents=docs), today=date(2026, 6, 30))
    markdown = render_markdown(report)
    assert "@victim" not in markdown
    assert "fixes #12" not in markdown
    assert "<!--" not in markdown
