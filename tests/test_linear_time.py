"""Adversarial input: every pattern the engine runs must finish on long hostile strings.

The assertion is on the result (the engine returns), with inputs large enough that a pattern with
catastrophic backtracking would not finish within the test session; timing itself is left to bench/.
"""

import time

import pytest

from checks.document import items
from checks.document import parse as parse_module
from checks.document.markdown import blocks, mask_source
from checks.document.model import Document, Span
from checks.document.parse import parse
from checks.engine import check_text

N = 50_000
HOSTILE = [
    "a" * N,
    " " * N + "!",
    "@" + "a-" * N,
    "|" + " |" * (N // 2),
    "[" * N,
    "(" * N + "@",
    "-" * N,
    "`" * N,
    "<!--" * (N // 4),
    "14:" * (N // 3),
    "2026-" * (N // 5),
    "root " * (N // 5),
    "be more " * (N // 8),
    "owner: " * (N // 7),
    "{{" * (N // 2),
]


@pytest.mark.parametrize("payload", HOSTILE, ids=lambda p: repr(p[:8]))
@pytest.mark.parametrize("where", ["Summary", "Timeline", "Action items", "Contributing factors"])
def test_hostile_text_in_every_section_returns(payload, where):
    text = f"## {where}\n\n- {payload}\n\n| a | b |\n|---|---|\n| {payload[:5000]} | x |\n"
    result = check_text(text, "hostile.md")
    assert result.document.source == text


# ---------------------------------------------------------------- growth with input size
#
# Each shape below once cost the square or the cube of its size. The check doubles the input and
# compares times: linear work takes about twice as long, quadratic four times, cubic eight. The
# small input is repeated until it lasts 30 ms and each size is timed five times (the best counts),
# so timer noise and a busy machine do not decide the ratio.


def _seconds(run, argument, repeat: int) -> float:
    started = time.process_time()  # CPU time: other processes on a busy machine do not count
    for _ in range(repeat):
        run(argument)
    return time.process_time() - started


LINEAR = 2.5  # doubling the input at most this many times the time: linear, with room for noise
ATTEMPTS = 3


def growth(run, make, size: int) -> float:
    """How many times longer `run(make(2 * size))` takes than `run(make(size))`: best of five
    timings of each, and the smallest ratio of up to ATTEMPTS such measurements. A busy machine only
    ever adds time (one measurement read 2.6 for a linear step), while a quadratic step stays near
    4 in every measurement; the next is taken only when the last read above LINEAR."""
    small, large = make(size), make(2 * size)
    repeat = 1
    while _seconds(run, small, repeat) < 0.03:
        repeat *= 2
    ratios = []
    for _ in range(ATTEMPTS):
        best_small = min(_seconds(run, small, repeat) for _ in range(5))
        best_large = min(_seconds(run, large, repeat) for _ in range(5))
        ratios.append(best_large / best_small)
        if ratios[-1] < LINEAR:
            break
    return min(ratios)


def _headings(count: int):
    source = "".join(f"## Heading {i}\n\nSome text {i}.\n\n" for i in range(count))
    doc = Document(path="x.md", source=source)
    return doc, blocks(source, doc._line_starts), mask_source(source)


def test_sections_grow_linearly_with_headings():
    def run(made):
        doc, doc_blocks, masked = made
        doc.sections = []
        placeholders = parse_module._placeholder_spans(doc_blocks, masked)
        parse_module._sections(doc, doc_blocks, masked, {}, placeholders)

    assert growth(run, _headings, 2_000) < LINEAR


def test_a_run_of_backticks_is_masked_in_linear_time():
    assert growth(mask_source, lambda n: "`" * n, 50_000) < LINEAR


@pytest.mark.parametrize(
    "item",
    [
        "Fix `{run}` x",  # masked code: the item's words end in a long run of spaces
        "Fix <https://example.com/{run}> by",
        "Fix {spaces}x",
        "Fix by{spaces}x",
        "Fix cf{spaces}x",
        "Fix {spaces}— {spaces}x",
    ],
)
def test_action_item_fields_are_read_in_linear_time(item):
    def make(n: int) -> str:
        return "## Action items\n\n- " + item.format(run="a" * n, spaces=" " * n) + "\n"

    assert growth(parse, make, 300) < LINEAR


@pytest.mark.parametrize(
    ("name", "before"), [("_FIELD_START", "x"), ("_TRAILER", "x"), ("_DUE", "x by"), ("_ADDRESSES", "x cf")]
)
def test_item_patterns_are_linear_on_whitespace_runs(name, before):
    assert growth(getattr(items, name).search, lambda n: before + " " * n + "y", 300) < LINEAR


def test_placeholder_lookups_do_not_rescan_every_placeholder():
    def make(count: int) -> Document:
        doc = Document(path="x.md", source="")
        doc.placeholders = [Span(10 * i, 10 * i + 4) for i in range(count)]
        return doc

    def run(doc: Document) -> None:
        for i in range(0, 10 * len(doc.placeholders), 10):
            doc.in_placeholder(Span(i + 5, i + 9))

    assert growth(run, make, 1_000) < LINEAR


class _CountedSpan(Span):
    """A Span that counts how often its offsets are read: work measured without a clock."""

    reads = 0

    def __getattribute__(self, name):
        if name in ("start", "end"):
            type(self).reads += 1
        return super().__getattribute__(name)


def _item_span_reads(count: int) -> int:
    from checks.config import Config
    from checks.rules import language

    rows = "".join(
        f"| AI-{i} | Be more careful with deploy {i} | guardrail | @a | 2026-05-01 |\n" for i in range(count)
    )
    doc = parse("## Action items\n\n| ID | Action | Type | Owner | Due |\n|---|---|---|---|---|\n" + rows)
    assert len(doc.action_items) == count
    for item in doc.action_items:
        item.text_span = _CountedSpan(item.text_span.start, item.text_span.end)
    _CountedSpan.reads = 0
    hits = [h.rule for h in language.check(doc, Config())]
    # Every item's vigilance hit was found inside its item (and left to action-items.reminder).
    assert "language.vigilance" not in hits
    return _CountedSpan.reads


def test_finding_the_action_item_of_each_hit_stays_linear():
    # Each vigilance hit asks which item holds it; a scan of every item per hit is quadratic.
    small, large = _item_span_reads(200), _item_span_reads(400)
    assert large <= 2.2 * small, (small, large)
