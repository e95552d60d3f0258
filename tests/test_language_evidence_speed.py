"""Language model evidence: the features of a sentence stay exactly what they were before the
speed work, and the scores stay bitwise those of the plain loop.

The evidence pass and the scoring are tuned for speed; a feature that went missing, moved or changed
its place in the list would change the scores, the quoted evidence or the set's iteration order.
Each test compares with a copy of the code as it was before the tuning, on every bundled
postmortem, every sentence of the labelled corpus and random sentences made of the words the
features look for.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench import corpus
from checks.config import Config, parse_config
from checks.document.model import Prose, Span
from checks.document.parse import parse
from checks.rules import language
from checks.rules.language_model import model as trained
from checks.rules.language_model.evidence import (
    AGENT_REACH,
    CLAUSE_BREAK,
    CONTRACTED_MODALS,
    CUE_CLASSES,
    CULPRIT_VERBS,
    DETERMINERS,
    ERROR_TOLERANCE,
    FIRE_SUBJECT,
    HR_PAIRS,
    IMPERATIVE_STARTS,
    OMISSION_WORDS,
    QUOTE_MARKS,
    SKIPPED_CHECKS,
    TECHNICAL_HEADS,
    WORD_CLASSES,
    Lexicon,
    _agent_words,
    _combinations,
    _is_participle,
    _is_verb_form,
    _technical,
    agent_kind,
    sentence_features,
    worth_scoring,
)

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------------
# The evidence pass before the speed work, kept as the reference.


def reference_worth_scoring(text, analyzer, lexicon: Lexicon, first: int, last: int) -> bool:
    """Whether a sentence has any evidence at all: an agent, or a word of a blame class.

    Sentences without any score below every threshold in practice; skipping them keeps the model's
    cost to the sentences that matter."""
    tokens = text.tokens
    agent_words = _agent_words(analyzer)
    for index in range(first, last):
        token = tokens[index]
        if not token.is_word:
            continue
        if token.kind == "handle" or token.norm in agent_words or token.norm.endswith("n't"):
            return True
        if token.text[:1].isupper() and not lexicon.is_english(token.norm.removesuffix("'s")):
            return True  # a capitalised word that is not an English word: maybe a name
        if any(entry[0] in CUE_CLASSES for entry in lexicon.word(token.norm)[2]):
            return True
    return False


def reference_sentence_features(
    text, analyzer, lexicon: Lexicon, first: int, last: int, rules: frozenset[str] = frozenset()
) -> list[tuple[str, int]]:
    """Every feature of the sentence in tokens [first, last), each with the token index showing it."""
    tokens = text.tokens
    features: list[tuple[str, int]] = [(f"r:{rule}", first) for rule in sorted(rules)]
    words: list[int] = []
    infos = []
    breaks: list[int] = []  # clause number of each word
    clause = 0
    quoted: list[bool] = []
    inside = False
    for index in range(first, last):
        token = tokens[index]
        if not token.is_word:
            if token.text in CLAUSE_BREAK:
                clause += 1
            elif token.text in QUOTE_MARKS:
                inside = not inside if token.text == '"' else token.text in "“‘«"
            continue
        quoted.append(inside)
        words.append(index)
        norm = token.norm.removesuffix("'s") if token.is_possessive else token.norm
        infos.append(lexicon.word(norm))
        breaks.append(clause)
    lemmas = [info[0] for info in infos]
    if not words:
        return features
    if text.prose.in_timeline or text.prose.section == "timeline":
        features.append(("s:timeline", first))
    agent_words = _agent_words(analyzer)
    agents: list[tuple[int, str]] = []  # (word position, kind)
    predicates: list[tuple[int, str]] = []
    previous = ""
    for position, index in enumerate(words):
        token = tokens[index]
        lemma, word_feature, classes = infos[position]
        features.append((word_feature, index))
        if position:
            features.append((f"b:{previous} {lemma}", index))
        if token.norm.endswith("n't"):
            features.append(("c:neg", index))
        if lemma in ("take", "bring", "knock") and lemmas[position + 1 : position + 2] in (["down"], ["out"]):
            features.append(("c:outcome", index))  # "which took down checkout"
            predicates.append((position, "outcome"))
        if lemma in TECHNICAL_HEADS and _technical(lemmas, position):
            features.append(("c:technical", index))  # "page fault", "fault tolerance"
            classes = ()
        for name, class_feature, quoted_feature, predicate in classes:
            features.append((class_feature, index))
            if quoted[position]:
                features.append((quoted_feature, index))
            # "the merge", "a deploy": the noun names an event, not a person's act.
            if predicate and not (name == "harm" and previous in DETERMINERS):
                predicates.append((position, name))
        if (previous, lemma) in HR_PAIRS or (previous, token.norm) in HR_PAIRS:
            features.append(("c:hr", index))
            predicates.append((position, "hr"))
        if lemma == "fire" and previous in FIRE_SUBJECT:
            features.append(("c:hr-fire", index))  # "was fired", not "the alert fired"
            predicates.append((position, "hr"))
        ordinary = token.kind == "word" and token.norm not in agent_words and token.text.islower()
        kind = None if ordinary else agent_kind(text, analyzer, lexicon, index, previous in DETERMINERS)
        if kind is not None:
            agents.append((position, kind))
            features.append((f"a:{kind}", index))
            if token.is_possessive or (kind in ("pronoun",) and token.norm in ("his", "her", "your")):
                features.append((f"a:poss-{kind}", index))
            if previous == "by":
                features.append((f"a:by-{kind}", index))
                # "broken by Pema" blames; "written by Pema" credits: the participle says which.
                if position >= 2:
                    for name, *_ in infos[position - 2][2]:
                        features.append((f"by:{name}-{kind}", index))
        previous = lemma
    features.extend(_combinations(words, breaks, agents, predicates))
    for kind in {kind for _, kind in agents}:
        features.extend((f"co:{kind}&{name}", first) for name in sorted({name for _, name in predicates}))
        if not predicates:
            features.append((f"co:{kind}&nothing", first))
    framing = _reference_framing(text, words, lemmas, agents)
    features.extend(framing)
    kinds = {kind for _, kind in agents}
    for name, index in {name: index for name, index in framing}.items():
        features.extend((f"fa:{name}&{kind}", index) for kind in sorted(kinds))
    for position, kind in agents:
        if position + 1 < len(words) and _is_verb_form(tokens[words[position + 1]], lemmas[position + 1]):
            features.append((f"subj:{kind}", words[position]))
    features.extend(_reference_shape(text, first, last, words, lemmas, agents, breaks))
    return features


def _reference_shape(text, first, last, words, lemmas, agents, breaks) -> list[tuple[str, int]]:
    """The sentence's shape: an order, an omission with or without its owner, a culprit hunt."""
    tokens = text.tokens
    norms = [tokens[index].norm for index in words]
    found = []
    if norms[0] in IMPERATIVE_STARTS and agents[:1] != [(0, "i")]:
        found.append(("s:imperative", words[0]))  # "Please double-check …", "Don't merge …"
        found.append((f"s:imperative-{lemmas[0]}", words[0]))
    if "please" in norms:
        found.append(("s:please", words[norms.index("please")]))
    if any(tokens[i].text == "?" for i in range(first, last)):
        found.append(("s:question", first))
        if "who" in norms:
            who = norms.index("who")
            if any(n in CULPRIT_VERBS for n in norms[who + 1 : who + 3]):
                found.append(("f:who-did", words[who]))  # "Who merged this?"
    if any(tokens[i].text == "!" for i in range(first, last)):
        found.append(("s:exclaim", first))
    owners = [position for position, kind in agents if kind != "nobody"]
    for position, norm in enumerate(norms):
        if norm not in OMISSION_WORDS:
            continue
        if norm == "not" and (position == 0 or norms[position - 1] not in ("did", "do", "does")):
            continue
        owned = any(
            0 < position - owner <= AGENT_REACH and breaks[owner] == breaks[position] for owner in owners
        )
        found.append(("f:omission" if owned else "f:omission-unowned", words[position]))
        following = {*norms[position + 1 : position + 3], *lemmas[position + 1 : position + 3]}
        if norm == "without" and following & SKIPPED_CHECKS:
            found.append(("f:without-check", words[position]))
            if owned:
                found.append(("f:without-check-owned", words[position]))
    for position in range(len(norms) - 1):
        if norms[position] == "human" and norms[position + 1] in ("error", "errors", "mistake", "mistakes"):
            window = lemmas[max(0, position - 4) : position]
            if any(lemma in ERROR_TOLERANCE for lemma in window):
                found.append(("f:designed-for-error", words[position]))
    return found


def _reference_framing(text, words, lemmas, agents) -> list[tuple[str, int]]:
    """Counterfactuals in every order, "had X …", "if only", "ideally X would"."""
    found = []
    tokens = text.tokens
    agent_at = dict(agents)
    count = len(words)
    for position in range(count):
        norm = tokens[words[position]].norm
        index = words[position]
        counterfactual = norm in CONTRACTED_MODALS
        # The norm, not the lemma: the lemma of "would" is "will".
        if norm in WORD_CLASSES["modal"] or norm in ("shouldn't", "couldn't", "wouldn't"):
            window = [tokens[words[p]].norm for p in range(position + 1, min(count, position + 4))]
            if "have" in window or "'ve" in window:
                after = window.index("have") if "have" in window else window.index("'ve")
                nxt = position + 2 + after
                if nxt < count and _is_participle(tokens[words[nxt]].norm, lemmas[nxt]):
                    counterfactual = True
                else:
                    found.append(("f:cf-elided", index))  # "you really should have."
        if counterfactual:
            found.append(("f:counterfactual", index))
            found.append((f"f:cf-{norm}", index))
            owned = False
            for agent_position, kind in agents:
                if 0 < position - agent_position <= 4:
                    found.append((f"f:cf-agent-{kind}", words[agent_position]))
                    owned = True
            if not owned:
                found.append(("f:cf-thing", index))  # "the health check should have caught it"
            if any(
                tokens[words[p]].norm in ("not", "never") for p in range(position, min(count, position + 3))
            ):
                found.append(("f:cf-negated", index))
        if norm == "had" and (position == 0 or text.is_sentence_initial(index)) and position + 2 < count:
            # "Had the reviewer opened the diff …": inversion puts a subject after "had".
            window = range(position + 1, min(count, position + 5))
            if any(_is_participle(tokens[words[p]].norm, lemmas[p]) for p in window):
                found.append(("f:had-inversion", index))
                if any(p in agent_at for p in window):
                    found.append(("f:had-agent", index))
        if norm == "if" and position + 1 < count and tokens[words[position + 1]].norm == "only":
            found.append(("f:if-only", index))
        if norm == "ideally" and any(
            tokens[words[p]].norm in ("would", "should") for p in range(position, count)
        ):
            found.append(("f:ideally-would", index))
        if norm in ("hindsight", "retrospect"):
            found.append(("f:hindsight", index))
    if words and lemmas[0] in WORD_CLASSES["remedy"] and tokens[words[0]].norm == lemmas[0]:
        found.append(("f:imperative-remedy", words[0]))
    return found


def plain_margins(model: trained.Linear, names) -> list[float]:
    """Each class's bias, then each distinct feature's row added to it, one weight at a time, in
    the order the features first appear."""
    margins = list(model.bias)
    for name in dict.fromkeys(names):
        row = model.weights.get(name)
        if row:
            for column, weight in enumerate(row):
                margins[column] = margins[column] + weight
    return margins


def plain_scores(model: trained.Linear, names) -> dict[str, float]:
    margins = plain_margins(model, names)
    if model.multiclass:
        top = max(margins)
        exps = [math.exp(m - top) for m in margins]
        total = sum(exps)
        return {c: e / total for c, e in zip(model.classes, exps, strict=True)}
    scores = {}
    for name, margin in zip(model.classes, margins, strict=True):
        if margin >= 0:
            scores[name] = 1.0 / (1.0 + math.exp(-margin))
        else:
            scores[name] = math.exp(margin) / (1.0 + math.exp(margin))
    return scores


def plain_evidence(model: trained.Linear, features, label: str) -> list[tuple[float, str, int]]:
    column = model.classes.index(label)
    seen = {}
    for name, index in features:
        row = model.weights.get(name)
        if row is not None and row[column] > 0 and name not in seen:
            seen[name] = (row[column], name, index)
    return sorted(seen.values(), key=lambda item: -item[0])


# ---------------------------------------------------------------------------------------------
# The comparisons

CONFIGS = {
    "default": Config(),
    "people": parse_config("language:\n  people: [Tenzin, Anika Rao, sigrún, pema-d, '@raj']\n", "c.yml"),
}
RULES = frozenset({"language.person", "language.moral"})


def ranges(text: language.Text) -> list[tuple[int, int]]:
    """Every sentence of a prose run, and the run taken whole (as training takes it)."""
    found = list(language.sentence_ranges(text))
    return [*found, (0, len(text.tokens))] if len(found) > 1 else found


def assert_same_evidence(prose: Prose, config_name: str) -> int:
    analyzer = language.analyzer_for(CONFIGS[config_name])
    lexicon = trained.load().lexicon
    text = language.Text(prose)
    compared = 0
    for first, last in ranges(text) if text.tokens else []:
        context = (prose.text, config_name, first, last)
        expected = reference_worth_scoring(text, analyzer, lexicon, first, last)
        assert worth_scoring(text, analyzer, lexicon, first, last) == expected, context
        for rules in (frozenset(), RULES):
            expected = reference_sentence_features(text, analyzer, lexicon, first, last, rules)
            assert sentence_features(text, analyzer, lexicon, first, last, rules) == expected, context
        compared += 1
    return compared


def bundled_documents() -> list[str]:
    paths = sorted((ROOT / "examples").rglob("*.md")) + sorted((ROOT / "tests" / "data").glob("*.md"))
    return [path.read_text("utf-8") for path in paths]


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_every_bundled_sentence_has_the_same_evidence(config_name):
    compared = 0
    for source in bundled_documents():
        for prose in parse(source, "pm.md", CONFIGS[config_name]).prose:
            compared += assert_same_evidence(prose, config_name)
    assert compared > 100


def corpus_prose() -> list[Prose]:
    sentences = corpus.corpus_sentences(set(corpus.SPLITS))
    sentences += corpus.devset_sentences({"devset-train", "devset-test", "devset-test2"})
    return [corpus.sentence_document(sentence).prose[0] for sentence in sentences]


def test_every_corpus_sentence_has_the_same_evidence():
    proses = corpus_prose()
    assert len(proses) > 8000
    for number, prose in enumerate(proses):
        assert_same_evidence(prose, "people" if number % 2 else "default")
        timeline = Prose(prose.span, prose.text, "list_item", "timeline", True)
        assert_same_evidence(timeline, "default" if number % 2 else "people")


# Words the features look at, in the company of their neighbours: agents of every kind, blame
# words, the cues of pairs and framings, possessives of them, and the marks that split clauses
# and open quotes.
CUE_WORDS = sorted(
    set().union(*WORD_CLASSES.values())
    | {w for pair in HR_PAIRS for w in pair}
    | TECHNICAL_HEADS
    | CONTRACTED_MODALS
    | FIRE_SUBJECT
    | SKIPPED_CHECKS
    | OMISSION_WORDS
    | ERROR_TOLERANCE
    | CULPRIT_VERBS
    | IMPERATIVE_STARTS
    | DETERMINERS
)
AGENTS = (
    "I we you he she they them him his her our my me us whoever nobody Tenzin Alice Alice's "
    "Sigrún sigrún pema-d @raj @raj's @org/team @dependabot[bot] Anika Rao Kubernetes Postgres "
    "engineer engineer's developers team team's ops support SRE Ops pilot crew the a an this "
    "Monday Deployment Xqzzy Xqzzy's tenzin TENZIN"
)
ODD_WORDS = (
    "take took down knock knocked out bring brought page fault tolerance error human errors "
    "written up let go fire fired fire's job's up's accountable didn't didn't's wasn't don't it's "
    "had have 've should've would could should might if only ideally hindsight retrospect who "
    "merged without testing please by was were be consequence roll heads wrote"
)
MARKS = [*",;:()—–.!?", '"', "“", "”", "‘", "’", "«", "»", "'", "`", "-"]


def random_sentence(randomness: random.Random) -> str:
    pools = [CUE_WORDS, AGENTS.split(), ODD_WORDS.split(), MARKS]
    words = []
    for _ in range(randomness.randint(1, 26)):
        word = randomness.choice(randomness.choice(pools))
        words.append(word.capitalize() if randomness.random() < 0.1 else word)
    return " ".join(words)


def test_random_sentences_have_the_same_evidence():
    randomness = random.Random(20261202)
    sections = [None, "timeline", "root-cause", "impact"]
    for number in range(4000):
        text = random_sentence(randomness)
        section = randomness.choice(sections)
        prose = Prose(Span(0, len(text)), text, "paragraph", section, section == "timeline")
        assert_same_evidence(prose, "people" if number % 2 else "default")


def corpus_features() -> list[list[tuple[str, int]]]:
    analyzer = language.analyzer_for(Config())
    lexicon = trained.load().lexicon
    found = []
    for prose in corpus_prose()[::4]:
        text = language.Text(prose)
        if text.tokens:
            found.append(reference_sentence_features(text, analyzer, lexicon, 0, len(text.tokens), RULES))
    return found


def bitwise(scores: dict[str, float]) -> dict[str, str]:
    return {name: score.hex() for name, score in scores.items()}


@pytest.fixture(params=sorted({False, trained.SUM_ADDS_IN_ORDER}), ids=lambda s: "sum" if s else "reduce")
def addition(request, monkeypatch):
    """Both ways of adding up the columns, where this Python's `sum` adds in order."""
    monkeypatch.setattr(trained, "SUM_ADDS_IN_ORDER", request.param)


def test_sum_is_used_only_where_it_adds_in_order():
    if trained.SUM_ADDS_IN_ORDER:
        assert sum([1e16, 1.0, -1e16], 0.0) == 0.0  # a compensated sum gives 1.0


@pytest.mark.usefixtures("addition")
def test_shipped_model_scores_bitwise_as_the_plain_loop():
    model = trained.load().sentences
    for features in corpus_features():
        names = [name for name, _ in features]
        assert [m.hex() for m in model.margins(names)] == [m.hex() for m in plain_margins(model, names)]
        assert bitwise(model.scores(name for name in names)) == bitwise(plain_scores(model, names))
        for label in model.classes:
            assert model.evidence(features, label) == plain_evidence(model, features, label)


@pytest.mark.usefixtures("addition")
def test_scores_add_in_the_plain_loop_order_where_order_matters():
    """Weights where any other order of addition, or a compensated sum, gives another answer."""
    randomness = random.Random(7)
    magnitudes = [1e16, 3.0, 1.0, 0.01, 0.1, 1e-3, 2.5e15, 1e300]
    for _ in range(300):
        classes = ("a", "b", "c")
        names = [f"w:{n}" for n in range(randomness.randint(0, 12))]
        weights = {
            name: tuple(randomness.choice([-1, 1]) * randomness.choice(magnitudes) for _ in classes)
            for name in names
        }
        bias = tuple(randomness.choice([0.0, -0.0, 1.0, -1e16, 0.37]) for _ in classes)
        model = trained.Linear(classes, bias, weights, {}, {})
        features = [*names, "w:unknown", *names[:3]]
        assert [m.hex() for m in model.margins(features)] == [m.hex() for m in plain_margins(model, features)]
        assert bitwise(model.scores(iter(features))) == bitwise(plain_scores(model, features))
    shuffled = trained.Linear(("a",), (0.0,), {"x": (1e16,), "y": (1.0,), "z": (-1e16,)}, {}, {})
    assert shuffled.margins(["x", "y", "z"]) == plain_margins(shuffled, ["x", "y", "z"])


def test_scores_do_not_depend_on_the_processs_string_hash():
    """Features are added in the order they first appear, not a set's order, which follows
    PYTHONHASHSEED: in any other order these weights add up to another margin."""
    program = (
        "from checks.rules.language_model import model as m;"
        "lin = m.Linear(('a',), (0.0,), {'x': (1e16,), 'y': (1.0,), 'z': (-1e16,)}, {}, {});"
        "print(lin.margins(['x', 'y', 'z', 'y']), lin.margins(['x', 'z', 'y']))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in range(8)
    }
    assert outputs == {"[0.0] [1.0]"}


def test_the_lexicons_word_memories_stay_bounded_and_answer_the_same(monkeypatch):
    """A long-lived worker sees new words for ever: each memory is emptied when full, and a word
    looked up again after that gets the same answer."""
    from checks.rules.language_model import evidence

    monkeypatch.setattr(evidence, "WORD_MEMORY_LIMIT", 50)
    lexicon = Lexicon(trained.load().lexicon.lemmas)
    words = [f"zq{n}" for n in range(400)] + ["blamed", "careless", "didn't", "alice's"]
    tokens = [t for t in language.tokenize(" ".join(words)) if t.is_word]
    first = {t.norm: (lexicon.form(t), lexicon.is_cue(t.norm), lexicon.word(t.norm)) for t in tokens}
    assert max(len(lexicon._forms), len(lexicon._cues), len(lexicon._words)) <= 50
    again = {t.norm: (lexicon.form(t), lexicon.is_cue(t.norm), lexicon.word(t.norm)) for t in tokens}
    assert again == first
    assert first["blamed"][1] and not first["zq7"][1]


def test_item_class_memory_stays_bounded_and_answers_as_the_classes(monkeypatch):
    """An action item's word classes are remembered per (lemma, word): the answer is the classes
    in `ITEM_CLASSES` order that hold either, and the memory is emptied when full."""
    from checks.rules.language_model import evidence

    monkeypatch.setattr(evidence, "WORD_MEMORY_LIMIT", 50)
    monkeypatch.setattr(evidence, "_ITEM_CLASS_MEMORY", {})
    vocabulary = sorted({word for members in evidence.ITEM_CLASSES.values() for word in members})
    pairs = [(word, word) for word in vocabulary] + [("train", "training"), ("zq", "careful"), ("zq", "zq")]
    for _ in range(2):  # the second pass answers from a memory emptied and refilled on the way
        for lemma, word in pairs:
            expected = tuple(
                name for name, members in evidence.ITEM_CLASSES.items() if lemma in members or word in members
            )
            assert evidence._item_classes(lemma, word) == expected
            assert len(evidence._ITEM_CLASS_MEMORY) <= 50


# ---------------------------------------------------------------------------------------------
# Action items: the features of an item's text, as they were before the speed work.

_REFERENCE_ITEM_WORD = r"[a-z0-9][a-z0-9'’\-]*"


def reference_item_features(text: str, lexicon: Lexicon) -> list[str]:
    import itertools
    import re

    from checks.rules.language_model import evidence

    words = [w.replace("’", "'") for w in re.findall(_REFERENCE_ITEM_WORD, text.lower())]
    lemmas = [lexicon.lemma(w) for w in words]
    features = [f"w:{lemma}" for lemma in lemmas]
    features.extend(f"b:{a} {b}" for a, b in itertools.pairwise(lemmas))
    features.extend(
        f"p:{word[: evidence.ITEM_PREFIX]}" for word in words if len(word) > evidence.ITEM_PREFIX + 1
    )
    for position, (lemma, word) in enumerate(zip(lemmas, words, strict=True)):
        names = [
            name for name, members in evidence.ITEM_CLASSES.items() if lemma in members or word in members
        ]
        if (
            lemma in ("train", "training")
            and lemmas[position + 1 : position + 2]
            and lemmas[position + 1] in evidence._MACHINE_NOUNS
        ):
            names = [name for name in names if name not in ("teach", "people")]
        features.extend(f"c:{name}" for name in names)
    if lemmas:
        features.append(f"first:{lemmas[0]}")
        features.extend(
            f"first-c:{name}" for name, members in evidence.ITEM_CLASSES.items() if lemmas[0] in members
        )
    if len(words) <= 4:
        features.append("s:short")
    human = evidence.ITEM_CLASSES["human"]
    for (a, b), (word_a, word_b) in zip(itertools.pairwise(lemmas), itertools.pairwise(words), strict=True):
        if a == "be" and (b in evidence._BE_ADJECTIVES or word_b in evidence._BE_ADJECTIVES):
            features.append("s:be-adjective")
        if word_a in human and b in evidence._DUTY_VERBS:
            features.append("s:duty-on-people")
        if word_a in human and b not in evidence._DUTY_VERBS and word_b.endswith(("e", "s", "d")):
            features.append("s:people-act")
        if (a, b) in evidence._ATTENTION_PAIRS:
            features.append("s:pay-attention")
    for position, lemma in enumerate(lemmas):
        if (lemma == "make" and lemmas[position + 1 : position + 2] == ["sure"]) or lemma == "ensure":
            following = set(words[position + 1 : position + 5])
            features.append("s:make-sure-people" if following & human else "s:make-sure")
    if {"always", "never"} & set(words):
        features.append("s:always-never")
    if words and words[0] in evidence.ITEM_CLASSES["hedge"]:
        features.append("s:hedge")
    if text.rstrip().endswith("?") or (words and words[0] in evidence._QUESTION_STARTS):
        features.append("s:open-question")
    return features


def random_item(randomness: random.Random) -> str:
    from checks.rules.language_model import evidence

    vocabulary = sorted(
        set().union(*evidence.ITEM_CLASSES.values())
        | evidence._MACHINE_NOUNS
        | evidence._BE_ADJECTIVES
        | evidence._DUTY_VERBS
        | {w for pair in evidence._ATTENTION_PAIRS for w in pair}
        | evidence._QUESTION_STARTS
        | {"make", "sure", "trained", "don’t", "Engineer’s", "İstanbul", "made", "uses", "-", "?"}
    )
    words = [randomness.choice(vocabulary) for _ in range(randomness.randint(0, 14))]
    return " ".join(word.upper() if randomness.random() < 0.1 else word for word in words)


def test_every_action_item_has_the_same_features():
    from checks.rules.language_model.evidence import item_features

    lexicon = trained.load().lexicon
    texts = [
        item.text for source in bundled_documents() for item in parse(source, "pm.md", Config()).action_items
    ]
    assert len(texts) > 10
    texts += [item.text for item in corpus.corpus_items(set(corpus.SPLITS))]  # real items, every register
    randomness = random.Random(20261203)
    texts += [random_item(randomness) for _ in range(4000)]
    for text in texts:
        assert item_features(text, lexicon) == reference_item_features(text, lexicon), text
