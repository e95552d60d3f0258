"""The document model: sections, timeline entries and action items in the forms real postmortems use."""

from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.document.parse import parse
from checks.engine import check_text
from tests.engine_helpers import VALID

DATA = Path(__file__).parent / "data"


def test_sections_are_found_by_alias_and_keep_their_line():
    doc = parse("# T\n\n## 2. Root Causes:\n\ntext\n\n## Follow-ups\n\n- a\n")
    keys = [(s.key, doc.position(s.span.start)[0]) for s in doc.sections]
    assert keys == [(None, 1), ("contributing-factors", 3), ("action-items", 7)]


def test_pagerduty_style_plural_headings_are_their_sections():
    doc = parse("## Contributing Factor(s)\n\n- a\n\n## Action Item(s)\n\n- b\n")
    assert [s.key for s in doc.sections] == ["contributing-factors", "action-items"]


def test_lone_carriage_returns_are_line_breaks():
    doc = parse("# PM\r\r## Summary\r\rText.\r")
    assert [(s.key, doc.position(s.span.start)[0]) for s in doc.sections] == [(None, 1), ("summary", 3)]


def test_config_aliases_extend_the_builtin_ones():
    from checks.config import parse_config

    config = parse_config("sections:\n  aliases:\n    impact: [Blast radius]\n", "c.yml")
    doc = parse("## Blast radius\n\nMany users.\n", config=config)
    assert doc.sections[0].key == "impact"


def test_timeline_bullets_with_dates_zones_and_actors():
    doc = parse(
        "## Timeline\n\n- 2026-03-05 14:02 UTC — On-call engineer: acknowledged the page\n"
        "- 2:14 PM PST Rollback started\n"
    )
    first, second = doc.timeline
    assert first.when == datetime(2026, 3, 5, 14, 2)
    assert (first.timezone, first.actor, first.text) == ("UTC", "On-call engineer", "acknowledged the page")
    assert doc.position(first.time_span.start) == (3, 3)
    assert second.when.time().hour == 14 and second.timezone == "PST"
    assert second.has_date is True  # the date carries over from the entry before


def test_google_sre_style_timeline_lines_in_one_paragraph():
    doc = parse((DATA / "sre-book-style.md").read_text())
    assert len(doc.timeline) == 11
    assert doc.timeline_timezone == "UTC"
    assert doc.timeline[0].when == datetime(2015, 10, 21, 14, 51)
    assert "start" in doc.timeline[2].milestones
    assert (
        doc.position(doc.timeline[-1].span.start)[0]
        == doc.source[: doc.timeline[-1].span.start].count("\n") + 1
    )


def test_timeline_table_with_actor_column():
    doc = parse("## Timeline (UTC)\n\n| Time | Actor | Event |\n|---|---|---|\n| 14:02 | SRE | Paged |\n")
    entry = doc.timeline[0]
    assert (entry.time_text, entry.actor, entry.text, entry.timezone) == ("14:02", "SRE", "Paged", "UTC")
    assert "detection" in entry.milestones


def test_action_items_from_a_table():
    doc = parse(VALID)
    (item,) = doc.action_items
    assert (item.id, item.explicit_id, item.type, item.owners, item.due) == (
        "AI-1",
        True,
        "guardrail",
        ["octo-lead"],
        date(2026, 5, 1),
    )
    assert item.text == "Add a canary stage to the deploy pipeline"
    assert doc.source[item.text_span.start : item.text_span.end] == item.text


def test_action_items_from_bullets_with_inline_fields():
    doc = parse(
        "## Action items\n\n"
        "- AI-7: Block deploys without a canary — "
        "type: guardrail, owner: @ana, due: 2026-01-02, addresses: CF-2\n"
        "- [constraint] Cap retries at 3 (@bob, due 2026-02-01) #45\n"
    )
    first, second = doc.action_items
    assert (first.id, first.text, first.type, first.owners, first.addresses) == (
        "AI-7",
        "Block deploys without a canary",
        "guardrail",
        ["ana"],
        "CF-2",
    )
    assert (second.type, second.owners, second.due, second.issue) == (
        "constraint",
        ["bob"],
        date(2026, 2, 1),
        "#45",
    )
    assert second.id.startswith("ai-") and not second.explicit_id


def test_derived_ids_are_stable_across_whitespace_and_case():
    a = parse("## Action items\n\n- Add  a canary stage (@a)\n").action_items[0]
    b = parse("## Action items\n\n- add a Canary stage (@a)\n").action_items[0]
    assert a.id == b.id


def test_contributing_factors_from_list_items_and_subheadings():
    doc = parse("## Contributing factors\n\n### CF-1: Retries\n\ntext\n\n### CF-2: Pool size\n")
    assert [f.id for f in doc.factors] == ["CF-1", "CF-2"]
    doc = parse("## Causes\n\n1. Retries were aggressive\n2. No pool limit\n")
    assert [f.text for f in doc.factors] == ["Retries were aggressive", "No pool limit"]


def test_front_matter_is_metadata_and_keeps_line_numbers():
    doc = parse("---\nseverity: sev1\ndate: 2026-01-02\n---\n\n## Summary\n\nText.\n")
    assert doc.metadata == {"severity": "sev1", "date": date(2026, 1, 2)}
    assert doc.position(doc.sections[0].span.start) == (6, 1)


def test_broken_front_matter_becomes_a_finding():
    result = check_text("---\nkey: [unclosed\n---\n\n" + VALID, "pm.md")
    (finding,) = [f for f in result.findings if f.rule == "structure.front-matter"]
    assert "front matter" in finding.message and finding.line >= 2


@pytest.mark.parametrize(
    "nested",
    [
        "x: " + "[" * 2000 + "]" * 2000,  # flow lists
        "x: " + "{a: " * 2000 + "1" + "}" * 2000,  # flow mappings
        "".join("  " * i + f"k{i}:\n" for i in range(2000)),  # block mappings
        "k:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(2000)),  # lists of mappings
    ],
    ids=["flow-lists", "flow-mappings", "block-mappings", "block-lists"],
)
def test_front_matter_nested_thousands_deep_is_a_finding_not_a_crash(nested):
    result = check_text(f"---\n{nested}\n---\n\n" + VALID, "pm.md")
    (finding,) = [f for f in result.findings if f.rule == "structure.front-matter"]
    assert "nested more than 50 levels deep" in finding.message and finding.line >= 2


def test_an_impossible_date_in_front_matter_is_a_finding_not_a_crash():
    result = check_text("---\ndate: 2026-02-30\n---\n\n" + VALID, "pm.md")
    (finding,) = [f for f in result.findings if f.rule == "structure.front-matter"]
    assert finding.message == (
        "front matter is not valid YAML: a value cannot be read (day is out of range for month)"
    )


def test_masked_prose_keeps_offsets_and_hides_code_links_and_comments():
    doc = parse("## Summary\n\nThe `careless` flag [docs](http://x/careless) <!-- careless --> works.\n")
    prose = doc.prose[-1]
    assert len(prose.text) == prose.span.end - prose.span.start
    assert "careless" not in prose.text
    assert prose.text.index("works") == doc.source[prose.span.start :].index("works")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x00",
        "---\n",
        "---\n---\n",
        "|",
        "| a |\n|---|\n| b | c | d |",
        "#" * 10000,
        "- " * 5000,
        "## Timeline\n\n- 99:99 x\n- 25:00 y",
        "## Action items\n\n| | |\n|-|-|\n| | |",
        "\r\n\r\n## Summary\r\n",
        "`" * 3000,
    ],
)
def test_strange_documents_never_raise(text):
    check_text(text, "strange.md")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#-|*_`[]()<>!:@ \n\tabcAI-12345UTC")), max_size=400))
def test_fuzzed_documents_never_raise_and_findings_are_in_bounds(text):
    result = check_text(text, "fuzz.md")
    lines = text.replace("\r\n", "\n").count("\n") + 1
    for finding in result.findings:
        assert 1 <= finding.line <= finding.end_line <= lines
        assert finding.column >= 1


def test_a_date_bullet_heads_its_nested_entries():
    doc = parse("## Timeline (UTC)\n\n- 2026-03-05\n  - 23:58 Impact starts\n- 2026-03-06\n  - 00:04 Paged\n")
    assert [(e.when, e.text) for e in doc.timeline] == [
        (datetime(2026, 3, 5, 23, 58), "Impact starts"),
        (datetime(2026, 3, 6, 0, 4), "Paged"),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "- [ ] Wrap `@retry` around the payment client call"
            " (type: guardrail, owner: @alice, due: 2026-04-01)",
            ("Wrap `@retry` around the payment client call", "guardrail", ["alice"], date(2026, 4, 1), None),
        ),
        (
            "- [ ] Add @dependabot config for the base images"
            " (type: guardrail, owner: @alice, due: 2026-04-01)",
            ("Add @dependabot config for the base images", "guardrail", ["alice"], date(2026, 4, 1), None),
        ),
        (
            "- [ ] Pin the ingress to v1.2 by 2026-04-01 (type: constraint) <!-- owner: @bob -->",
            ("Pin the ingress to v1.2", "constraint", [], date(2026, 4, 1), None),
        ),
        (
            "- [ ] Cap retries in the client SDK [constraint] @bob due 2026-04-15",
            ("Cap retries in the client SDK", "constraint", ["bob"], date(2026, 4, 15), None),
        ),
        (
            "- [ ] Add alert for replication lag > 30s, owner @alice, due 2026-04-01, type: guardrail",
            ("Add alert for replication lag > 30s", "guardrail", ["alice"], date(2026, 4, 1), None),
        ),
        (
            "1. Add rate limit to /login (#123) — owner @alice — guardrail — 2026-04-01",
            ("Add rate limit to /login", "guardrail", ["alice"], date(2026, 4, 1), "#123"),
        ),
        (
            "- [ ] Add a canary stage\n  - Owner: @alice\n  - Due: 2026-04-01\n  - Type: guardrail",
            ("Add a canary stage", "guardrail", ["alice"], date(2026, 4, 1), None),
        ),
    ],
)
def test_action_item_bullets_as_teams_write_them(line, expected):
    (item,) = parse(f"## Action items\n\n{line}\n").action_items
    assert (item.text, item.type, item.owners, item.due, item.issue) == expected


@pytest.mark.parametrize(
    ("timeline", "expected"),
    [
        (
            "- March 5 2026 14:05 UTC Alert fires\n",
            ("March 5 2026 14:05 UTC", datetime(2026, 3, 5, 14, 5), "Alert fires"),
        ),
        ("- `14:07` Rollback\n", ("14:07", datetime(1970, 1, 1, 14, 7), "Rollback")),
        ("- 2026-03-05 Errors begin at 14:02\n", ("", None, "2026-03-05 Errors begin at 14:02")),
    ],
)
def test_timestamps_in_the_forms_teams_write(timeline, expected):
    (entry,) = parse(f"## Timeline\n\n{timeline}").timeline
    assert (entry.time_text, entry.when, entry.text) == expected


def test_a_zone_named_in_words_is_the_timeline_zone():
    doc = parse("## Timeline\n\nTimes are in Pacific time.\n\n- 14:02 Errors begin\n")
    assert doc.timeline_timezone == "PT" and doc.timeline[0].timezone == "PT"


def test_a_time_inside_an_html_comment_is_not_an_entry():
    assert [e.text for e in parse("## Timeline\n\n<!-- 14:00 example -->\n- 14:02 Paged\n").timeline] == [
        "Paged"
    ]


FIELD_WORDS = [
    "Fix",
    "owner:",
    "Owner",
    "owned by",
    "@alice",
    "@org/team",
    "due",
    "due:",
    "by",
    "2026-01-02",
    "type:",
    "guardrail",
    "[constraint]",
    "**Guardrail**",
    "—",
    " - ",
    "(",
    ")",
    "|",
    ",",
    "#12",
    "issue:",
    "addresses",
    "CF-1",
    "AI-3:",
    "`code`",
    "https://x.io/a",
    "  ",
    "\t",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FIELD_WORDS), min_size=1, max_size=14))
def test_any_arrangement_of_item_fields_parses(words):
    """ "- Fix it, owner: type: @bob" once raised IndexError: labels in any order must parse."""
    item = " ".join(words)
    doc = parse(f"## Action items\n\n- {item}\n\n| Action | Owner |\n|---|---|\n| {item} | {item} |\n")
    assert all(isinstance(owner, str) for i in doc.action_items for owner in i.owners)


def test_an_owner_label_followed_by_another_field_names_no_owner():
    [item] = parse("## Action items\n\n- Fix the retries, owner: type: @bob\n").action_items
    assert item.text == "Fix the retries" and item.owners == []
    [item] = parse("## Action items\n\n- Cap retries, Owner: SRE team type: guardrail\n").action_items
    assert item.owners == ["SRE team"] and item.type == "guardrail"


def test_checking_leaves_the_garbage_collector_as_it_found_it():
    import gc

    from checks.engine import check_text

    assert gc.isenabled()
    check_text("# Postmortem\n\n## Summary\n\nA text.\n")
    assert gc.isenabled()  # paused for the check, resumed after
    gc.disable()
    try:
        check_text("# Postmortem\n")
        assert not gc.isenabled()  # a caller's own pause is kept
    finally:
        gc.enable()


def _cells_char_by_char(text: str) -> list[tuple[int, int]]:
    """Table cells as first split, one character at a time (the reference for the regex scan)."""
    bounds, start, in_code, index = [], 0, False, 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "`":
            in_code = not in_code
        elif char == "|" and not in_code:
            bounds.append((start, index))
            start = index + 1
        index += 1
    bounds.append((start, len(text)))
    cells = []
    for a, b in bounds:
        while a < b and text[a] in " \t":
            a += 1
        while b > a and text[b - 1] in " \t":
            b -= 1
        cells.append((a, b))
    if cells and text.lstrip().startswith("|"):
        cells = cells[1:]
    if cells and text.rstrip().endswith("|") and cells[-1][0] == cells[-1][1]:
        cells = cells[:-1]
    return cells


def test_table_cells_split_as_the_character_walk_splits_them():
    import random

    from checks.document.markdown import _table_cells
    from checks.document.model import Span

    rng = random.Random(7)
    rows = ["| a | b |", "a \\| b | `c | d` | e", "|x\\\\|y|", "| `a` | \\`b | c` |", ""]
    rows += ["".join(rng.choice("ab |\\`\t-") for _ in range(rng.randint(0, 24))) for _ in range(3000)]
    for row in rows:
        cells = [(c.span.start, c.span.end) for c in _table_cells(row, Span(0, len(row)))]
        assert cells == _cells_char_by_char(row), row
        # A row further into the document: the same cells, as offsets into the document.
        placed = [
            (c.span.start - 4, c.span.end - 4)
            for c in _table_cells("| |\n" + row + " |", Span(4, 4 + len(row)))
        ]
        assert placed == cells, row


MIXED_LINE_ENDS = (
    "# PM\r\n\r\n## Summary\r\rText with a NUL \x00 and *emphasis*.\r\n\r\n"
    "| Time | Event |\r\n|---|---|\r\n| 10:00 | paged \x00 |\r\n\r\n"
    "- item\r  - nested\r\n\r\n```\r\ncode\r\n```\r\n"
    # one block of each kind of the CommonMark rules: a disabled rule changes the blocks
    "***\r\nSetext\r\n===\r\n\r\n[ref]: https://example.com\r\n\r\n> - a quoted item\r\n\r\n"
    "<div>\r\nhtml\r\n</div>\r\n\r\n    indented code\r\n"
)


@pytest.mark.parametrize(
    "path",
    [
        *sorted((Path(__file__).parent.parent / "examples").rglob("*.md")),
        *sorted(DATA.glob("*.md")),
        Path(__file__).parent.parent / "checks" / "data" / "template.md",
        None,
    ],
)
def test_the_trimmed_markdown_parser_builds_the_document_the_full_one_builds(path, monkeypatch):
    """Block parsing runs only the rules the document model reads; with every CommonMark rule on
    (inline pass, normalisation) the document comes out the same."""
    from markdown_it import MarkdownIt

    from checks.document import markdown

    text = MIXED_LINE_ENDS if path is None else path.read_text("utf-8")
    trimmed = parse(text)
    monkeypatch.setattr(markdown, "_PARSER", MarkdownIt("commonmark").enable("table"))
    assert parse(text) == trimmed


class _CountingList(list):
    """A list that counts the elements its slices copy."""

    copied = 0

    def __getitem__(self, index):
        found = super().__getitem__(index)
        if isinstance(index, slice):
            _CountingList.copied += len(found)
        return found


def test_finding_nested_items_copies_only_the_nested_items():
    # A section of 2,000 one-line items: looking up each item's nested items must not copy the
    # rest of the section (that made a 10 MB document's action items quadratic).
    from checks.document.items import _nested_items
    from checks.document.markdown import Block
    from checks.document.model import Span

    def item(level: int) -> Block:
        return Block(kind="list_item", lines=(0, 1), span=Span(0, 1), level=level)

    blocks = _CountingList(item(1 if n % 4 == 0 else 2) for n in range(2000))
    _CountingList.copied = 0
    nested = [_nested_items(blocks, n) for n in range(len(blocks)) if blocks[n].level == 1]
    assert [len(children) for children in nested] == [3] * 500
    assert _CountingList.copied == 1500
