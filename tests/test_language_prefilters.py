"""The language checks' prefilters never skip what the full test would find.

`Text.may_hold` lets a check skip a prose run whose lowered text lacks all of its trigger words,
and `People.may_name` lets the name checks skip words that cannot be a name or a handle. Both are
shortcuts in front of the real tests: each case here runs the real test on every token and
asserts the shortcut would not have skipped it, on the bundled postmortems, the corpus sentences
and text built to be awkward (handles, possessives, non-ASCII case changes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from checks.config import Config, parse_config
from checks.document.model import Prose, Span
from checks.document.parse import parse
from checks.rules import language

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import corpus  # noqa: E402

CONFIGS = {
    "default": Config(),
    "people": parse_config(
        "language:\n  people: [Tenzin, anika rao, sigrún, İlker, o'brien, '@raj']\n", "c.yml"
    ),
}
AWKWARD = [
    "The outage was caused by @raj and by @org/sre-core, then because of Tenzin's deploy.",
    "caused by anika rao; triggered by sigrún’s script; broken by İlker's change; by O'Brien",
    "Ping @org/tΑΣ'Α now: ΟΔΟΣ's migration, İstanbul’s failover, straße's typo, ǅemal's push",
    "caused by @ the deploy script, mail ops@example.com, x@y@z, trailing @",
    "BY TENZIN. Caused By Raj! the failover triggered by ilker dropped",
]


def proses() -> list[str]:
    texts = list(AWKWARD)
    for path in sorted((ROOT / "examples" / "postmortems").glob("*.md")):
        texts += [p.text for p in parse(str(path), path.read_text("utf-8")).prose]
    texts += [s.text for s in corpus.corpus_sentences({"train", "dev"})[::7]]
    return texts


TEXTS = proses()


def text_of(source: str) -> language.Text:
    return language.Text(Prose(Span(0, len(source)), source, "paragraph", None))


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_every_token_classified_as_a_name_or_handle_passes_may_name(config_name):
    analyzer = language.analyzer_for(CONFIGS[config_name])
    missed, named = [], 0
    for source in TEXTS:
        text = text_of(source)
        for index, token in enumerate(text.tokens):
            for determiner in (False, True):
                if analyzer._single(text, index, determiner=determiner) in ("handle", "named"):
                    named += 1
                    if not analyzer.people.may_name(token):
                        missed.append((source, token.text))
    assert named > 100  # the cases do hold names and handles
    assert missed == []


def test_a_run_holding_a_trigger_word_in_any_word_or_mark_passes_may_hold():
    data = language.compiled()
    fragment_sets = [(language.POSSESSIVE_ENDING,), data.agent_cue_ends]
    missed, held = [], 0
    for source in TEXTS:
        text = text_of(source)
        for fragments in fragment_sets:
            if any(f in t.norm for t in text.tokens if t.kind != "handle" for f in fragments):
                held += 1
                if not text.may_hold(fragments):
                    missed.append((source, sorted(fragments)[:3]))
    assert held > 100
    assert missed == []


def test_no_trigger_word_holds_a_letter_whose_lower_case_depends_on_its_neighbours():
    # may_hold reads the run's lowered text, and a handle's norm is lowered on its own. The two
    # agree except where lower-casing looks at the neighbours: Greek capital sigma becomes final
    # "ς" at the end of a word and "σ" inside one ("@org/tΑΣ" alone ends in "ς").
    assert "@org/tΑΣ".lower()[-1] != "ping @org/tΑΣ'Α now".lower()[len("ping @org/tΑΣ") - 1]
    for fragment in [language.POSSESSIVE_ENDING, *language.compiled().agent_cue_ends]:
        assert not set(fragment) & {"σ", "ς"}, fragment
