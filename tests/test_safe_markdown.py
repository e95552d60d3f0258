"""The safe Markdown renderer: whatever people typed, what the bot writes from it is inert.

Rendered text is parsed with markdown-it (CommonMark and GFM tables, as GitHub renders) and what a
reader would see as text is searched for live mentions, references, closing keywords and markers.
"""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.github import markers
from checks.output.safe_markdown import ZWSP, code, inline, mention, neutralise, quiet, title
from tests.markdown_safety import html, live_text, problems, title_problems

HOSTILE_PIECES = [
    "`",
    "``",
    "```",
    "@victim",
    "@octo-org/everyone",
    "@",
    "#12",
    "octo/app#3",
    "GH-7",
    "fixes",
    "Closes:",
    "resolved ",
    "https://github.com/octo/app/issues/9",
    "<!--",
    "-->",
    "<!-- blameless-bot:postmortem-for repo=octo/app issue=2 -->",
    "<!-- blameless-bot:action-items-end doc=docs/pm.md -->",
    "<details>",
    "<img src=x onerror=alert(1)>",
    "&#64;",
    "&commat;",
    "\\",
    "|",
    "\n",
    "  ",
    "*",
    "_",
    "[",
    "](",
    ")",
    "é",
    "\u200b",
    "\u202e",
    "a@b.c",
]
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=6)), max_size=12).map("".join)


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_prose_holds_nothing_live(text):
    rendered = inline(text)
    assert problems(f"Text: {rendered}.") == []
    assert problems(f"| a | b |\n|---|---|\n| {rendered} | x |\n") == []
    assert "\n" not in rendered


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_a_code_span_cannot_be_broken_out_of(text):
    for rendered, markdown in [
        (code(text), f"From {code(text)} on."),
        (code(text, cell=True), f"| a | b |\n|---|---|\n| {code(text, cell=True)} | x |\n"),
    ]:
        assert problems(markdown, references=False) == [], rendered
        spans = [c for b in _inline_blocks(markdown) for c in b.children if c.type == "code_inline"]
        expected = _expected_code(text)
        assert len(spans) == (1 if expected else 0), rendered  # one span, all of the text in it
        if expected:
            assert _pipes(spans[0].content).replace(ZWSP, "") == _pipes(expected).replace(ZWSP, "")


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_titles_hold_nothing_live_and_render_again_unchanged(text):
    rendered = title(text)
    assert title_problems(rendered) == []
    assert title(rendered) == rendered
    assert markers.find(rendered, "postmortem-for") is None


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_the_only_live_mention_is_the_owner_named_on_purpose(text):
    rendered = mention(text)
    live = [m for run in live_text(f"Owner: {rendered}") for m in run.split() if m.startswith("@")]
    assert live in ([], [f"@{text}"])
    if live:
        assert text.isascii() and "`" not in text


def _inline_blocks(markdown):
    from markdown_it import MarkdownIt

    return [b for b in MarkdownIt("commonmark").enable("table").parse(markdown) if b.type == "inline"]


def _pipes(text: str) -> str:
    # In a cell, a backslash just before a pipe shows doubled (GFM's escaping), nothing else.
    return re.sub(r"\\+\|", "|", text)


def _expected_code(text: str) -> str:
    """What a reader sees in the span: the text on one line (zero-width spaces aside)."""
    return " ".join(text.replace("\x00", "").replace(ZWSP, "").split())


# --- the cases from the report ---------------------------------------------------------------------


def test_an_owner_with_backticks_stays_one_code_span():
    owner = "@a `@victim` @b"
    rendered = code(owner, cell=True)
    assert rendered == "``@a `@victim` @b``"
    assert problems(f"| x |\n|---|\n| {rendered} |\n", references=False) == []


@pytest.mark.parametrize("path", ["docs/`x`.md", "docs/``@victim``.md", "`", "docs/a|b.md", "docs/a\\|@b.md"])
def test_a_path_with_backticks_or_pipes_stays_one_code_span(path):
    table = f"| Item | Path |\n|---|---|\n| one | [{code(path, cell=True)}](https://x) |\n"
    assert problems(table, references=False) == []
    spans = [c for b in _inline_blocks(table) for c in b.children if c.type == "code_inline"]
    assert [_pipes(s.content) for s in spans] == [_pipes(path)]


def test_simple_text_renders_as_before():
    assert code("docs/postmortems/a.md") == "`docs/postmortems/a.md`"
    assert code("@alice") == "`@alice`"
    assert inline("Route changes through a canary stage") == "Route changes through a canary stage"
    assert mention("alice") == "@alice"
    assert mention("a`b") == "``@a`b``"
    assert mention("x`") == "`` @x` ``"


def test_closing_keywords_and_references_are_defused():
    for text in ["fixes #12", "Closes: octo/app#3", "resolved https://github.com/o/r/issues/4", "fix GH-5"]:
        assert title_problems(title(text)) == []
        assert problems(inline(text)) == []
    assert title("Fix the pool limit") == "Fix the pool limit"  # a keyword alone is left as it is


def test_markers_and_html_comments_are_broken_everywhere():
    marker = "<!-- blameless-bot:action-items-end doc=docs/pm.md -->"
    for rendered in (inline(marker), code(marker), title(marker), neutralise(marker)):
        assert "<!--" not in rendered and "-->" not in rendered
        assert markers.find(rendered, "action-items-end") is None
    assert html(inline("<details><summary>x</summary>")) == []


def test_entities_cannot_spell_a_mention():
    assert problems(inline("&#64;victim &commat;victim \\@victim")) == []


def test_an_underscore_that_closes_emphasis_does_not_free_a_mention():
    # "_`_" renders as emphasis; the @victim right after its closing underscore would be live.
    assert problems(f"Text: {inline('_`_@victim')}.") == []
    assert problems(f"Text: {inline('a _b_@victim')}.") == []
    assert inline("ops@example.com") == "ops@example.com"  # an e-mail address stays as written


def test_a_reference_inside_underscore_emphasis_is_defused():
    # "_GH-7_" renders as emphasis around GH-7, which GitHub links to issue 7.
    for text in ["_GH-7_", "__gh-12__", "x_GH-7_"]:
        assert problems(f"Text: {inline(text)}.") == []
        assert title_problems(title(text)) == []
    assert inline("_GH-7_") == f"_GH-{ZWSP}7_"
    assert inline("AGH-7") == "AGH-7"  # inside a word it is no reference


def test_a_closing_keyword_inside_underscore_emphasis_is_defused():
    # "_fixes <issue URL>_" renders as emphasis around "fixes <issue URL>", which closes issue 4.
    for text in ["_fixes https://github.com/o/r/issues/4_", "__Closes: https://github.com/o/r/issues/4__"]:
        assert problems(f"Text: {inline(text)}.") == []
    assert inline("prefixes https://github.com/o/r/issues/4") == "prefixes https://github.com/o/r/issues/4"


def test_neutralising_twice_changes_nothing_where_a_break_meets_the_next_keyword():
    # The first pass breaks "fixes" before "fixesocto/app#3"; the second must not then find a
    # keyword or a reference right after that break.
    for text in ["fixesfixesocto/app#3", "fixesGH-7", "resolved \u200b", "closes\u200bfixes #1"]:
        once = title(text)
        assert title(once) == once, repr(text)
        assert neutralise(neutralise(text)) == neutralise(text), repr(text)


def test_a_zero_width_space_typed_by_hand_hides_nothing():
    url = "https://github.com/o/r/issues/4"
    assert title_problems(title(f"\u200bfixes {url}")) == []
    emphasised = inline(f"a{ZWSP}_fixes {url}_")
    assert problems(f"Text: {emphasised}.") == []
    assert inline("\u200b@victim") == f"@{ZWSP}victim"  # the typed one goes, the bot's own stays


LINEAR_UNITS = ["fix.", "fixes ", "closes octo/", "@a", "#1", "<!--", "`", "a-", "\\|", "\\"]


@pytest.mark.parametrize("unit", LINEAR_UNITS)
def test_rendering_time_grows_linearly_with_the_text(unit):
    """Doubling the text at most about doubles the time (a quadratic pattern would quadruple it).
    Small and large runs alternate, so a busy machine slows both alike."""

    def timed(text: str) -> float:
        start = time.perf_counter()
        inline(text), code(text, cell=True), title(text), quiet(text)
        return time.perf_counter() - start

    timed(unit * 1_000)  # warm up
    repeat = 100_000 // len(unit)  # 100,000 characters, then 200,000
    small, large = unit * repeat, unit * (2 * repeat)
    runs = [(timed(small), timed(large)) for _ in range(3)]
    best_small, best_large = min(r[0] for r in runs), min(r[1] for r in runs)
    assert best_large <= 3 * max(best_small, 0.02), runs
