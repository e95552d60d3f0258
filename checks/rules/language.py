"""Blameless language: finds blame of people, not systems, in a postmortem's prose.

Pattern rules are data (`rules/language/<name>.yaml`): their phrase lists compile into a trie over
words, so matching walks the text once with no regex backtracking. The people rules (`person`,
`pronoun`, `role-blame`) are code: telling "she forgot" from "the probe missed" needs the clause
around the failure verb, not just the words.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

from checks import packaged
from checks.config import Config
from checks.document.model import ActionItem, Document, Prose, Span
from checks.findings import Hit, Level
from checks.rules.action_items import reports_reminder
from checks.rules.catalog import catalog
from checks.rules.language_model import evidence
from checks.rules.language_model import model as trained

FAMILY = "language"


def _wordset(text: str) -> frozenset[str]:
    """A set of words written as one whitespace-separated string, so long lists stay readable."""
    return frozenset(text.split())


# One token: a word (inner apostrophes, hyphens and dots kept when a word character follows:
# "didn't", "on-call", "v1.2"), an @handle (optionally @org/team), or one punctuation character.
# Every alternative consumes its characters once, so the scan is linear. A word is runs of word
# characters joined by single marks, not a per-character alternation with a look-ahead: the same
# tokens, but the regex engine scans each run in its fast one-character loop, a fifth quicker.
# The quantifiers are possessive: nothing follows them that could match what they gave back, so
# they find what greedy ones find without keeping the places to go back to (a third of the scan).
# A word cannot begin with "@", so trying words first changes nothing but the time.
#
# Every character but white space and "_" begins a token, so between two tokens there are only
# those: the pattern takes that gap as its first group, and the token as the group of its kind (a
# word, a handle or a mark; the others are empty). `findall` gives them as strings, the offsets
# following from their lengths, with no match object per token and no test of a token's first
# character to tell its kind.
_GAP_AND_TOKEN = re.compile(
    r"([\s_]*+)"
    r"(?:([^\W_]\w*+(?:['’.\-]\w++)*+)"
    r"|(@[A-Za-z0-9][A-Za-z0-9-]*+(?:/[A-Za-z0-9][\w.-]*+)?)"
    r"|([^\w\s]))"
)
# Phrase syntax in the rule files: `[a|b]` one of, `(a|b)` optionally one of, else one word.
_PHRASE_SLOT = re.compile(r"\[[^\]]*\]|\([^)]*\)|\S+")
MAX_EXPANSIONS = 5000  # a phrase that expands further is a mistake in the rule file

POSSESSIVE = "{possessive}"
WILDCARD = "*"  # any one word, as in "ignored the * alert"
CONTRACTIONS = _wordset(
    """
    it's that's what's there's here's he's she's who's let's where's how's when's why's
    one's
    """
)
QUOTES = frozenset("\"“”‘’'«»`")
SENTENCE_END = frozenset(".!?")
CLAUSE_PUNCT = frozenset(",;:()[]—–|•*") | SENTENCE_END
# Words that open a new clause: the subject of a failure verb lies after the nearest of these.
CLAUSE_WORDS = _wordset(
    """
    and but because since although though while whereas so when whenever once after before
    until unless if which who whom whose that why how whether then yet or
    """
)
CONTINUATION_WORDS = _wordset("and then but also")
CONDITIONAL_WORDS = _wordset("if when whenever unless once")
RELATIVE_WORDS = _wordset("that which who whom whose")
NEGATORS = _wordset(
    """
    not no never nobody none nothing neither nor without instead rather avoid avoids avoided
    avoiding stop stopped beyond cannot no-one
    """
)
NEGATED_AFTER = _wordset("not never rarely no nothing")
COPULAS = _wordset("is was are were")
# A quoted phrase in a sentence with one of these is a phrase being talked about, not used.
MENTION_CUES = _wordset(
    """
    instead rather not never avoid avoiding replace replaced replacing phrase phrases
    language wording word words saying sounds blameful blameless learned learnt lesson
    lessons reframe reframed rewrite rewrote example examples isn't aren't wasn't doesn't
    don't insufficient
    """
)
CAUSE_CUES = _wordset(
    """
    because due owing caused cause causes result resulted blame blamed attributed attribute
    thanks
    """
)
CAUSE_AFTER = _wordset("caused causes led leads resulted results meant triggered")
CAUSE_SECTIONS = frozenset({"contributing-factors"})
# Words skipped when looking for the subject of a clause: articles, time phrases, numbers.
SUBJECT_FILLERS = _wordset(
    """
    the a an our their this that these those one another some any all at around about approx
    approximately on in during by later earlier then shortly soon eventually meanwhile also
    just utc gmt am pm at~ so finally first next again initially subsequently unfortunately
    immediately still yet now
    """
)
DETERMINERS = _wordset("the a an our their this that")
TIME_WORDS = _wordset("yesterday today tonight morning afternoon evening")
AUXILIARIES = _wordset(
    """
    is was were are be been being has have had do does did should would could must may might
    will shall can need needs needed really clearly obviously simply probably definitely
    certainly apparently then also just still never already again not
    """
)
COMMON_VERBS = _wordset(
    """
    ran run runs took take takes made make makes saw see sees went go goes did do sent wrote
    began forgot broke put set got gave found left kept brought told thought knew came hit
    cut shut read led built chose fell held lost meant met paid said spent stood threw
    understood woke won became tried says tells gets puts sets keeps
    """
)
PERSON_COLLECTIVES = _wordset("we i us team teams squad everyone everybody")
OBJECT_PRONOUNS = _wordset("him them whoever whomever")
SELF_PRONOUNS = frozenset({"we", "i"})
HANDLE_BOTS = frozenset({"dependabot", "renovate", "github-actions", "actions", "codecov", "mergify"})
FUNCTION_WORDS = _wordset(
    """
    the a an this that these those it its we our they their he she his her you your i my me
    him them us after before when while during then also again once if because since so but
    and or nor yet at on in by for from with without to of as into onto about around over
    under there here what which who whom whose why how where all any each every some no none
    nobody someone somebody everyone everybody anyone nothing something everything finally
    later meanwhile however therefore instead otherwise unfortunately fortunately luckily
    eventually initially subsequently shortly soon next first second third last today
    yesterday
    """
)

ROLE_HINTS = (
    (
        ("page", "paged", "pager", "alert", "alerted", "acknowledged", "acked", "ack", "on-call"),
        "the on-call engineer",
    ),
    (
        ("declared", "commander", "coordinated", "coordinating", "escalated"),
        "the incident commander",
    ),
    (("reviewed", "approved", "review", "approval"), "the reviewer"),
    (
        ("deployed", "deploy", "merged", "released", "rolled", "pushed", "shipped", "rollout"),
        "the engineer deploying the change",
    ),
    (
        ("database", "db", "replica", "replication", "postgres", "mysql", "primary"),
        "a database engineer",
    ),
    (("customer", "customers", "ticket", "support"), "customer support"),
)
DEFAULT_ROLE = "the on-call engineer"
_HINT_WORD = re.compile(r"[^\W_][\w-]*")  # the words a role hint is looked up by


# What a possessive word's norm ends with ("’" is normalised to "'"): `Token.is_possessive` and the
# possessive check's prefilter read the same ending.
POSSESSIVE_ENDING = "'s"


def _norm(text: str) -> str:
    return text.lower().replace("’", "'")


class Token:
    """One token; a plain slotted class, as tokens are made by the hundred thousand."""

    __slots__ = ("end", "is_possessive", "is_word", "kind", "norm", "start", "text")

    def __init__(self, text: str, norm: str, start: int, end: int, kind: str):
        self.text = text
        self.norm = norm
        self.start = start  # offset in the prose text
        self.end = end
        self.kind = kind  # word | handle | punct
        self.is_word = is_word = kind != "punct"
        # A punctuation mark is one character, never a possessive: its test is skipped.
        self.is_possessive = is_word and norm.endswith(POSSESSIVE_ENDING) and norm not in CONTRACTIONS

    def __repr__(self) -> str:
        return f"Token({self.text!r}, {self.kind}, {self.start}-{self.end})"

    @property
    def is_title(self) -> bool:
        return (
            self.text[:1].isupper()
            and self.text[1:2].islower()
            and self.text.replace("-", "").replace("'", "").isalpha()
        )

    @property
    def owner(self) -> str:
        """The word without a possessive ending: "Alice's" → "Alice"."""
        return self.text[:-2] if self.is_possessive else self.text


def tokenize(text: str) -> list[Token]:
    return _tokenize(text, _norm(text))


def _tokenize(text: str, lowered: str) -> list[Token]:
    """The tokens of `text`, given `_norm(text)`."""
    tokens = []
    # Lower-casing keeps offsets for nearly all text; when it does not ("İ"), normalise per token.
    aligned = len(lowered) == len(text)
    # Most runs hold no "'s" at all: their words need no possessive test.
    may_own = not aligned or POSSESSIVE_ENDING in lowered
    append = tokens.append
    new = object.__new__
    end = 0
    for gap, word, handle, mark in _GAP_AND_TOKEN.findall(text):
        start = end + len(gap)
        # Words and marks, nearly every token, are filled in here rather than by a call to
        # `Token.__init__`: the same attributes, a tenth fewer instructions for the run's tokens.
        if word:
            end = start + len(word)
            norm = lowered[start:end] if aligned else _norm(word)
            token = new(Token)
            token.text = word
            token.norm = norm
            token.start = start
            token.end = end
            token.kind = "word"
            token.is_word = True
            token.is_possessive = may_own and norm.endswith(POSSESSIVE_ENDING) and norm not in CONTRACTIONS
            append(token)
        elif mark:  # one character, a lone "@" among them
            end = start + 1
            token = new(Token)
            token.text = mark
            token.norm = lowered[start:end] if aligned else _norm(mark)
            token.start = start
            token.end = end
            token.kind = "punct"
            token.is_word = False
            token.is_possessive = False
            append(token)
        else:
            end = start + len(handle)
            if text[start - 1 : start].isalnum():
                # An email address's "@" is not a mention (the name after it is passed over).
                append(Token("@", "@", start, start + 1, "punct"))
            else:
                append(Token(handle, _norm(handle), start, end, "handle"))
    return tokens


# ---------------------------------------------------------------------------------------------
# Phrases and the word trie


def _slot_alternatives(slot: str) -> tuple[list[tuple[str, ...]], bool]:
    optional = slot.startswith("(")
    options = slot[1:-1].split("|") if slot.startswith(("[", "(")) else [slot]
    return [_phrase_words(option) for option in options], optional


@cache
def _phrase_words(option: str) -> tuple[str, ...]:
    # Cached: the rule files repeat the same alternatives ("[is|was]") across many phrases.
    words: list[str] = []
    for part in option.split():
        if part in (POSSESSIVE, WILDCARD):
            words.append(part)
        else:
            words.extend(t.norm for t in tokenize(part))
    return tuple(words)


def expand_phrase(phrase: str, case_sensitive: bool = False) -> list[tuple[str, ...]]:
    """All the word sequences a rule-file phrase stands for ("be (more) careful" → 2 sequences)."""
    results: list[tuple[str, ...]] = [()]
    for slot in _PHRASE_SLOT.findall(phrase):
        options, optional = _slot_alternatives(slot)
        if case_sensitive:
            options = [tuple(t.text for t in tokenize(o)) for o in slot.strip("[]()").split("|")]
        if optional:
            options = [*options, ()]
        results = [r + o for r in results for o in options]
        if len(results) > MAX_EXPANSIONS:
            raise ValueError(f"phrase expands to more than {MAX_EXPANSIONS} variants: {phrase!r}")
    variants = []
    for words in results:
        variants.append(words)
        if "-" in "".join(words):  # "double-check" also matches "double check"
            split = tuple(part for w in words for part in w.split("-") if part)
            variants.append(split)
    return [v for v in variants if v]


# The key under which a node lists the payloads of the phrases ending there. No word is empty, and
# a string key lets a trie's nodes be kept as JSON (`compiled`).
_END = ""


class Trie:
    """Word sequences to payloads; `matches` walks a token list once per start position.

    A node lists payload numbers, indices into `payloads`, so that the nodes are plain JSON. The
    root's children may be JSON text (`stored_roots`): each is read the first time a phrase
    starting with its word is looked for, so a small document reads a few of them, not all."""

    def __init__(self, case_sensitive: bool = False, root: dict | None = None, payloads: list | None = None):
        self.root: dict = {} if root is None else root
        self.case_sensitive = case_sensitive
        self.payloads: list = [] if payloads is None else payloads
        self._numbers: dict[int, int] = {id(p): n for n, p in enumerate(self.payloads)}

    def may_start(self, token: Token) -> bool:
        """Whether some phrase can start at this token: a set lookup that spares most walks."""
        root = self.root
        key = token.text if self.case_sensitive else token.norm
        return key in root or WILDCARD in root or (token.is_possessive and POSSESSIVE in root)

    def starts(self, text: Text) -> list[int]:
        """The indices of the words `may_start` accepts in a prose run, in order: one pass in a
        comprehension instead of a method call per word and trie (none at all for case-sensitive
        phrases whose first words are not in the run's text, a test made in C)."""
        root = self.root
        tokens = text.tokens
        if WILDCARD in root:
            return [i for i, t in enumerate(tokens) if t.is_word]
        possessive = POSSESSIVE in root
        if self.case_sensitive:
            if not possessive and not any(word and word in text.prose.text for word in root):
                return []
            return [
                i
                for i, t in enumerate(tokens)
                if t.is_word and (t.text in root or (possessive and t.is_possessive))
            ]
        return [
            i
            for i, t in enumerate(tokens)
            if t.is_word and (t.norm in root or (possessive and t.is_possessive))
        ]

    def first_words(self) -> frozenset[str] | None:
        """The words a phrase can start with (case-insensitive tries), or None when any word can."""
        if self.case_sensitive or WILDCARD in self.root or POSSESSIVE in self.root:
            return None
        return frozenset(key for key in self.root if key != _END)

    def add(self, words: tuple[str, ...], payload) -> None:
        number = self._numbers.get(id(payload))
        if number is None:
            number = self._numbers[id(payload)] = len(self.payloads)
            self.payloads.append(payload)
        self.add_number(words, number)

    def add_number(self, words: tuple[str, ...], number: int) -> None:
        """Adds a phrase for the payload numbered `number` (its place in `payloads`)."""
        node = self.root
        for word in words:
            child = node.get(word)
            if child is None:
                child = node[word] = {}
            node = child
        node.setdefault(_END, []).append(number)  # several rules may share a phrase

    def matches(self, tokens: list[Token], start: int) -> list[tuple[int, object]]:
        """(end index, payload) for every phrase starting at `start`, longest first.

        The walk is depth-first because a word can match both itself and a `*` slot; phrases are a
        few words long, so the work per start position stays bounded. A node's children are
        pushed in the order word, `{possessive}`, `*` (so popped in reverse), and the found pairs
        are sorted stably by end: ties keep the order the walk found them in.
        """
        first = tokens[start]
        root = self.root
        case_sensitive = self.case_sensitive
        key = first.text if case_sensitive else first.norm
        if not first.is_word or (
            key not in root and WILDCARD not in root and not (first.is_possessive and POSSESSIVE in root)
        ):
            return []  # most words start no phrase: skip the walk
        found: list[tuple[int, object]] = []
        payloads = self.payloads
        count = len(tokens)
        stack = [(root, start)]
        push, pop = stack.append, stack.pop
        while stack:
            node, index = pop()
            if index > start and _END in node:
                found.extend([(index, payloads[number]) for number in node[_END]])
            if index >= count:
                continue
            token = tokens[index]
            if not token.is_word:
                continue
            step = self._root_child if node is root else node.get  # the root's children may be text
            child = step(token.text if case_sensitive else token.norm)
            if child is not None:
                push((child, index + 1))
            if token.is_possessive:
                child = step(POSSESSIVE)
                if child is not None:
                    push((child, index + 1))
            child = step(WILDCARD)
            if child is not None:
                push((child, index + 1))
        if len(found) > 1:
            found.sort(key=_END_INDEX, reverse=True)  # stable, as is `reverse`
        return found

    def _root_child(self, word: str) -> dict | None:
        """The root's node for `word`, read from its JSON text the first time it is asked for."""
        child = self.root.get(word)
        if child.__class__ is str:
            child = self.root[word] = json.loads(child)
        return child


_END_INDEX = operator.itemgetter(0)  # of an (end index, payload) pair


# ---------------------------------------------------------------------------------------------
# Rule data


@dataclass(frozen=True)
class Pattern:
    rule: str
    suggestion: str | None
    message: str | None
    level: Level | None
    negatable: bool
    unless_followed_by: Trie | None
    unless_preceded_by: tuple[tuple[str, ...], ...]
    subject: str | None  # person | individual | not-system
    person_in_sentence: str | None  # person | individual
    needs_cause: bool
    at_clause_end: bool


@dataclass
class Compiled:
    tries: list[Trie] = field(default_factory=list)
    strong: Trie = field(default_factory=Trie)
    moral: Trie = field(default_factory=Trie)
    weak: Trie = field(default_factory=Trie)
    blame_nouns: frozenset[str] = frozenset()
    agent_cues: tuple[tuple[str, ...], ...] = ()
    agent_cue_ends: frozenset[str] = frozenset()  # the last words of `agent_cues`
    given_names: frozenset[str] = frozenset()
    not_names: frozenset[str] = frozenset()
    system_nouns: frozenset[str] = frozenset()
    role_nouns: frozenset[str] = frozenset()
    pronouns: frozenset[str] = frozenset()
    ambiguous_pronouns: frozenset[str] = frozenset()
    possessives: frozenset[str] = frozenset()
    failure_first_words: frozenset[str] | None = None  # None: any word may start a failure phrase

    @cached_property
    def not_people(self) -> frozenset[str]:
        """Words that make a timeline actor a role, a system or not a name. Kept, not remade per
        actor: the union of some 700 words cost more than the rest of the actor check."""
        return self.role_nouns | self.system_nouns | self.not_names


def _trie_of(phrases: Iterable[str]) -> Trie:
    trie = Trie()
    for phrase in phrases:
        for words in expand_phrase(str(phrase)):
            trie.add(words, True)
    return trie


def _preceding(phrases: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(words for phrase in phrases for words in expand_phrase(str(phrase)))


def _pattern_entries(rules: dict) -> list[tuple[str, dict, bool]]:
    """(rule id, entry, the rule's default `negatable`) of every `patterns` entry, in rule order."""
    return [
        (rule_id, entry, bool(rule.data.get("negatable", False)))
        for rule_id, rule in rules.items()
        for entry in rule.data.get("patterns", [])
    ]


def _pattern(rule_id: str, entry: dict, default_negatable: bool, unless: Trie | None) -> Pattern:
    level = entry.get("level")
    return Pattern(
        rule=rule_id,
        suggestion=entry.get("suggestion"),
        message=entry.get("message"),
        level=Level.parse(level) if level else None,
        negatable=bool(entry.get("negatable", default_negatable)),
        unless_followed_by=unless,
        unless_preceded_by=_preceding(entry.get("unless_preceded_by", [])),
        subject=entry.get("subject"),
        person_in_sentence=entry.get("person_in_sentence"),
        needs_cause=bool(entry.get("needs_cause", False)),
        at_clause_end=bool(entry.get("at_clause_end", False)),
    )


@cache
def compiled() -> Compiled:
    """Every language rule's data, compiled once per process."""
    rules = {rid: r for rid, r in catalog().items() if r.family == FAMILY}
    result = Compiled()
    entries = _pattern_entries(rules)
    person = rules.get("language.person")
    failures = person.data.get("failures", {}) if person is not None else {}
    roots = _trie_roots(entries, {name: [str(p) for p in failures.get(name, [])] for name in FAILURE_TRIES})
    patterns = [
        _pattern(rule_id, entry, negatable, _phrase_set(unless))
        for (rule_id, entry, negatable), unless in zip(entries, roots["unless"], strict=True)
    ]
    exact = [bool(entry.get("case_sensitive", False)) for _, entry, _ in entries]
    # One trie for every pattern rule (and one for the case-sensitive entries): each word is
    # looked up once, whatever the number of rules.
    result.tries = [
        Trie(root=roots["plain"], payloads=[p for p, e in zip(patterns, exact, strict=True) if not e]),
        Trie(
            case_sensitive=True,
            root=roots["exact"],
            payloads=[p for p, e in zip(patterns, exact, strict=True) if e],
        ),
    ]
    for name in FAILURE_TRIES:
        setattr(result, name, _phrase_set(roots[name]))
    if person is not None:
        starts = [trie.first_words() for trie in (result.strong, result.moral, result.weak)]
        if all(words is not None for words in starts):
            result.failure_first_words = frozenset().union(*starts)
        result.blame_nouns = frozenset(str(n) for n in person.data.get("blame_nouns", []))
        result.agent_cues = _preceding(person.data.get("agent_cues", []))
        result.agent_cue_ends = frozenset(cue[-1] for cue in result.agent_cues)
        result.given_names = frozenset(str(n) for n in person.data.get("given_names", []))
        result.not_names = frozenset(str(n).lower() for n in person.data.get("not_names", []))
        result.system_nouns = frozenset(str(n) for n in person.data.get("system_nouns", []))
        result.role_nouns = frozenset(str(n) for n in person.data.get("role_nouns", []))
    pronoun = rules.get("language.pronoun")
    if pronoun is not None:
        result.pronouns = frozenset(pronoun.data.get("pronouns", []))
        result.ambiguous_pronouns = frozenset(pronoun.data.get("ambiguous_pronouns", []))
        result.possessives = frozenset(pronoun.data.get("possessives", []))
    return result


FAILURE_TRIES = ("strong", "moral", "weak")  # the person rule's failure phrases, one trie each


def _phrase_set(root: dict | None) -> Trie | None:
    """A trie that only tells whether a phrase is there (its one payload is True), from its nodes."""
    return None if root is None else Trie(root=root, payloads=[True])


def _trie_roots(entries: list[tuple[str, dict, bool]], failures: dict[str, list[str]]) -> dict:
    """The nodes of every phrase trie (as `stored_roots` keeps them), from the package cache when
    it holds them.

    Expanding and inserting some 14,000 phrase variants cost every run about 20 ms. The nodes are
    plain JSON (payload numbers, not objects), so they are kept in the cache beside the rule data,
    named by a hash of the phrases and of this module's code, which decides how phrases expand."""
    phrases = [
        [
            bool(entry.get("case_sensitive", False)),
            [str(p) for p in entry["phrases"]],
            [str(p) for p in entry.get("unless_followed_by") or []],
        ]
        for _, entry, _ in entries
    ]
    key = json.dumps([phrases, failures, _module_digest()], ensure_ascii=False)
    path = packaged.cache_path("language-tries", [key])
    return packaged.parsed(path, [key], lambda _: stored_roots(built_trie_roots(phrases, failures)))[0]


def stored_roots(roots: dict) -> dict:
    """`roots` with each root's children as JSON text, which `Trie` reads one child at a time.

    Reading all the nodes (some 16,000 small dicts) cost a small document's run a tenth of its
    time, for the few dozen first words it holds; JSON text is read in one step per child."""

    def texts(root: dict | None) -> dict | None:
        if root is None:
            return None
        return {
            word: json.dumps(child, ensure_ascii=False, separators=(",", ":")) for word, child in root.items()
        }

    return {
        name: [texts(root) for root in value] if name == "unless" else texts(value)
        for name, value in roots.items()
    }


def built_trie_roots(phrases: list, failures: dict[str, list[str]]) -> dict:
    """The trie nodes, built: `phrases` holds each pattern entry's [case-sensitive, phrases,
    unless-followed-by phrases]. An entry's payload number is its place among the entries of its
    trie, so the numbers match the patterns `compiled` lines up, whether built or cached."""
    plain, exact = Trie(), Trie(case_sensitive=True)
    numbers = {False: 0, True: 0}
    unless = []
    for case_sensitive, entry_phrases, unless_phrases in phrases:
        target = exact if case_sensitive else plain
        number = numbers[case_sensitive]
        numbers[case_sensitive] += 1
        for phrase in entry_phrases:
            for words in expand_phrase(phrase, case_sensitive):
                target.add_number(words, number)
        unless.append(_trie_of(unless_phrases).root if unless_phrases else None)
    roots = {"plain": plain.root, "exact": exact.root, "unless": unless}
    roots.update({name: _trie_of(failures[name]).root for name in FAILURE_TRIES})
    return roots


@cache
def _module_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _custom_tries(terms: tuple[tuple[str, str, str | None, str], ...]) -> Trie:
    """`language.terms` from the config: `|` separates alternative words or phrases."""
    trie = Trie()
    for pattern, message, suggestion, level in terms:
        payload = Pattern(
            rule="language.custom-term",
            suggestion=suggestion,
            message=message,
            level=Level.parse(level) if level else None,
            negatable=True,
            unless_followed_by=None,
            unless_preceded_by=(),
            subject=None,
            person_in_sentence=None,
            needs_cause=False,
            at_clause_end=False,
        )
        for alternative in pattern.split("|"):
            words = tuple(t.norm for t in tokenize(alternative) if t.is_word)
            if words:
                trie.add(words, payload)
    return trie


# ---------------------------------------------------------------------------------------------
# Context: one prose run's tokens, sentences and the people the config names


@dataclass
class People:
    """Who counts as a person by name: the config's people plus the bundled given names."""

    configured: frozenset[str]  # lower-case single words from `language.people`
    given: frozenset[str]
    not_names: frozenset[str]

    def is_configured(self, token: Token) -> bool:
        if token.kind != "word" or token.norm.removesuffix("'s") not in self.configured:
            return False
        return token.text[:1].isupper() or (token.text.islower() and "-" in token.text)

    def is_given(self, token: Token) -> bool:
        # The set lookup first: few words are given names, and `is_title` costs more.
        return token.owner in self.given and token.is_title

    def is_named(self, token: Token) -> bool:
        return self.is_configured(token) or self.is_given(token)

    def may_name(self, token: Token) -> bool:
        """Whether `Analyzer._single` may call the token a handle or a name ("handle", "named"):
        only a handle, a capitalised word (a given name) or a configured person's word can be."""
        if token.kind == "handle":
            return True
        return token.is_word and (
            token.text[:1].isupper() or token.norm.removesuffix("'s") in self.configured
        )


def _configured_people(config: Config) -> frozenset[str]:
    words = set()
    for name in config["language"]["people"]:
        for token in tokenize(str(name)):
            if token.is_word and len(token.text) > 1:
                words.add(token.norm.lstrip("@"))
    return frozenset(words)


class Text:
    """One prose run, tokenised, with the sentence and clause helpers the conditions need."""

    def __init__(self, prose: Prose):
        self.prose = prose
        lowered = _norm(prose.text)
        self.tokens = tokens = _tokenize(prose.text, lowered)
        # A word's or a mark's norm is a slice of the lowered text, unless lowering moved offsets
        # (a handle's is lowered on its own, but begins with "@" and holds no apostrophe).
        self._lowered = lowered if len(lowered) == len(prose.text) else None
        # Where each sentence starts, and the end of the last: a run is asked for a sentence only
        # a few times (once per sentence by the model, and at the rare hits), so the sentence of a
        # token is found by bisection rather than kept for every token.
        bounds = [0]
        bounds += [i + 1 for i, t in enumerate(tokens) if not t.is_word and t.text in SENTENCE_END]
        if bounds[-1] < len(tokens):
            bounds.append(len(tokens))
        self.sentence_bounds = bounds

    def may_hold(self, fragments: Iterable[str]) -> bool:
        """False when no word's or mark's norm holds any of `fragments`: a check whose trigger
        words are all missing from the lowered text skips the run without a walk over its tokens
        (a test made in C; most runs hold none of a check's few words). A handle's norm is lowered
        on its own ("@org/tΑΣ" ends in "ς" there, in "σ" in the run), so a fragment that can
        occur inside a handle must not be asked for; the possessive ending and the agent cues'
        last words cannot."""
        lowered = self._lowered
        return lowered is None or any(fragment in lowered for fragment in fragments)

    def sentence(self, index: int) -> tuple[int, int]:
        """[first, last) token range of the sentence holding token `index`."""
        bounds = self.sentence_bounds
        number = bisect.bisect_right(bounds, index) - 1
        return bounds[number], bounds[number + 1]

    def is_sentence_initial(self, index: int) -> bool:
        """First word of a sentence, a list item, or of a timeline entry after its timestamp."""
        previous = index - 1
        while previous >= 0:
            token = self.tokens[previous]
            if token.kind == "punct" and token.text in QUOTES | {"*", "_"}:
                previous -= 1
                continue
            if token.kind == "punct":
                return token.text in SENTENCE_END | {":", "-", "—", "–", "|", "•", "(", ">"}
            return token.norm.isdigit() or token.norm in {"utc", "am", "pm", "gmt"}
        return True

    def clause_start(self, index: int) -> tuple[int, Token | None]:
        """The first token of the clause `index` is in, and the token that opened it."""
        first, _ = self.sentence(index) if self.tokens else (0, 0)
        position = index - 1
        while position >= first:
            token = self.tokens[position]
            if token.kind == "punct" and token.text in CLAUSE_PUNCT:
                return position + 1, token
            if token.kind == "word" and token.norm in CLAUSE_WORDS:
                return position + 1, token
            position -= 1
        return first, None

    def words_between(self, start: int, end: int) -> list[int]:
        return [i for i in range(start, end) if self.tokens[i].is_word]

    def words_before(self, index: int, limit: int) -> list[Token]:
        """Up to `limit` words before `index` in its clause, nearest last (quotes skipped)."""
        words: list[Token] = []
        position = index - 1
        first, _ = self.sentence(index)
        while position >= first and len(words) < limit:
            token = self.tokens[position]
            if token.kind == "punct":
                if token.text not in QUOTES:
                    break
            elif token.norm in CLAUSE_WORDS and token.norm not in ("and", "or"):
                break
            else:
                words.append(token)
            position -= 1
        words.reverse()
        return words

    def next_words(self, index: int, limit: int) -> list[Token]:
        words = []
        while index < len(self.tokens) and len(words) < limit:
            token = self.tokens[index]
            if token.kind == "punct" and token.text not in QUOTES:
                break
            if token.is_word:
                words.append(token)
            index += 1
        return words


# ---------------------------------------------------------------------------------------------
# Conditions


def _negated_before(text: Text, start: int) -> bool:
    return any(token.norm in NEGATORS or token.norm.endswith("n't") for token in text.words_before(start, 6))


def _negated_after(text: Text, end: int) -> bool:
    following = text.next_words(end, 2)
    if not following:
        return False
    first = following[0].norm
    if first in {"isn't", "wasn't", "aren't", "weren't"}:
        return True
    return first in COPULAS and len(following) > 1 and following[1].norm in NEGATED_AFTER


def _quoted_mention(text: Text, start: int, end: int) -> bool:
    """A quoted blameful phrase in a sentence about phrasing ("Instead of “be careful”, …")."""
    first, last = text.sentence(start)
    before = sum(1 for t in text.tokens[first:start] if t.kind == "punct" and t.text in QUOTES)
    after = sum(1 for t in text.tokens[end:last] if t.kind == "punct" and t.text in QUOTES)
    if before % 2 == 0 or after == 0:
        return False
    return any(t.norm in MENTION_CUES or t.norm.endswith("n't") for t in text.tokens[first:last] if t.is_word)


def _starts_with(text: Text, index: int, trie: Trie) -> bool:
    return bool(trie.matches(text.tokens, index)) if index < len(text.tokens) else False


def _preceded_by(text: Text, start: int, sequences: tuple[tuple[str, ...], ...]) -> bool:
    before = [t.norm for t in text.words_before(start, 4)]
    return any(len(seq) <= len(before) and tuple(before[-len(seq) :]) == seq for seq in sequences)


def _cause_framed(text: Text, start: int, end: int) -> bool:
    if text.prose.section in CAUSE_SECTIONS:
        return True
    first, _ = text.sentence(start)
    window = [t for t in text.tokens[max(first, start - 10) : start] if t.is_word]
    if any(t.norm in CAUSE_CUES for t in window):
        return True
    # "Root cause: human error", "Cause — operator error"
    if any(t.norm in ("cause", "causes", "reason") for t in window[-3:]):
        return True
    if window and window[-1].norm in COPULAS | {"by"}:
        return True  # "it was user error", "caused by operator error"
    after = [t.norm for t in text.next_words(end, 5)]
    if after and after[0] in COPULAS and any(w in ("cause", "reason", "culprit") for w in after[1:]):
        return True  # "operator error was the root cause"
    return any(w in CAUSE_AFTER for w in after[:3])


def _at_clause_end(text: Text, end: int) -> bool:
    return end >= len(text.tokens) or (
        text.tokens[end].kind == "punct" and text.tokens[end].text in (CLAUSE_PUNCT | QUOTES)
    )


@dataclass
class Subject:
    # pronoun | they | object | self | collective | handle | named | proper | role | system | none
    # | other
    kind: str
    first: int = -1  # token indices of the subject noun phrase (inclusive first, exclusive end)
    end: int = -1


class Analyzer:
    """Classifies the subject of a clause: a person by name, a pronoun, a role, or a system."""

    def __init__(self, data: Compiled, people: People):
        self.data = data
        self.people = people

    def classify(self, text: Text, index: int) -> Subject:
        """The subject of the clause whose verb phrase starts at token `index`."""
        start, opener = text.clause_start(index)
        words = text.words_between(start, index)
        if not words and opener is not None:
            # "Alice deployed it and forgot…", "Alice, the on-call engineer, forgot…": the subject
            # belongs to the clause before the continuation word or the comma.
            continues = (opener.kind == "word" and opener.norm in CONTINUATION_WORDS) or (opener.text == ",")
            position = text.tokens.index(opener, start - 1) if start else -1
            if continues and position > 0:
                start, opener = text.clause_start(position)
                words = text.words_between(start, position)
        if not words:
            return Subject("none")
        opener_word = opener.norm if opener is not None and opener.kind == "word" else None
        subject = self._noun_phrase(text, words)
        if opener_word == "who" and subject.kind == "other" and start >= 2:
            # "The engineer who wrote the rule should have known": the subject precedes "who".
            outer_start, _ = text.clause_start(start - 1)
            outer = text.words_between(outer_start, start - 1)
            if outer:
                return self._noun_phrase(text, outer)
        # "the replica that Alice configured broke…": Alice is not the subject of "broke".
        relative = opener_word in RELATIVE_WORDS and subject.kind not in ("none", "system")
        if relative and any(w >= subject.end for w in words):
            return Subject("other")
        if opener_word in CONDITIONAL_WORDS and subject.kind == "pronoun":
            first = text.tokens[subject.first].norm
            if first == "you":
                return Subject("other")  # "if you forget the flag, the job fails": generic you
        return subject

    def _noun_phrase(self, text: Text, words: list[int]) -> Subject:
        tokens = text.tokens
        position = 0
        determiner = False
        while position < len(words):
            norm = tokens[words[position]].norm
            if norm not in SUBJECT_FILLERS and norm not in TIME_WORDS and not norm.isdigit():
                break
            # "the Payments service" or "our Alice": after a determiner a capitalised word is a name
            # of a thing, not of a person.
            determiner = determiner or norm in DETERMINERS
            position += 1
        run: list[int] = []
        while position < len(words) and len(run) < 5:
            token = tokens[words[position]]
            if run and self._verb_like(token):
                break
            if not run and self._verb_like(token) and not self._person_word(token):
                following = tokens[words[position + 1]].norm if position + 1 < len(words) else ""
                if token.norm.endswith("ed") and following in self.data.role_nouns | self.data.system_nouns:
                    position += 1  # an adjective: "the tired admin", "the affected service"
                    continue
                return Subject("other")
            run.append(words[position])
            position += 1
        if not run or len(run) > 4:
            return Subject("other")
        return self._classify_run(text, run, determiner)

    def _verb_like(self, token: Token) -> bool:
        norm = token.norm
        if norm in AUXILIARIES or norm in COMMON_VERBS or norm.endswith("n't"):
            return True
        return token.text.islower() and norm.endswith(("ed", "ly"))

    def _person_word(self, token: Token) -> bool:
        norm = token.norm
        return (
            token.kind == "handle"
            or norm in self.data.pronouns
            or norm in self.data.ambiguous_pronouns
            or self.people.is_named(token)
        )

    def _classify_run(self, text: Text, run: list[int], determiner: bool) -> Subject:
        tokens = text.tokens
        first, end = run[0], run[-1] + 1
        head = tokens[run[-1]]
        # A possessive owner makes the phrase theirs: "Alice's change", "his deploy".
        owner = next(
            (i for i in run[:-1] if tokens[i].is_possessive or tokens[i].norm in self.data.possessives),
            None,
        )
        if owner is not None:
            owner_kind = self._single(text, owner, determiner)
            if owner_kind in ("handle", "named", "pronoun"):
                return Subject(owner_kind, owner, owner + 1)
        if len(run) == 1 or all(tokens[i].is_title or tokens[i].kind == "handle" for i in run):
            kind = self._single(text, run[0], determiner)
            if kind in ("handle", "named", "pronoun", "they", "self", "proper"):
                if kind == "proper" and len(run) > 2:
                    return Subject("other")
                return Subject(kind, first, end)
        head_norm = head.norm.removesuffix("'s")
        if head_norm in self.data.role_nouns:
            return Subject("role", first, end)
        if head_norm in PERSON_COLLECTIVES:
            return Subject("collective", first, end)
        if head_norm in self.data.system_nouns:
            return Subject("system", first, end)
        if len(run) == 1:
            return Subject(self._single(text, run[0], determiner), first, end)
        return Subject("other", first, end)

    def _single(self, text: Text, index: int, determiner: bool) -> str:
        token = text.tokens[index]
        norm = token.norm.removesuffix("'s")
        if token.kind == "handle":
            login = norm[1:]
            if "/" in login or login in HANDLE_BOTS or login.endswith("[bot]"):
                return "collective"  # a team handle is a role, not a person
            return "handle"
        if norm in self.data.pronouns or norm in self.data.possessives:
            return "pronoun"
        if norm in self.data.ambiguous_pronouns:
            return "they"
        if norm in SELF_PRONOUNS:
            return "self"
        if norm in OBJECT_PRONOUNS:
            return "object"
        if norm in PERSON_COLLECTIVES:
            return "collective"
        if self.people.is_configured(token):
            return "named"
        if norm in self.data.role_nouns:
            return "role"
        if norm in self.data.system_nouns:
            return "system"
        if determiner:
            return "other"  # after a determiner a capitalised word names a thing, not a person
        if self.people.is_given(token):
            return "named"
        if (
            len(norm) > 1
            and norm not in self.data.not_names
            and norm not in FUNCTION_WORDS
            and token.is_title
        ):
            return "proper"
        return "other"


PERSON_KINDS = {
    "person": {
        "pronoun",
        "they",
        "object",
        "self",
        "collective",
        "handle",
        "named",
        "proper",
        "role",
    },
    "individual": {"pronoun", "they", "object", "handle", "named", "proper", "role"},
}


def _person_in_sentence(text: Text, analyzer: Analyzer, start: int, mode: str) -> bool:
    first, last = text.sentence(start)
    kinds = PERSON_KINDS[mode]
    for index in range(first, last):
        token = text.tokens[index]
        if not token.is_word:
            continue
        kind = analyzer._single(text, index, determiner=False)
        if kind == "proper" and text.is_sentence_initial(index):
            continue
        if kind in kinds:
            return True
    return False


def _subject_ok(text: Text, analyzer: Analyzer, start: int, mode: str) -> bool:
    subject = analyzer.classify(text, start)
    if mode == "not-system":
        return subject.kind != "system"
    if subject.kind == "proper" and text.is_sentence_initial(subject.first):
        return False
    return subject.kind in PERSON_KINDS[mode]


def _passes(pattern: Pattern, text: Text, analyzer: Analyzer, start: int, end: int) -> bool:
    if pattern.unless_followed_by is not None and _starts_with(text, end, pattern.unless_followed_by):
        return False
    if pattern.unless_preceded_by and _preceded_by(text, start, pattern.unless_preceded_by):
        return False
    if pattern.negatable and (_negated_before(text, start) or _negated_after(text, end)):
        return False
    if pattern.at_clause_end and not _at_clause_end(text, end):
        return False
    if pattern.needs_cause and not _cause_framed(text, start, end):
        return False
    if pattern.subject and not _subject_ok(text, analyzer, start, pattern.subject):
        return False
    if pattern.person_in_sentence and not _person_in_sentence(
        text, analyzer, start, pattern.person_in_sentence
    ):
        return False
    return not _quoted_mention(text, start, end)


# ---------------------------------------------------------------------------------------------
# The checks


@dataclass(frozen=True)
class Found:
    """A hit with the token range it covers, so allow-listed words can suppress it."""

    hit: Hit
    words: tuple[str, ...]


def _span(text: Text, first: int, end: int) -> Span:
    base = text.prose.span.start
    return Span(base + text.tokens[first].start, base + text.tokens[end - 1].end)


def _words(text: Text, first: int, end: int) -> tuple[str, ...]:
    return tuple(t.norm for t in text.tokens[first:end] if t.is_word)


def _pattern_hits(text: Text, tries: list[Trie], analyzer: Analyzer) -> Iterator[Found]:
    taken: dict[str, int] = {}  # rule id → end of its last hit, so one rule never overlaps itself
    # Most words start no phrase: each trie's possible starts are found first, then walked in
    # the same order as before (by position, then by trie), so `taken` sees the same sequence.
    candidates = [set(trie.starts(text)) for trie in tries]
    for start in sorted(set().union(*candidates)):
        for trie, starts in zip(tries, candidates, strict=True):
            if start not in starts:
                continue
            for end, pattern in trie.matches(text.tokens, start):
                if taken.get(pattern.rule, -1) > start:
                    continue
                if not _passes(pattern, text, analyzer, start, end):
                    continue
                taken[pattern.rule] = end
                yield Found(
                    Hit(
                        rule=pattern.rule,
                        span=_span(text, start, end),
                        message=pattern.message,
                        suggestion=pattern.suggestion,
                        level=pattern.level,
                    ),
                    _words(text, start, end),
                )


def role_for(sentence: str) -> str:
    """A role to name instead of a person, guessed from what the sentence is about."""
    words = set(_HINT_WORD.findall(sentence.lower()))
    for hints, role in ROLE_HINTS:
        if words.intersection(hints):
            return role
    return DEFAULT_ROLE


def _sentence_text(text: Text, index: int) -> str:
    first, last = text.sentence(index)
    return text.prose.text[text.tokens[first].start : text.tokens[last - 1].end]


def _failure_hits(text: Text, data: Compiled, analyzer: Analyzer) -> Iterator[Found]:
    """A person, pronoun or role as the subject of a failure verb phrase."""
    covered = -1
    firsts = data.failure_first_words
    if firsts is None:
        starts = [i for i, t in enumerate(text.tokens) if t.is_word]
    else:  # only the words some failure phrase starts with
        starts = [i for i, t in enumerate(text.tokens) if t.is_word and t.norm in firsts]
    for start in starts:
        if start < covered:
            continue
        strong = data.strong.matches(text.tokens, start)
        moral = [] if strong else data.moral.matches(text.tokens, start)
        weak = [] if strong or moral else data.weak.matches(text.tokens, start)
        if not strong and not moral and not weak:
            continue
        end = (strong or moral or weak)[0][0]
        subject = analyzer.classify(text, start)
        if subject.kind in ("none", "other", "system", "self", "collective"):
            continue
        if subject.kind == "object" and text.tokens[subject.first].norm not in (
            "whoever",
            "whomever",
        ):
            continue  # "him" or "them" is never the subject
        if subject.first < start - 12:
            continue
        if subject.kind in ("they", "proper") and not (strong or moral):
            continue
        if subject.kind == "role" and not strong:
            continue  # "the developers were lazy": the moral rule already reports the judgement
        # A capitalised first word is a name only when a person-only verb follows at once.
        if subject.kind == "proper" and text.is_sentence_initial(subject.first) and subject.end != start:
            continue
        phrase = text.prose.text[text.tokens[start].start : text.tokens[end - 1].end]
        name = text.prose.text[text.tokens[subject.first].start : text.tokens[subject.end - 1].end]
        if subject.kind in ("pronoun", "they", "object"):
            hit = Hit("language.pronoun", _span(text, subject.first, end))
        elif subject.kind == "role":
            hit = Hit("language.role-blame", _span(text, subject.first, end))
        else:
            role = role_for(_sentence_text(text, start))
            hit = Hit(
                "language.person",
                _span(text, subject.first, subject.end),
                message=f"“{name}” is named as the actor of a failure (“{phrase}”)",
                suggestion=(
                    f"Describe the action without the name (or use a role such as “{role}”) "
                    "and ask what allowed it to cause harm."
                ),
            )
        covered = end
        yield Found(hit, _words(text, subject.first, end))


def _possessive_blame_hits(text: Text, data: Compiled, analyzer: Analyzer) -> Iterator[Found]:
    """A person's possessive on a blame noun ("Raj's fault", "@sam's mistake") names the cause."""
    if not text.may_hold((POSSESSIVE_ENDING,)):
        return
    for index in range(len(text.tokens) - 1):
        token = text.tokens[index]
        if not token.is_possessive or text.tokens[index + 1].norm not in data.blame_nouns:
            continue
        kind = analyzer._single(text, index, determiner=False)
        if kind == "proper" and text.is_sentence_initial(index):
            continue
        if kind not in ("handle", "named", "proper"):
            continue
        name = token.owner
        noun = text.tokens[index + 1].text
        yield Found(
            Hit(
                "language.person",
                _span(text, index, index + 1),
                message=f"“{name}” is named as the cause of a failure (“{token.text} {noun}”)",
                suggestion=("Leave the name out and describe the conditions that made the action possible."),
            ),
            _words(text, index, index + 2),
        )


def _agent_hits(text: Text, data: Compiled, analyzer: Analyzer) -> Iterator[Found]:
    """A person as the agent of a failure in the passive or after a cause: "caused by @raj",
    "the outage was triggered by Tom", "because of Tom, the site went down"."""
    last_words = data.agent_cue_ends
    if not text.may_hold(last_words):
        return
    may_name = analyzer.people.may_name
    tokens = text.tokens
    # Only right after a cue's last word: a full look-back at every token would be quadratic on a
    # run of quotes, which `words_before` skips. The cheap test of the word itself comes first:
    # "to the", "of the" are common, a name after them is not.
    for index in [i for i in range(1, len(tokens)) if tokens[i - 1].norm in last_words]:
        if not may_name(tokens[index]) or not _preceded_by(text, index, data.agent_cues):
            continue
        kind = analyzer._single(text, index, determiner=False)
        if kind not in ("handle", "named"):
            continue  # "caused by Kubernetes": only known names and handles are people here
        token = text.tokens[index]
        yield Found(
            Hit(
                "language.person",
                _span(text, index, index + 1),
                message=f"“{token.owner}” is named as the cause of a failure",
                suggestion="Leave the name out and describe the conditions that made the failure possible.",
            ),
            _words(text, index, index + 1),
        )


def _timeline_name_hits(text: Text, analyzer: Analyzer) -> Iterator[Found]:
    """Names and @handles anywhere in timeline prose: a warning with a role to use instead."""
    may_name = analyzer.people.may_name  # most words need not be classified
    for index in [index for index, token in enumerate(text.tokens) if may_name(token)]:
        kind = analyzer._single(text, index, determiner=False)
        if kind not in ("handle", "named"):
            continue
        end = index + 1
        if (
            end < len(text.tokens)
            and text.tokens[end].is_title
            and text.tokens[end].norm not in analyzer.data.not_names
        ):
            end += 1  # a surname
        yield _timeline_hit(text, index, end, role_for(_sentence_text(text, index)))


def _timeline_hit(text: Text, first: int, end: int, role: str) -> Found:
    name = text.prose.text[text.tokens[first].start : text.tokens[end - 1].end]
    return Found(
        Hit(
            "language.person",
            _span(text, first, end),
            message=f"“{name}” is a name in the timeline: use a role",
            suggestion=f"Use a role instead of the name, e.g. “{role}”.",
            level=Level.WARNING,
        ),
        _words(text, first, end),
    )


def _actor_hits(doc: Document, analyzer: Analyzer) -> Iterator[Found]:
    """Timeline entries whose actor column or prefix is a person rather than a role or a system."""
    for entry in doc.timeline:
        if not entry.actor or entry.actor_span is None:
            continue
        source = doc.source[entry.actor_span.start : entry.actor_span.end]
        prose = Prose(
            span=entry.actor_span,
            text=source,
            kind="table_cell",
            section="timeline",
            in_timeline=True,
        )
        text = Text(prose)
        words = text.words_between(0, len(text.tokens))
        if not words:
            continue
        kinds = [analyzer._single(text, i, determiner=False) for i in words]
        lowered = {text.tokens[i].norm for i in words}
        if lowered & analyzer.data.not_people and not any(k in ("handle", "named") for k in kinds):
            continue
        # Any capitalised word in an actor column is a name; before a colon in running text it may
        # be a label ("Mitigation: traffic shifted"), so there only known names and handles count.
        personal = ("handle", "named", "proper") if entry.actor_column else ("handle", "named")
        if not any(k in personal for k in kinds):
            continue
        first = next(i for i, k in zip(words, kinds, strict=True) if k in personal)
        end = first + 1
        while end < len(text.tokens) and text.tokens[end].is_title:
            end += 1
        yield _timeline_hit(text, first, end, role_for(entry.text or ""))


def _allowed(found: Found, allow: list[tuple[str, ...]]) -> bool:
    words = found.words
    for phrase in allow:
        size = len(phrase)
        if any(words[i : i + size] == phrase for i in range(len(words) - size + 1)):
            return True
        if size >= len(words) and any(
            phrase[i : i + len(words)] == words for i in range(size - len(words) + 1)
        ):
            return True
    return False


class ItemIndex:
    """The action item whose text holds an offset, found by bisection.

    Every vigilance hit asks which item it lies in; a scan of all the items for each hit made a
    long action-item table quadratic. The parser yields items in document order with disjoint
    text spans, so the one candidate is the last item starting at or before the offset. Should
    the spans ever overlap or come out of order, the first match in the list is what counts, so
    the index then falls back to that scan.
    """

    def __init__(self, items: list[ActionItem]):
        self.items = items
        self.starts = [item.text_span.start for item in items]
        self.ordered = all(
            a.text_span.end <= b.text_span.start and a.text_span.start <= a.text_span.end
            for a, b in itertools.pairwise(items)
        )

    def at(self, offset: int) -> ActionItem | None:
        if not self.ordered:
            return next((i for i in self.items if i.text_span.start <= offset < i.text_span.end), None)
        index = bisect.bisect_right(self.starts, offset) - 1
        if index >= 0 and offset < self.items[index].text_span.end:
            return self.items[index]
        return None


# ---------------------------------------------------------------------------------------------
# The trained model: what the phrase rules miss, scored on evidence


# What a sentence does, per category, in a model finding's message.
CATEGORY_READS = {
    "person": "puts a named person at the centre of a failure",
    "pronoun": "makes a person, by pronoun, the actor of a failure",
    "role-blame": "makes a role or a team the actor of a failure",
    "moral": "judges someone's character",
    "fault": "assigns fault",
    "human-error": "gives human error as a cause",
    "hindsight": "judges a decision with hindsight",
    "vigilance": "relies on people being more careful",
    "rushing": "gives haste as the cause",
    "dismissive": "dismisses the incident instead of explaining it",
    "hr": "points to consequences for a person",
}
EVIDENCE_SHOWN = 3  # evidence words quoted in a model finding
# Evidence that says nothing a reader can check at the token it sits on: words, word pairs, and
# sentence-wide features (rules, co-occurrences, shapes) placed at the sentence's first token.
WORD_EVIDENCE = ("w:", "b:", "co:", "r:", "s:")
OVERALL = "blameful"  # the model's overall decision: some category applies
MIN_MODEL_WORDS = 4
_IS_WORD = operator.attrgetter("is_word")  # counts a sentence's words in C: sum(map(_IS_WORD, …))
_FEATURE_NAME = operator.itemgetter(0)  # of a (feature name, token index) pair
MODEL_SKIPS_SECTIONS = frozenset({"action-items"})
NOTHING_REPORTED: frozenset[str] = frozenset()


def sentence_ranges(text: Text) -> Iterator[tuple[int, int]]:
    """[first, last) token ranges of the sentences of one prose run."""
    return itertools.pairwise(text.sentence_bounds)


def sentence_evidence(
    text: Text, analyzer: Analyzer, hits: Iterable[Hit], first: int, last: int
) -> list[tuple[str, int]]:
    """The model's features for tokens [first, last), with the phrase rules that fired there."""
    base = text.prose.span.start
    start, end = base + text.tokens[first].start, base + text.tokens[last - 1].end
    rules = frozenset(h.rule for h in hits if start <= h.span.start < end)
    return evidence.sentence_features(text, analyzer, trained.load().lexicon, first, last, rules)


def _model_hits(text: Text, analyzer: Analyzer, found: list[Found]) -> Iterator[Found]:
    if text.prose.kind == "heading" or text.prose.section in MODEL_SKIPS_SECTIONS:
        return  # action items have their own classifier (action-items.reminder, .vague)
    tokens = text.tokens
    if len(tokens) < MIN_MODEL_WORDS:
        return  # no sentence of the run has the words to judge: half the runs are such cells
    loaded = trained.load()
    model, lexicon = loaded.sentences, loaded.lexicon
    base = text.prose.span.start
    report = model.report_thresholds or model.thresholds
    floors: list[float] = []  # each class's reporting threshold, in class order, once needed
    for first, last in sentence_ranges(text):
        if last - first < MIN_MODEL_WORDS or sum(map(_IS_WORD, tokens[first:last])) < MIN_MODEL_WORDS:
            continue  # a label, a heading-like cell or an actor column: too little to judge
        if not evidence.worth_scoring(text, analyzer, lexicon, first, last):
            continue
        # The phrase rules that fired in the sentence are evidence, and are not reported twice.
        reported = NOTHING_REPORTED
        if found:  # most runs have no phrase hit
            start, end = base + tokens[first].start, base + tokens[last - 1].end
            reported = frozenset(f.hit.rule for f in found if start <= f.hit.span.start < end)
        features = evidence.sentence_features(text, analyzer, lexicon, first, last, reported)
        scores = model.scores(map(_FEATURE_NAME, features))
        floors = floors or [report.get(c, 1.0) for c in model.classes]
        if not any(map(operator.ge, scores.values(), floors)):  # `scores` is in class order
            continue  # each class's reporting threshold keeps blameless text quiet
        categories = [c for c in model.classes if c != OVERALL]
        labels = [c for c in categories if scores[c] >= min(model.thresholds.get(c, 1.0), report.get(c, 1.0))]
        if not labels and not reported:
            labels = [max(categories, key=scores.__getitem__)]
        for label in labels:
            if f"{FAMILY}.{label}" in reported:
                continue
            finding = _model_finding(text, model, features, label, scores[label], first, last)
            if not _quoted_mention(text, finding.first, finding.end):
                yield finding.found


def _model_finding(
    text: Text,
    model: trained.Linear,
    features: list[tuple[str, int]],
    label: str,
    score: float,
    first: int,
    last: int,
) -> ModelFinding:
    ranked = model.evidence(features, label)
    strongest = _evidence_tokens(text, ranked, first, last)
    strongest = strongest or [next(i for i in range(first, last) if text.tokens[i].is_word)]
    # Quote what a reader can check (an agent, a blame word, a framing), and fall back to the bare
    # words and word pairs only when nothing else pushed: "firewall", "rule" explain nothing.
    readable = [e for e in ranked if not e[1].startswith(WORD_EVIDENCE)]
    shown = _evidence_tokens(text, readable, first, last) or strongest
    quoted = ", ".join(f"“{text.tokens[i].text}”" for i in sorted(shown))
    span_first, span_last = _evidence_span(shown)
    level = Level.ERROR if score >= model.error_thresholds.get(label, 1.0) else Level.WARNING
    found = Found(
        Hit(
            f"{FAMILY}.{label}",
            _span(text, span_first, span_last),
            message=f"This sentence {CATEGORY_READS.get(label, label)} (evidence: {quoted}; "
            f"confidence {score:.2f})",
            level=level,
        ),
        _words(text, first, last),
    )
    # Whether the blame is only quoted is judged on the strongest evidence of any kind, as the
    # thresholds were chosen with: which words are quoted must not change what is reported.
    return ModelFinding(found, *_evidence_span(strongest))


def _evidence_span(shown: list[int]) -> tuple[int, int]:
    """The token range a finding marks: its evidence, or the strongest token when that is spread out."""
    span_first, span_last = min(shown), max(shown) + 1
    if span_last - span_first > 8:
        return shown[0], shown[0] + 1
    return span_first, span_last


def _evidence_tokens(text: Text, ranked: list[tuple[float, str, int]], first: int, last: int) -> list[int]:
    """The first EVIDENCE_SHOWN distinct word tokens of the sentence that the ranked evidence points at."""
    shown: list[int] = []
    for _, _, index in ranked:
        if first <= index < last and text.tokens[index].is_word and index not in shown:
            shown.append(index)
            if len(shown) == EVIDENCE_SHOWN:
                break
    return shown


@dataclass(frozen=True)
class ModelFinding:
    found: Found
    first: int  # token range of the evidence it quotes
    end: int


def analyzer_for(config: Config) -> Analyzer:
    return Analyzer(
        compiled(), People(_configured_people(config), compiled().given_names, compiled().not_names)
    )


def prose_evidence(doc: Document, config: Config) -> list[list[tuple[str, int]]]:
    """The model's features of each prose run taken whole (training and evaluation use this)."""
    hits = list(check(doc, config, use_model=False))
    analyzer = analyzer_for(config)
    runs = []
    for prose in doc.prose:
        text = Text(prose)
        if text.tokens:
            runs.append(sentence_evidence(text, analyzer, hits, 0, len(text.tokens)))
    return runs


@dataclass(frozen=True)
class Setup:
    """What every prose run is checked with: the compiled rules, the config's terms and allow list."""

    data: Compiled
    analyzer: Analyzer
    tries: list[Trie]
    allow: list[tuple[str, ...]]


def setup(config: Config) -> Setup:
    data = compiled()
    language = config["language"]
    terms = tuple(
        (t["pattern"], t["message"], t.get("suggestion"), t.get("level")) for t in language.get("terms", [])
    )
    tries = list(data.tries)
    if terms:
        tries.append(_custom_tries(terms))
    allow = [
        tuple(t.norm for t in tokenize(str(phrase)) if t.is_word) for phrase in language.get("allow", [])
    ]
    return Setup(data, analyzer_for(config), tries, [a for a in allow if a])


def prose_hits(
    doc: Document,
    config: Config,
    first: int = 0,
    end: int | None = None,
    *,
    use_model: bool = True,
    ready: Setup | None = None,
) -> list[Found]:
    """The hits of prose runs [first, end) in document order: the part of `check` that grows with
    the document, each run on its own, so `checks.split` can share the runs out over processes.
    `ready` is the config's `setup` when the caller has made it already."""
    ready = ready or setup(config)
    data, analyzer, tries = ready.data, ready.analyzer, ready.tries
    hits: list[Found] = []
    for prose in doc.prose[first:end]:
        text = Text(prose)
        if not text.tokens:
            continue
        prose_start = len(hits)
        hits.extend(_pattern_hits(text, tries, analyzer))
        failures = list(_failure_hits(text, data, analyzer))
        failures.extend(_possessive_blame_hits(text, data, analyzer))
        failures.extend(_agent_hits(text, data, analyzer))
        if prose.in_timeline or prose.section == "timeline":
            blamed = {f.hit.span.start for f in failures}
            failures.extend(f for f in _timeline_name_hits(text, analyzer) if f.hit.span.start not in blamed)
        hits.extend(failures)
        if use_model:
            hits.extend(_model_hits(text, analyzer, hits[prose_start:]))
    return hits


def check(
    doc: Document, config: Config, *, use_model: bool = True, shared: list[Found] | None = None
) -> Iterable[Hit]:
    """Every blameful-language hit in the document's prose and timeline actors.

    `use_model=False` keeps to the phrase rules: training uses their hits as evidence. `shared`
    is `prose_hits` of every prose run when already computed (by `checks.split`).
    """
    ready = setup(config)
    allow = ready.allow
    hits = prose_hits(doc, config, use_model=use_model, ready=ready) if shared is None else list(shared)
    if doc.timeline:
        hits.extend(_actor_hits(doc, ready.analyzer))
    seen: set[tuple[str, int]] = set()
    items = ItemIndex(doc.action_items)
    reminded: set[int] = set()  # action items already reported as reminders
    for found in hits:
        key = (found.hit.rule, found.hit.span.start)
        if key in seen or (allow and _allowed(found, allow)):
            continue
        seen.add(key)
        item = items.at(found.hit.span.start) if found.hit.rule == "language.vigilance" else None
        if item is not None:
            # A vigilance remedy as an action item is an item that relies on people: one
            # action-items.reminder error per item, from that rule's own patterns when they match.
            text = doc.source[item.text_span.start : item.text_span.end]
            if item.text_span.start in reminded or reports_reminder(text):
                continue
            reminded.add(item.text_span.start)
            yield Hit("action-items.reminder", found.hit.span)
            continue
        yield found.hit
