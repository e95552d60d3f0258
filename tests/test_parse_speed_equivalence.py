"""Parsing shortcuts give what the plain readings they replaced give, on varied and awkward text."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from checks.config import Config
from checks.document import items, markdown, timeline_entries
from checks.document import parse as parse_module
from checks.document.markdown import mask_source
from checks.document.model import Document
from checks.document.parse import parse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "postmortems").glob("*.md"))


def _sentences() -> list[str]:
    lines = (ROOT / "tests" / "data" / "corpus" / "sentences.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines]


# Characters that fold to an ASCII letter only when case is ignored, and some that look like they might.
AWKWARD = ["ſ", "K", "İ", "ı", "É", "Σ", "ß", "ﬁ", "—", "\u00a0", "\ud800", "𝐀", "Ⓐ"]
MILESTONE_ENTRIES = [
    "14:02 Outage BEGAN for EU users",
    "**START** of the incident",
    "alert triggered; paged on-call",
    "RoLLeD BaCk the deploy — errors dropped",
    "fully   restored, all clear",
    "Incident declared at 14:10",
    "ſtarted rolling back",  # "ſ" is "s" only ignoring case
    "DETECTED by a customer",
    "dıſabled the flag",
    "İNCIDENT CLOSED",
    "failover to us-east-2 — reverted",
    "throttKed nothing; staBilised",
    "nothing happened here",
    "",
]


def _varied_entries() -> list[str]:
    chance = random.Random(7)
    entries = list(MILESTONE_ENTRIES)
    for sentence in _sentences()[:3000]:
        entries.append(sentence)
        entries.append(sentence.upper())
        letters = list(sentence)
        for _ in range(3):
            letters.insert(chance.randrange(len(letters) + 1), chance.choice(AWKWARD))
        entries.append("".join(letters))
    for entry in MILESTONE_ENTRIES:
        for swap, folded in (("s", "ſ"), ("k", "K"), ("i", "ı"), ("I", "İ")):
            entries.append(entry.replace(swap, folded))
    return entries


def test_milestones_are_those_each_pattern_finds_ignoring_case():
    entries = _varied_entries()
    marked = 0
    for entry in entries:
        expected = frozenset(
            name for name, pattern in timeline_entries.MILESTONES.items() if pattern.search(entry)
        )
        assert timeline_entries._milestones(entry) == expected, entry
        marked += bool(expected)
    assert marked > len(entries) // 10  # the entries do exercise the patterns


# One entry for each alternative of each milestone pattern: each passes its milestone's cues.
EVERY_MILESTONE_WORDING = [
    *("outage begins", "incident began", "impact starts", "errors started", "start of the outage"),
    *("incident start", "first customer reports", "triggered", "**start**", "detected", "detection"),
    *("detects", "alerts fired", "alert triggered", "alerted", "paged", "pages sent", "pager", "noticed"),
    *("notices", "reported", "reports of", "acknowledged", "acknowledges", "escalated", "incident declared"),
    *("declared an incident", "mitigated", "rolled back", "rollback", "reverted", "failed over", "failover"),
    *("workaround", "drained", "scaled up", "throttled", "traffic shifted", "stabilised", "disabled"),
    *("resolved", "resolution", "resolves", "fully restored", "recovered", "recovery complete"),
    *("back to normal", "all clear", "outage ends", "incident closed", "service restored", "restored"),
    "closed the incident",
]


def test_every_wording_of_a_milestone_marks_it():
    for wording in EVERY_MILESTONE_WORDING:
        for entry in (wording, wording.upper(), f"14:02 — {wording.title()}, then more"):
            expected = {
                name for name, pattern in timeline_entries.MILESTONES.items() if pattern.search(entry)
            }
            assert expected, entry
            assert timeline_entries._milestones(entry) == expected, entry


def test_a_letter_that_folds_to_ascii_still_marks_its_milestone():
    assert timeline_entries._milestones("ſtarted rolling back") == {"mitigation"}
    assert timeline_entries._milestones("outage ſtarted") == {"start"}
    assert timeline_entries._milestones("İNCIDENT CLOSED") == {"resolution"}


def _masked_char_by_char(source: str) -> str:
    """mask_source as first written: a list of the characters, blanked in place."""
    chars = list(source)

    def blank(start: int, end: int) -> None:
        for index in range(start, end):
            if chars[index] != "\n":
                chars[index] = " "

    for _text, span in markdown.comments(source):
        blank(span.start, span.end)
    for span in markdown.code_spans(source):
        blank(span.start, span.end)
    for pattern in (markdown._AUTOLINK, markdown._BARE_URL, markdown._HTML_TAG):
        for match in pattern.finditer(source):
            blank(match.start(), match.end())
    for match in markdown._LINK_TARGET.finditer(source):
        blank(match.start() + 1, match.end())
    return "".join(chars)


OVERLAPPING = [
    "see <!-- `code --> and` [link](https://x.test/a `b`) <b>bold</b>",
    "`<!-- a` --> <https://x.test/<!--> https://y.test/`z` [t](u)[v](w)",
    "<!-- unclosed `x` https://x.test",
    "``a`b``c`` ``` `` <span a='1'>`</span>",
    "[a](<!--b-->) <!--\n`multi\nline`\n--> end\n\n",
    "",
]


@pytest.mark.parametrize("source", OVERLAPPING + [path.read_text("utf-8") for path in EXAMPLES])
def test_masking_blanks_what_a_character_by_character_mask_blanks(source):
    assert mask_source(source) == _masked_char_by_char(source)


def test_masking_shuffled_markup_matches_the_character_by_character_mask():
    chance = random.Random(11)
    pieces = [
        "`",
        "``",
        "<!--",
        "-->",
        "[a](b)",
        "<i>",
        "</i>",
        "https://x.test/p",
        "<http://y.test>",
        "\n",
        " w ",
    ]
    for _ in range(300):
        source = "".join(chance.choice(pieces) for _ in range(chance.randrange(40)))
        assert mask_source(source) == _masked_char_by_char(source), source


def test_times_are_read_with_only_comments_blanked():
    source = "a <!-- x\ny --> `14:07` <!-- z --> <!-- open"
    expected = re.sub(r"<!--.*?-->", lambda m: re.sub(r"[^\n]", " ", m.group(0)), source, flags=re.DOTALL)
    assert timeline_entries._without_comments(source) == expected


def _keys_by_rescan(doc_blocks, source: str, aliases: dict[str, str]) -> list[str | None]:
    """Section keys as first read: each heading's title normalised, the open headings rescanned."""
    stack: list[tuple[int, str | None]] = []
    keys: list[str | None] = []
    for block in doc_blocks:
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            title = markdown.heading_text(source[block.span.start : block.span.end].split("\n")[0])
            stack.append((block.level, aliases.get(parse_module.normalise_title(title))))
        keys.append(next((key for _, key in reversed(stack) if key), None))
    return keys


def _nested_headings(chance: random.Random) -> str:
    titles = [
        "Timeline",
        "Action items",
        "Notes",
        "Contributing factors (CFs)",
        "Impact",
        "Detail",
        "1. Summary",
    ]
    lines = []
    for _ in range(chance.randrange(1, 30)):
        lines.append("#" * chance.randint(1, 6) + " " + chance.choice(titles))
        lines.append(chance.choice(["", "- an item", "text", "| a | b |\n|---|---|\n| 1 | 2 |"]))
    return "---\ntitle: x\n---\n" * chance.randint(0, 1) + "\n\n".join(lines)


def test_section_keys_are_the_innermost_keyed_heading_as_a_rescan_finds_it():
    chance = random.Random(5)
    aliases = parse_module.alias_table(Config())
    sources = [path.read_text("utf-8") for path in EXAMPLES] + [_nested_headings(chance) for _ in range(300)]
    keyed = 0
    for source in sources:
        doc = parse(source)
        body = parse_module._front_matter(doc.source, Document(path="x.md", source=doc.source))
        doc_blocks = markdown.blocks(body, doc._line_starts)
        keys = parse_module._section_keys(doc_blocks, doc.sections)
        assert keys == _keys_by_rescan(doc_blocks, body, aliases)
        keyed += sum(key is not None for key in keys)
    assert keyed > 1_000  # the headings do name sections


ISSUE_TEXTS = [
    "see #12",
    "owner/repo#45 and more",
    "https://github.com/o/r/issues/7",
    "https://github.com/o/r/pull/8)",
    "https://x.test/ISSUES/7",
    "a&#39;s",
    "no reference at all",
    "##",
    "/pull/ but no number",
    "",
]


def test_issue_references_are_those_the_full_scan_finds():
    texts = ISSUE_TEXTS + _action_item_texts() + _sentences()[:2000]
    for text in texts:
        match = items._ISSUE.search(text)
        assert items._issue(text) == (match.group("issue") if match else None), text
    assert sum(items._issue(text) is not None for text in texts) >= 5


def _action_item_texts() -> list[str]:
    lines = (ROOT / "tests" / "data" / "corpus" / "action_items.jsonl").read_text("utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    return texts + [f"{text} [guardrail] type: constraint #{index}" for index, text in enumerate(texts[:200])]


def test_an_items_type_is_read_as_with_its_other_fields():
    for text in [*_action_item_texts(), "**Guardrail** add a check", "x — decision policy — y", "kind: Foo"]:
        fields = items._list_fields(text, 0, len(text))
        assert items._list_type(text, 0, len(text)) == (fields.type, fields.type_span)


MIXED = """# Title

Intro paragraph.

- item one

  its second paragraph
- item two
  1. nested ordered

after the list

| a | b |
|---|---|
| 1 | 2 |

| c |
|---|
| 3 |

```
code
```

<div>html</div>

    indented code
"""


def test_every_structure_the_blocks_depend_on_is_read():
    found = [
        (b.kind, b.level, b.header, b.table)
        for b in markdown.blocks(MIXED, Document("x.md", MIXED)._line_starts)
    ]
    assert found == [
        ("heading", 1, False, -1),
        ("paragraph", 0, False, -1),
        ("list_item", 1, False, -1),
        ("paragraph", 1, False, -1),  # a list item's later paragraph is its prose
        ("list_item", 1, False, -1),
        ("list_item", 2, False, -1),
        ("paragraph", 0, False, -1),
        ("table_row", 0, True, 0),
        ("table_row", 0, False, 0),
        ("table_row", 0, True, 1),
        ("table_row", 0, False, 1),
        ("code", 0, False, -1),
        ("html", 0, False, -1),
        ("code", 0, False, -1),
    ]


FRONT_MATTER_KEYS = [
    "date",
    "severity",
    "1",
    "yes",
    "null",
    "a-b",
    "_x",
    "k" * 101,
    "incident date",
    "-k",
    "<<",
    "on",
    "No",
    "~",
    "2026-03-14",
    "open",
]
FRONT_MATTER_SEPARATORS = [": ", ":", ":  ", " : ", ":\t", ": \t"]
FRONT_MATTER_VALUES = [
    *("2026-03-14", "2026-02-30", "2026-03-14 14:02:00", "2026-03-14T14:02:00Z", "14:02", "1:30", "0x1F"),
    *("0o17", "017", "1_000", ".inf", ".nan", "~", "null", "yes", "No", "on", "+1", "-1", "1e3", "3."),
    *("https://x.test/a#b", "https://x.test/issues/4", "a: b", "a:", "a #c", "a#b", "'q'", '"q"', "it's"),
    *("[a, b]", "{a: 1}", "&anchor x", "*alias", "!tag x", "|", ">", "% x", "@x", "`x`", "a  b", "é", "x "),
    *("(a)", "$x", "/p", "a\\b", "a::b", ":a", "?x", "- x", ",x", "sev2", "final", "", "a, b", "x:y:z"),
    # Words that begin as PyYAML's booleans and nulls do, in each case PyYAML tells apart.
    *("Yes", "YES", "yEs", "y", "n", "no", "NO", "nO", "true", "True", "TRUE", "tRUE", "false", "FALSE"),
    *("On", "ON", "oN", "off", "Off", "OFF", "o", "Null", "NULL", "nULL", "none", "None", "N", "Y", "t"),
    *("on-call", "offline", "triage", "Final", "~x", "=", "<<", "2026-3-14", "2026-03-14x", "20260314"),
    *("2026-13-01", "0000-01-01", "9999-12-31", "1.5", "-", "+", ".", ".x", "0", "00", "007", "x~"),
]
FRONT_MATTER_OTHER_LINES = ["", "  ", "# a comment", "  nested: 1", "- item", "---", "...", "\t", "key"]


def _front_matters(count: int) -> list[str]:
    chance = random.Random(13)
    texts = []
    for _ in range(count):
        lines = []
        for _ in range(chance.randrange(0, 7)):
            if chance.random() < 0.1:
                lines.append(chance.choice(FRONT_MATTER_OTHER_LINES))
                continue
            key, value = chance.choice(FRONT_MATTER_KEYS[:7]), chance.choice(FRONT_MATTER_VALUES)
            if chance.random() < 0.15:
                key = chance.choice(FRONT_MATTER_KEYS)
            separator = ": " if chance.random() < 0.8 else chance.choice(FRONT_MATTER_SEPARATORS)
            lines.append(
                key + separator + value + (" " * chance.randrange(3) if chance.random() < 0.2 else "")
            )
        texts.append("\n".join(lines))
    return texts


def _loaded(load, text: str) -> str:
    try:
        return repr(load(text))
    except yaml.YAMLError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_front_matter_is_loaded_as_the_full_safe_loader_loads_it():
    from checks import user_yaml
    from checks.document import front_matter

    texts = _front_matters(4000)
    for text in texts:
        assert _loaded(front_matter.load, text) == _loaded(user_yaml.safe_load, text), text
    flat = [text for text in texts if front_matter.flat_mapping(text, yaml.SafeLoader("")) is not None]
    assert len(flat) > 300  # the shortcut is taken…
    assert len(flat) < len(texts) - 1000  # …and refused


def test_front_matter_read_without_pyyaml_is_what_pyyaml_reads():
    """`flat_values` types the scalars PyYAML's resolver would type as strings, booleans, nulls
    and dates, and leaves every other front matter to PyYAML: the same values, keys included."""
    from checks.document import front_matter

    texts = _front_matters(4000)
    typed = [text for text in texts if front_matter.flat_values(text) is not None]
    for text in typed:
        values = front_matter.flat_values(text)
        expected = yaml.safe_load(text)
        assert values == expected, text
        assert [(type(k), type(v)) for k, v in values.items()] == [
            (type(k), type(v)) for k, v in expected.items()
        ], text
    assert len(typed) > 200
    kinds = {type(value) for text in typed for value in front_matter.flat_values(text).values()}
    assert kinds == {str, bool, type(None), date}


def test_the_scalars_typed_without_pyyaml_are_keyed_as_pyyaml_keys_its_resolvers():
    """A scalar whose first character keys none of PyYAML's implicit resolvers is a string; the
    ones typed here are keyed by the boolean and null resolvers only. A release of PyYAML with
    other resolvers fails here rather than reading front matter differently."""
    from checks.document import front_matter

    table = yaml.resolver.Resolver.yaml_implicit_resolvers
    assert None not in table  # no resolver asked of every scalar
    assert set(table) - {""} <= front_matter.RESOLVED_FIRST_CHARACTERS
    for first in "yYnNtTfFoO":
        tags = [tag for tag, _ in table[first]]
        assert set(tags) <= {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}, first


def test_usual_front_matter_is_read_without_importing_pyyaml():
    import subprocess
    import sys

    program = (
        "import sys\n"
        "from checks.document import front_matter\n"
        "from checks.document.parse import _FRONT_MATTER\n"
        "text = _FRONT_MATTER.match(open(sys.argv[1], encoding='utf-8').read()).group(1)\n"
        "print(front_matter.load(text), 'yaml' in sys.modules)\n"
    )
    example = ROOT / "examples" / "postmortems" / "2026-03-14-checkout-latency.md"
    done = subprocess.run(
        [sys.executable, "-c", program, str(example)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == (
        "{'incident': 'https://github.com/example/shop/issues/412', 'severity': 'sev2', "
        "'date': datetime.date(2026, 3, 14), 'status': 'final'} False"
    )


def test_flat_front_matter_nodes_are_those_pyyaml_composes():
    from checks.document import front_matter

    def shape(node):
        if isinstance(node, yaml.MappingNode):
            return (node.tag, [(shape(key), shape(value)) for key, value in node.value])
        return (node.tag, node.value)

    for text in _front_matters(4000):
        node = front_matter.flat_mapping(text, yaml.SafeLoader(""))
        if node is not None:
            assert shape(node) == shape(yaml.compose(text, Loader=yaml.SafeLoader)), text


def test_whole_text_patterns_find_what_their_plain_forms_find():
    """The masking patterns are written to begin with a literal; they match where "`+" and
    "\\bhttps?://…" match."""
    plain = {markdown._BACKTICKS: re.compile(r"`+"), markdown._BARE_URL: re.compile(r"\bhttps?://[^\s)>\]]+")}
    chance = random.Random(17)
    pieces = ["h", "http", "https", "://", "x", "_", "é", "9", " ", "\n", "`", "``", ")", "]", ">", "(", "-"]
    sources = [path.read_text("utf-8") for path in EXAMPLES] + [
        "",
        "h",
        "`",
        "xhttp://a",
        "_https://b",
        "-http://c",
    ]
    sources += ["".join(chance.choice(pieces) for _ in range(chance.randrange(30))) for _ in range(5000)]
    for written, straightforward in plain.items():
        found = 0
        for source in sources:
            spans = [match.span() for match in written.finditer(source)]
            assert spans == [match.span() for match in straightforward.finditer(source)], source
            found += len(spans)
        assert found > 100


def _split_at_depth_zero(pattern: str) -> list[str]:
    pieces, depth, current = [], 0, ""
    for char in pattern:
        depth += char == "("
        depth -= char == ")"
        if char == "|" and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += char
    return [*pieces, current]


def _top_level_alternatives(pattern: str) -> list[str]:
    """The alternatives of a milestone pattern; a piece that is one group `\\b(?:a|b|…)\\b` is
    opened into its own alternatives."""
    alternatives = []
    for piece in _split_at_depth_zero(pattern):
        inner = piece.removeprefix(r"\b(?:").removesuffix(r")\b")
        whole_group = inner != piece and _balanced_throughout(inner)
        alternatives.extend(_split_at_depth_zero(inner) if whole_group else [piece])
    return alternatives


def _balanced_throughout(inner: str) -> bool:
    """Whether `inner` never closes a group it did not open: `(?:inner)` is then one group."""
    depth = 0
    for char in inner:
        depth += char == "("
        depth -= char == ")"
        if depth < 0:
            return False
    return depth == 0


def test_every_alternative_of_every_milestone_pattern_holds_one_of_its_cues():
    """The cue scan may skip an entry only if no alternative can match without a cue: read off the
    patterns themselves, so a wording added to a pattern without its cue fails here."""
    for name, pattern in timeline_entries._MILESTONE_PATTERNS.items():
        alternatives = _top_level_alternatives(pattern)
        assert len(alternatives) > 3, name
        for alternative in alternatives:
            assert timeline_entries._MILESTONE_CUES[name].search(alternative), (name, alternative)


_PREFIX_OF_A_LINE = re.compile(
    r"^[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?)?"
)


def _prefixes_blanked_line_by_line(text: str) -> str:
    """`strip_line_prefix` as a match of each line of the text on its own."""
    lines = text.split("\n")
    return "\n".join(
        " " * len(m.group(0)) + line[len(m.group(0)) :]
        for line, m in ((line, _PREFIX_OF_A_LINE.match(line)) for line in lines)
    )


def test_line_prefixes_are_blanked_as_line_by_line():
    texts = [markdown.strip_line_prefix.__doc__ or ""]
    for path in EXAMPLES:
        texts += path.read_text("utf-8").split("\n\n")
    pieces = [
        "- ",
        "* ",
        "+ ",
        "1. ",
        "12) ",
        "١. ",
        "> ",
        ">> ",
        "  ",
        "\t",
        "[ ] ",
        "[x] ",
        "-",
        "1.",
        "a",
        "\n",
        "\n\n",
        " \n",
    ]
    randomness = random.Random(20261203)
    texts += [
        "".join(randomness.choice(pieces) for _ in range(randomness.randint(0, 12))) for _ in range(5000)
    ]
    for text in texts:
        assert markdown.strip_line_prefix(text) == _prefixes_blanked_line_by_line(text), repr(text)
