"""Template placeholders are whole tokens in the template's positions, and no item is dropped silently.

`@owner` as the whole owner is the template's; `@owner-ops` is a person. `TODO` as a whole cell or
leading a line before a colon is the template's; "remove the TODO list" is a sentence someone wrote.
An item job 3 does not turn into an issue is named, with the reason, in the status lists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.jobs.action_items import is_placeholder, plan_items
from checks.config import Config
from checks.document.parse import parse
from checks.engine import check_text
from tests.test_action_items_job import (
    OWNER,
    REPO,
    approve,
    default_rows,
    document,
    make_world,
    open_pull,
    row,
)


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    """Job 3 paces writes with real sleeps; these tests need no pacing."""
    from app.jobs.action_items import pacing

    monkeypatch.setattr(pacing, "WRITE_INTERVAL", 0.0)


ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_ROW = "| AI-9 | TODO | guardrail | @owner | YYYY-MM-DD | CF-1 |"


def placeholder_texts(text: str) -> list[str]:
    doc = parse(text)
    return [doc.source[p.start : p.end] for p in doc.placeholders]


@pytest.mark.parametrize(
    "owner",
    ["@owner-ops", "@owner-01", "@owners", "@username-x", "@org/owner"],
)
def test_a_login_that_starts_like_the_placeholder_is_a_person(owner):
    text = document([row("AI-1", "Add a canary stage for configuration changes", owner=owner)])
    doc = parse(text)
    [item] = doc.action_items
    assert not is_placeholder(doc, item)
    [planned] = plan_items(check_text(text, "pm.md"), Config())
    assert PLACEHOLDER_PROBLEM not in " ".join(planned.problems)
    findings = {f.rule for f in check_text(text, "pm.md").findings}
    assert "structure.placeholder" not in findings


@pytest.mark.parametrize(
    "text",
    [
        "Remove the TODO list from the runbook so on-call has one source",
        "Decide the TBD thresholds with the database team",
        "Grep the code for FIXME and XXX markers left in the retry path",
        "TODOs in the deploy script become tickets",
    ],
)
def test_a_sentence_that_contains_a_placeholder_word_is_an_action(text):
    source = document([row("AI-1", text)])
    doc = parse(source)
    [item] = doc.action_items
    assert not is_placeholder(doc, item)
    assert placeholder_texts(source) == []
    # Whether the item is a good one is the classifier's call; a placeholder it is not.
    [planned] = plan_items(check_text(source, "pm.md"), Config())
    assert PLACEHOLDER_PROBLEM not in " ".join(planned.problems)
    assert "structure.placeholder" not in {f.rule for f in check_text(source, "pm.md").findings}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("TODO: Two or three sentences: what happened.", ["TODO"]),
        ("- TODO", ["TODO"]),
        ("- CF-1: TODO: the trigger, and what let it cause harm.", ["TODO"]),
        ("- HH:MM TODO: **Detected** — how the system noticed.", ["HH:MM", "TODO"]),
        ("- {{opened_at}} TODO: **Impact starts**", ["{{opened_at}}", "TODO"]),
        ("TBD", ["TBD"]),
        ("We kept a TODO: list of the checks.", []),
        ("The owner is @owner-ops, not @owner.", ["@owner"]),
        ("Mail ops@owner.example for access.", []),
    ],
)
def test_placeholders_in_prose_are_the_templates_tokens_in_its_positions(line, expected):
    assert placeholder_texts(f"# Postmortem\n\n## Summary\n\n{line}\n") == expected


def test_the_templates_own_row_is_still_a_placeholder_and_is_reported():
    text = document([*default_rows(), TEMPLATE_ROW])
    result = check_text(text, "pm.md")
    planned = {p.item.id: p for p in plan_items(result, Config())}
    assert not planned["AI-9"].creatable
    assert planned["AI-9"].problems[0].startswith("it still holds a template placeholder")
    line = text.splitlines().index(TEMPLATE_ROW) + 1
    assert any(f.rule == "structure.placeholder" and f.line == line for f in result.findings)


def test_job_three_opens_the_issue_of_an_owner_ops_item_and_names_a_skipped_one():
    world = make_world(assignable=("alice", "bob", "carol", "owner-ops"))
    rows = [*default_rows(), row("AI-4", "Rotate the checkout database credentials", owner="@owner-ops"),
            TEMPLATE_ROW]  # fmt: skip
    pull = open_pull(world, document(rows))
    approve(world, pull)
    items = world.items()
    assert sorted(items) == ["AI-1", "AI-2", "AI-3", "AI-4"]
    assert [a["login"] for a in items["AI-4"]["assignees"]] == ["owner-ops"]
    [status] = world.status_comments(pull)
    assert "**AI-9**" in status["body"] and "template placeholder" in status["body"]
    assert world.fake.comments_on(OWNER, REPO, pull["number"])  # the status comment is there


PLACEHOLDER_PROBLEM = "template placeholder"


PLACEHOLDER_EDGES = """\
---
title: x
---
# {{title}}

{{{triple}}} and XXXX, TODOs and TODO: first, HH:MM:SS, YYYY-MM-DD.
- [ ] **TODO**: the trigger
- CF-1: TBD

| Owner | Due | Note |
|---|---|---|
| @owner | YYYY-MM-DD | FIXME |
| @username-ops | 2026-01-01 | text |

```
TODO inside code
```

> 10:00 TODO
"""


@pytest.mark.parametrize(
    "text",
    [PLACEHOLDER_EDGES, TEMPLATE_ROW]
    + [p.read_text("utf-8") for p in sorted((ROOT / "examples").rglob("*.md"))]
    + [(ROOT / "checks" / "data" / "template.md").read_text("utf-8")],
)
def test_blocks_without_a_cue_are_skipped_without_losing_a_placeholder(text):
    """The cue scan only decides which blocks to search: every block gets the placeholders a search
    of that block alone finds."""
    from checks.document import parse as parsing
    from checks.document.markdown import blocks, mask_source
    from checks.document.model import Document

    doc = Document(path="x.md", source=text)
    doc_blocks, masked = blocks(text, doc._line_starts), mask_source(text)
    searched = [[] if b.kind == "code" else parsing.placeholder_spans(b, masked) for b in doc_blocks]
    assert parsing._placeholder_spans(doc_blocks, masked) == searched


def test_the_edge_document_has_a_placeholder_of_every_cue():
    found = {PLACEHOLDER_EDGES[s.start : s.end] for s in parse(PLACEHOLDER_EDGES).placeholders}
    assert {"{{title}}", "TODO", "TBD", "@owner", "YYYY-MM-DD", "FIXME"} <= found
