"""Evidence of blame in one sentence: the agent, the predicate, the framing and the words.

A sentence becomes a list of named features, each tied to the token that shows it, so a finding can
quote its evidence. Features are deliberately general: word classes over lemmas (every inflection of
"neglect" is one lemma), the kind of agent (a name nobody listed, a possessive, "by <name>", an
@handle, a pronoun, a role, a team), and their combinations ("a person before a failure word"), so
the model learns what blame is made of rather than a list of phrases.

The caller passes the tokenised text and the subject analyser of `checks.rules.language`; this
module does not import it, so the rules module can import this one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Word classes by lemma. They name what a blameful sentence is made of; the model weighs them.
WORD_CLASSES: dict[str, frozenset[str]] = {
    # A failure or omission a person can commit.
    "fail": _words(
        """
        fail forget neglect overlook ignore miss skip bypass botch mess screw blunder fumble bungle
        misread mistype misjudge misconfigure misremember mistake disregard omit lapse slip goof
        circumvent fat-finger mis-click misclick typo neglect forgot forgotten ignoring flub
        violate mishandle misuse flout underestimate overestimate misunderstand misinterpret
        misread misapply mislabel misroute disobey
        """
    ),
    # An action that harms, when a person is its agent.
    "harm": _words(
        """
        delete drop wipe destroy corrupt overwrite truncate kill break nuke erase purge remove
        revoke disable shut crash trash clobber leak expose push deploy merge run apply change
        introduce cause trigger take knock point
        """
    ),
    "mistake": _words(
        """
        mistake error oversight blunder slip lapse fault negligence carelessness misstep screw-up
        screwup goof mess-up mishap fumble gaffe misjudgment misjudgement bungle sloppiness
        incompetence recklessness laziness inattention failure misunderstanding miscommunication
        misconfiguration oops whoops booboo
        """
    ),
    "moral": _words(
        """
        careless reckless sloppy lazy negligent incompetent irresponsible stupid dumb clueless
        inexcusable unacceptable unprofessional amateur amateurish idiot idiotic foolish lax
        thoughtless cavalier inattentive sloppiness incompetence recklessness laziness negligence
        carelessness shoddy complacent complacency arrogant arrogance disgraceful shameful
        unforgivable ridiculous absurd pathetic useless clumsy hasty ignorant ignorance naive
        boneheaded bonehead moron dumbest stupidity negligently irresponsibly lackadaisical
        slapdash half-assed dumbass silly stupidly lazily inexperienced incapable unqualified clown
        clowns noob noobs idiots morons braindead brain-dead embarrassing embarrassment disgrace
        shame sloppily haphazard cowboy wtf facepalm
        """
    ),
    "accident": _words(
        """
        accidentally mistakenly inadvertently carelessly wrongly erroneously unknowingly
        unintentionally hastily blindly unwittingly accident wrong incorrect incorrectly
        """
    ),
    "fault": _words(
        """
        blame fault responsible culprit guilty side part doing bad accountable liable
        """
    ),
    # What followed an action: with an agent before it, the action reads as the cause of the harm.
    "outcome": _words(
        """
        outage downtime degraded doubled spiked crashed unavailable corrupted lost broke broken
        """
    ),
    # Credit and discussion: the same agents and words, not blaming.
    "credit": _words(
        """
        thank thanks credit kudos shout-out shoutout fix write review help spot catch notice
        quickly great appreciate grateful praise
        """
    ),
    "mention": _words(
        """
        phrase word wording term language blameless blame-free label call calling say saying
        stating avoid instead rather culture postmortem curiosity systemic
        """
    ),
    "human": _words("human operator manual person people user engineer individual personnel"),
    "cause": _words(
        """
        because due cause root result lead responsible blame attribute culprit reason owe thanks
        """
    ),
    "modal": _words("would could should might must ought"),
    "hindsight": _words("hindsight retrospect ideally obviously clearly only simply just"),
    "remedy": _words(
        """
        remind reminder train training retrain awareness aware memo workshop educate education
        careful vigilant vigilance attention attentive double-check remember cautious caution
        circulate reiterate emphasize emphasise stress diligent diligence mindful brief briefing
        refresher lesson course session onboarding communicate email announce announcement
        """
    ),
    "rush": _words(
        """
        rush hurry haste hasty hastily pressure deadline quick quickly fast rushed impatient
        impatience crunch shortcut corner hurriedly speed pressured yolo cowboy expedite
        last-minute hurried rushing
        """
    ),
    "dismiss": _words(
        """
        luck unlucky bad-luck happen happens inevitable unavoidable freak whatever shrug nothing
        fluke unforeseeable nobody anything god nature life just shit stuff way such oh well meh
        chance coincidence act fate random cosmic
        """
    ),
    "hr": _words(
        """
        disciplinary discipline reprimand terminate termination demote demotion pip hr
        consequence consequences accountable accountability punish punishment sanction dismissal
        probation sack sacked penalty penalize penalise suspension suspended resign resignation
        """
    ),
    "neg": _words("not never no without n't nobody none nothing"),
    "evaluate": _words("should ought must basic obvious obviously clearly simply trivial supposed"),
}
# People by their job in any trade, beyond the software roles the phrase rules know.
ROLE_WORDS = _words(
    """
    pilot pilots crew crews captain captains co-pilot copilot officer officers nurse nurses doctor
    doctors physician physicians surgeon surgeons driver drivers dispatcher dispatchers technician
    technicians mechanic mechanics signaller signallers signalman conductor conductors clerk clerks
    worker workers employee employees staffer staffers guy guys folks dude person people human
    humans maintainer maintainers contributor contributors committer committers approver
    approvers merger intern interns newbie newbies junior juniors senior seniors manager managers
    supervisor supervisors trainee trainees vendor vendors contractor contractors
    """
)
FIRST_PERSON = _words("i me my myself i'm i've i'd")
NOBODY = _words("nobody no-one noone none neither")
TEAM_WORDS = _words(
    """
    team support ops qa security sre devops dba management leadership vendor contractor contractors
    outsourcer marketing sales finance legal networking infra platform frontend backend mobile
    """
)
PARTICIPLE_ENDINGS = ("ed", "en", "wn", "ne", "ght", "lt", "nt", "un", "ck")
IRREGULAR_PARTICIPLES = _words(
    """
    done been seen known made caught run read put set let hit cut shut kept left lost held told
    found thought brought bought taught sent spent built meant understood stood won begun
    """
)
CLAUSE_BREAK = frozenset(",;:()—–") | frozenset(".!?")
DETERMINERS = _words("the a an our their this that these those its")
CONTRACTED_MODALS = _words("would've could've should've might've must've shouldn't've")
# The words a framing starts at (see `_framing`): a sentence without any frames nothing.
FRAMING_CUES = (
    CONTRACTED_MODALS
    | WORD_CLASSES["modal"]
    | _words("shouldn't couldn't wouldn't had if ideally hindsight retrospect")
)
PREDICATES = frozenset(
    {"fail", "harm", "mistake", "moral", "accident", "remedy", "rush", "fault", "hr", "outcome"}
)
# Blame words that are also engineering terms, and the neighbours that make them one.
TECHNICAL_HEADS = _words("fault error failure blame sloppy lazy dumb naive")
TECHNICAL_NEIGHBOURS = _words(
    """
    page segmentation seg bus tolerance tolerant injection domain domains protection detection
    budget rate rates code codes log logs handling handler path paths correction mode modes
    quorum quorums loading load evaluation initialization initialisation init terminal bayes
    """
)
QUOTE_MARKS = frozenset('"“”‘’«»')
# Two-word reaches for HR; one of the words alone is ordinary ("a review", "go", "written").
HR_PAIRS = frozenset(
    {
        ("write", "up"),
        ("written", "up"),
        ("let", "go"),
        ("performance", "review"),
        ("performance", "improvement"),
        ("hold", "accountable"),
        ("held", "accountable"),
        ("face", "consequence"),
        ("head", "roll"),
        ("heads", "roll"),
        ("lose", "job"),
        ("final", "warning"),
        ("formal", "warning"),
    }
)
# "The alert fired" is a system; "she was fired", "fire him" is HR.
FIRE_SUBJECT = _words("be get got was were been being is")
# Lemmas whose features depend on the neighbouring words ("took down", "page fault", "was fired",
# "written up"); a word with none of them, and no "n't", skips those tests.
CONTEXT_LEMMAS = frozenset({"take", "bring", "knock", "fire"}) | TECHNICAL_HEADS
HR_SECOND_WORDS = frozenset(second for _, second in HR_PAIRS)
# Checks a person can skip: "merged without waiting for CI" names the omission itself.
SKIPPED_CHECKS = _words(
    """
    check checking test testing review reviewing wait waiting ask asking tell telling run running
    verify verifying look looking read reading confirm confirming validate validating approval
    approve approving consult consulting notify notifying coordinate coordinating backup
    """
)
OMISSION_WORDS = _words("never forgot neglected skipped ignored failed didn't did not without")
# "Human error" as a design goal, not a cause: "systems that tolerate human error".
ERROR_TOLERANCE = _words(
    """
    tolerate tolerant prevent reduce eliminate minimise minimize guard proof resilient against
    avoid catch absorb forgive forgiving mitigate handle design designed expect
    """
)
CULPRIT_VERBS = _words(
    "broke break merged merge pushed push deployed deploy did do approved approve caused cause"
)
IMPERATIVE_STARTS = _words(
    """
    please don't do never always be make remember stop check double-check pay think read test
    ask avoid ensure take try watch keep stay learn
    """
)
AGENT_REACH = 6  # words from an agent to a predicate that still count as the agent's


class WordForm(NamedTuple):
    """What the evidence pass needs of one word token, the same for every token of its norm."""

    lemma: str
    feature: str  # "w:<lemma>"
    classes: tuple[tuple[str, str, str, bool], ...]  # as `Lexicon.word` gives them
    contextual: bool  # a feature that depends on the neighbouring words may start here


# How many word forms each of the lexicon's memories keeps. A worker lives for many documents, and
# every new word would otherwise stay for good: a memory that is full is emptied and refilled
# (each entry depends on its word alone, so nothing but time changes).
WORD_MEMORY_LIMIT = 100_000


def _kept(memory: dict, key: Hashable, value):
    if len(memory) >= WORD_MEMORY_LIMIT:
        memory.clear()
    memory[key] = value
    return value


@dataclass(frozen=True)
class Lexicon:
    """The lemma table shipped with the model: inflected form → lemma, and the known English words."""

    lemmas: Mapping[str, str]
    _words: dict = field(default_factory=dict, compare=False, repr=False)
    _forms: dict = field(default_factory=dict, compare=False, repr=False)
    _cues: dict = field(default_factory=dict, compare=False, repr=False)

    def lemma(self, norm: str) -> str:
        return self.lemmas.get(norm, norm)

    def word(self, norm: str) -> tuple[str, str, tuple[tuple[str, str, str, bool], ...]]:
        """(lemma, its word feature, its classes as (name, feature, quoted feature, predicate)),
        remembered per word form: the same words recur in every sentence."""
        found = self._words.get(norm)
        if found is None:
            lemma = self.lemma(norm)
            classes = tuple(
                (name, f"c:{name}", f"q:{name}", name in PREDICATES) for name in word_classes(lemma, norm)
            )
            found = _kept(self._words, norm, (lemma, f"w:{lemma}", classes))
        return found

    def form(self, token) -> WordForm:
        """The word token's form, remembered by its norm. A word token is possessive by its norm
        alone ("alice's", not "it's"), so every token of one norm has the same form."""
        norm = token.norm
        found = self._forms.get(norm)
        if found is None:
            lemma, feature, classes = self.word(norm.removesuffix("'s") if token.is_possessive else norm)
            contextual = (
                norm.endswith("n't")
                or lemma in CONTEXT_LEMMAS
                or lemma in HR_SECOND_WORDS
                or norm in HR_SECOND_WORDS
            )
            found = _kept(self._forms, norm, WordForm(lemma, feature, classes, contextual))
        return found

    def is_cue(self, norm: str) -> bool:
        """Whether a word is a cue to score its sentence ("n't", a word of a blame class),
        remembered per norm."""
        found = self._cues.get(norm)
        if found is None:
            classes = self.word(norm)[2]
            found = _kept(self._cues, norm, norm.endswith("n't") or any(e[0] in CUE_CLASSES for e in classes))
        return found

    def is_english(self, norm: str) -> bool:
        return norm in self.lemmas


def word_classes(lemma: str, norm: str) -> list[str]:
    return [name for name, words in WORD_CLASSES.items() if lemma in words or norm in words]


def _is_participle(norm: str, lemma: str) -> bool:
    return norm in IRREGULAR_PARTICIPLES or (norm != lemma and norm.endswith(PARTICIPLE_ENDINGS))


def agent_kind(text, analyzer, lexicon: Lexicon, index: int, determiner: bool) -> str | None:
    """The kind of person a token names, or None: name, handle, pronoun, they, role, team, self."""
    token = text.tokens[index]
    if token.kind == "word" and token.text.islower() and token.norm not in _agent_words(analyzer):
        return None  # most words: no lookup needed
    kind = analyzer._single(text, index, determiner)
    if kind == "handle":
        return "handle"
    if kind == "named":
        return "name"
    if token.norm in FIRST_PERSON:
        return "i"  # "I pushed to prod": a writer blaming themselves, unlike the team's "we"
    if kind in ("pronoun", "they", "role", "self", "object"):
        return {"object": "pronoun"}.get(kind, kind)
    if kind == "collective":
        return "team" if token.kind == "handle" else None
    if token.norm in NOBODY:
        return "nobody"  # "Nobody was careless": a person named only to be cleared
    if token.norm.removesuffix("'s") in TEAM_WORDS:
        return "team"
    if token.norm.removesuffix("'s") in ROLE_WORDS:
        return "role"
    if kind == "proper":
        norm = token.norm.removesuffix("'s")
        if lexicon.is_english(norm) or norm.endswith(("ing", "tion", "ment", "ness", "ity")):
            return None
        return "name-initial" if text.is_sentence_initial(index) else "name"
    return None


def _agent_words(analyzer) -> frozenset[str]:
    """Lower-case words that can name a person: pronouns, roles, teams, configured people."""
    words = getattr(analyzer, "_agent_words", None)
    if words is None:
        data = analyzer.data
        words = frozenset().union(
            data.pronouns,
            data.possessives,
            data.ambiguous_pronouns,
            data.role_nouns,
            TEAM_WORDS,
            ROLE_WORDS,
            NOBODY,
            FIRST_PERSON,
            analyzer.people.configured,
            {f"{w}'s" for w in data.role_nouns | TEAM_WORDS | ROLE_WORDS},
            {"i", "we", "me", "us", "him", "them", "whoever", "whomever", "my", "our"},
        )
        analyzer._agent_words = words
    return words


# Word classes that make a sentence worth scoring on their own; harm verbs ("deploy", "run") need an
# agent, and most sentences have one of them.
CUE_CLASSES = frozenset(WORD_CLASSES) - {"harm", "credit", "mention"}


def worth_scoring(text, analyzer, lexicon: Lexicon, first: int, last: int) -> bool:
    """Whether a sentence has any evidence at all: an agent, or a word of a blame class.

    Sentences without any score below every threshold in practice; skipping them keeps the model's
    cost to the sentences that matter."""
    tokens = text.tokens
    agent_words = _agent_words(analyzer)
    remembered = lexicon._cues.get
    for index in range(first, last):
        token = tokens[index]
        if not token.is_word:
            continue
        norm = token.norm
        if token.kind == "handle" or norm in agent_words:
            return True
        cue = remembered(norm)
        if cue if cue is not None else lexicon.is_cue(norm):
            return True  # a "n't" or a word of a blame class
        if token.text[:1].isupper() and not lexicon.is_english(norm.removesuffix("'s")):
            return True  # a capitalised word that is not an English word: maybe a name
    return False


def sentence_features(
    text, analyzer, lexicon: Lexicon, first: int, last: int, rules: frozenset[str] = frozenset()
) -> list[tuple[str, int]]:
    """Every feature of the sentence in tokens [first, last), each with the token index showing it."""
    tokens = text.tokens
    features: list[tuple[str, int]] = [(f"r:{rule}", first) for rule in sorted(rules)]
    words, breaks, quoted, marks = _words_and_clauses(tokens, first, last)
    if not words:
        return features
    remembered = lexicon._forms.get
    forms = [remembered(tokens[index].norm) or lexicon.form(tokens[index]) for index in words]
    lemmas = [form[0] for form in forms]
    norms = [tokens[index].norm for index in words]
    if text.prose.in_timeline or text.prose.section == "timeline":
        features.append(("s:timeline", first))
    agent_words = _agent_words(analyzer)
    agents: list[tuple[int, str]] = []  # (word position, kind)
    predicates: list[tuple[int, str]] = []
    append = features.append
    previous = ""
    for position, index in enumerate(words):
        lemma, word_feature, classes, contextual = forms[position]
        append((word_feature, index))
        if position:
            append((f"b:{previous} {lemma}", index))
        norm = norms[position]
        if contextual:  # a feature that depends on the neighbours may start here: rare
            if norm.endswith("n't"):
                append(("c:neg", index))
            following = lemmas[position + 1 : position + 2]
            if lemma in ("take", "bring", "knock") and following in (["down"], ["out"]):
                append(("c:outcome", index))  # "which took down checkout"
                predicates.append((position, "outcome"))
            if lemma in TECHNICAL_HEADS and _technical(lemmas, position):
                append(("c:technical", index))  # "page fault", "fault tolerance"
                classes = ()
        for name, class_feature, quoted_feature, predicate in classes:
            append((class_feature, index))
            if quoted[position]:
                append((quoted_feature, index))
            # "the merge", "a deploy": the noun names an event, not a person's act.
            if predicate and not (name == "harm" and previous in DETERMINERS):
                predicates.append((position, name))
        if contextual:
            if (previous, lemma) in HR_PAIRS or (previous, norm) in HR_PAIRS:
                append(("c:hr", index))
                predicates.append((position, "hr"))
            if lemma == "fire" and previous in FIRE_SUBJECT:
                append(("c:hr-fire", index))  # "was fired", not "the alert fired"
                predicates.append((position, "hr"))
        token = tokens[index]
        if token.kind == "word" and norm not in agent_words and token.text.islower():
            previous = lemma
            continue  # most words: no person
        kind = agent_kind(text, analyzer, lexicon, index, previous in DETERMINERS)
        if kind is not None:
            agents.append((position, kind))
            append((f"a:{kind}", index))
            if token.is_possessive or (kind in ("pronoun",) and norm in ("his", "her", "your")):
                append((f"a:poss-{kind}", index))
            if previous == "by":
                append((f"a:by-{kind}", index))
                # "broken by Pema" blames; "written by Pema" credits: the participle says which.
                if position >= 2:
                    for name, *_ in forms[position - 2][2]:
                        append((f"by:{name}-{kind}", index))
        previous = lemma
    features.extend(_combinations(words, breaks, agents, predicates))
    for kind in {kind for _, kind in agents}:
        features.extend((f"co:{kind}&{name}", first) for name in sorted({name for _, name in predicates}))
        if not predicates:
            features.append((f"co:{kind}&nothing", first))
    framing = _framing(text, words, norms, lemmas, agents)
    features.extend(framing)
    kinds = {kind for _, kind in agents}
    for name, index in {name: index for name, index in framing}.items():
        features.extend((f"fa:{name}&{kind}", index) for kind in sorted(kinds))
    for position, kind in agents:
        if position + 1 < len(words) and _is_verb_form(tokens[words[position + 1]], lemmas[position + 1]):
            features.append((f"subj:{kind}", words[position]))
    features.extend(_shape(first, words, norms, lemmas, agents, breaks, marks))
    return features


def _words_and_clauses(tokens, first: int, last: int) -> tuple[list[int], list[int], list[bool], set[str]]:
    """The sentence's word tokens, each word's clause number and whether it sits inside quotes, and
    the punctuation marks the sentence holds."""
    words: list[int] = []
    breaks: list[int] = []  # clause number of each word
    quoted: list[bool] = []
    marks: set[str] = set()
    clause = 0
    inside = False
    for index in range(first, last):
        token = tokens[index]
        if token.is_word:
            words.append(index)
            breaks.append(clause)
            quoted.append(inside)
            continue
        mark = token.text
        marks.add(mark)
        if mark in CLAUSE_BREAK:
            clause += 1
        elif mark in QUOTE_MARKS:
            inside = not inside if mark == '"' else mark in "“‘«"
    return words, breaks, quoted, marks


def _shape(first, words, norms, lemmas, agents, breaks, marks) -> list[tuple[str, int]]:
    """The sentence's shape: an order, an omission with or without its owner, a culprit hunt."""
    found = []
    if norms[0] in IMPERATIVE_STARTS and agents[:1] != [(0, "i")]:
        found.append(("s:imperative", words[0]))  # "Please double-check …", "Don't merge …"
        found.append((f"s:imperative-{lemmas[0]}", words[0]))
    if "please" in norms:
        found.append(("s:please", words[norms.index("please")]))
    if "?" in marks:
        found.append(("s:question", first))
        if "who" in norms:
            who = norms.index("who")
            if any(n in CULPRIT_VERBS for n in norms[who + 1 : who + 3]):
                found.append(("f:who-did", words[who]))  # "Who merged this?"
    if "!" in marks:
        found.append(("s:exclaim", first))
    if not OMISSION_WORDS.isdisjoint(norms):
        found.extend(_omissions(words, norms, lemmas, agents, breaks))
    if "human" in norms:
        found.extend(_designed_for_error(words, norms, lemmas))
    return found


def _omissions(words, norms, lemmas, agents, breaks) -> list[tuple[str, int]]:
    """Something not done, with or without its owner: "Ravi never checked", "merged without waiting"."""
    found = []
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
    return found


def _designed_for_error(words, norms, lemmas) -> list[tuple[str, int]]:
    """Human error as a design goal, not a cause: "systems that tolerate human error"."""
    found = []
    for position in range(len(norms) - 1):
        if norms[position] == "human" and norms[position + 1] in ("error", "errors", "mistake", "mistakes"):
            window = lemmas[max(0, position - 4) : position]
            if any(lemma in ERROR_TOLERANCE for lemma in window):
                found.append(("f:designed-for-error", words[position]))
    return found


def _technical(lemmas: list[str], position: int) -> bool:
    """A blame word that is half of a technical term with its neighbour."""
    before = lemmas[position - 1] if position else ""
    after = lemmas[position + 1] if position + 1 < len(lemmas) else ""
    return before in TECHNICAL_NEIGHBOURS or after in TECHNICAL_NEIGHBOURS


def _is_verb_form(token, lemma: str) -> bool:
    """An inflected verb right after an agent: "Tenzin yolo-merged", "Support closed"."""
    norm = token.norm
    return token.text.islower() and (norm.endswith("ed") or (norm != lemma and not norm.endswith("s")))


def _combinations(words, breaks, agents, predicates) -> list[tuple[str, int]]:
    """An agent and a predicate in one clause: "Anika skipped", "the firewall rule was removed by Sigrún"."""
    found = []
    for position, kind in agents:
        for other, name in predicates:
            if breaks[other] != breaks[position]:
                continue
            distance = other - position
            if 0 < distance <= AGENT_REACH:
                found.append((f"ap:{kind}>{name}", words[position]))
            elif -AGENT_REACH <= distance < 0:
                found.append((f"pa:{name}<{kind}", words[position]))
    return found


def _framing(text, words, norms, lemmas, agents) -> list[tuple[str, int]]:
    """Counterfactuals in every order, "had X …", "if only", "ideally X would"."""
    found = []
    count = len(words)
    cued = not FRAMING_CUES.isdisjoint(norms)  # most sentences frame nothing
    for position, norm in enumerate(norms if cued else ()):
        if norm not in FRAMING_CUES:
            continue
        index = words[position]
        counterfactual = norm in CONTRACTED_MODALS
        # The norm, not the lemma: the lemma of "would" is "will".
        if norm in WORD_CLASSES["modal"] or norm in ("shouldn't", "couldn't", "wouldn't"):
            window = norms[position + 1 : min(count, position + 4)]
            if "have" in window or "'ve" in window:
                after = window.index("have") if "have" in window else window.index("'ve")
                nxt = position + 2 + after
                if nxt < count and _is_participle(norms[nxt], lemmas[nxt]):
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
            if any(norms[p] in ("not", "never") for p in range(position, min(count, position + 3))):
                found.append(("f:cf-negated", index))
        if norm == "had" and (position == 0 or text.is_sentence_initial(index)) and position + 2 < count:
            # "Had the reviewer opened the diff …": inversion puts a subject after "had".
            window = range(position + 1, min(count, position + 5))
            if any(_is_participle(norms[p], lemmas[p]) for p in window):
                found.append(("f:had-inversion", index))
                agent_at = dict(agents)
                if any(p in agent_at for p in window):
                    found.append(("f:had-agent", index))
        if norm == "if" and position + 1 < count and norms[position + 1] == "only":
            found.append(("f:if-only", index))
        if norm == "ideally" and any(norms[p] in ("would", "should") for p in range(position, count)):
            found.append(("f:ideally-would", index))
        if norm in ("hindsight", "retrospect"):
            found.append(("f:hindsight", index))
    if words and lemmas[0] in WORD_CLASSES["remedy"] and norms[0] == lemmas[0]:
        found.append(("f:imperative-remedy", words[0]))
    return found


# ---------------------------------------------------------------------------------------------
# Action items: what kind of change an item commits to

ITEM_CLASSES: dict[str, frozenset[str]] = {
    # Asks people to watch harder: the remedy the seeds call a non-fix.
    "vigilance": _words(
        """
        careful carefully vigilant vigilance attention attentive double-check triple-check remember
        cautious caution diligent diligence mindful aware awareness alert conscious sure ensure
        always never remind reminder
        """
    ),
    # Tells people something: a memo, an announcement, a reminder.
    "tell": _words(
        """
        remind reminder circulate reiterate re-iterate emphasize emphasise stress communicate
        communication email announce announcement tell ask encourage instruct share notify inform
        broadcast post memo message newsletter slack highlight raise
        """
    ),
    # Teaches people: training, courses, drills.
    "teach": _words(
        """
        train training retrain awareness workshop educate education brief briefing refresher course
        session onboarding lesson teach coach coaching mentor learn learning knowledge familiarize
        familiarise walkthrough walk-through tutorial class seminar certification
        """
    ),
    "human": _words(
        """
        everyone everybody engineer engineers team teams staff people person developer developers
        we us our folks member members employee employees individual individuals user users
        """
    ),
    "people": _words(
        """
        remind reminder train training retrain awareness aware memo workshop educate education
        careful vigilant attention double-check remember cautious circulate reiterate emphasize
        emphasise stress diligent mindful brief briefing refresher course session onboarding
        communicate email announce announcement everyone engineer engineers team teams staff
        ensure sure tell ask encourage instruct lesson document documentation wiki guide share
        teach coach mentor learn knowledge familiarize familiarise walkthrough walk-through
        """
    ),
    "vague": _words(
        """
        investigate look consider explore discuss evaluate assess research understand determine
        figure whether maybe possibly potentially perhaps could might revisit think idea ideas
        brainstorm analyze analyse study improve better worth options option spike tbd
        follow-up followup examine review discussion conversation talk
        """
    ),
    # Commits to nothing yet: "could", "maybe", "see if".
    "hedge": _words(
        """
        maybe possibly potentially perhaps could might worth whether if see try attempt hopefully
        ideally somehow
        """
    ),
    "docs": _words(
        """
        runbook runbooks playbook playbooks guide guideline guidelines guidance document
        documentation documented docs wiki readme outline how-to procedure procedures shadow
        shadowing simulation simulations practice drill drills game day exercise meeting
        """
    ),
    "obligation": _words(
        """
        must always never ever please should everyone everybody all whoever
        """
    ),
    "role": _words(
        """
        engineer engineers developer developers operator operators reviewer reviewers author
        administrator admin deployer hire on-call oncall commander responder member members
        """
    ),
    "guardrail": _words(
        """
        add alert automate automatic automatically block enforce validate validation reject
        prevent gate lint linter test tests monitor monitoring detect check canary rollback
        alarm page probe guard guardrail fail refuse abort verify script tool hook ci
        """
    ),
    "constraint": _words(
        """
        limit cap quota restrict restriction permission permissions access read-only timeout
        rate throttle maximum minimum max min budget capacity size bound least-privilege scope
        deny revoke isolate separate
        """
    ),
    "policy": _words(
        """
        policy process approval require required must only rule freeze window sign-off
        escalate escalation criteria decide decision threshold sla slo runbook playbook
        default standard whenever always never before
        """
    ),
}
_ITEM_WORD = re.compile(r"[a-z0-9][a-z0-9'’\-]*")
ITEM_PREFIX = 4  # letters of a word's beginning that make an item feature (words of 6 or more)
# "Training data", "a training job": machines are trained too, and that is a system change.
_MACHINE_NOUNS = _words("data set dataset job jobs pipeline run runs model models loss cluster")
_BE_ADJECTIVES = _words(
    "careful cautious vigilant aware mindful attentive diligent conscious alert more extra"
)
_DUTY_VERBS = _words("must should need needs will shall have has")
_ATTENTION_PAIRS = frozenset(
    {
        ("pay", "attention"),
        ("keep", "eye"),
        ("keep", "mind"),
        ("be", "aware"),
        ("look", "out"),
        ("watch", "out"),
    }
)
_QUESTION_STARTS = _words("how why what whether which who when can should could is are do does")


def item_features(text: str, lexicon: Lexicon) -> list[str]:
    """Features of an action item's text: lemmas, pairs, word classes, its first verb and its shape."""
    words = _ITEM_WORD.findall(text.lower().replace("’", "'"))
    lemma_of = lexicon.lemmas.get  # `Lexicon.lemma` without a call per word
    lemmas = [lemma_of(word, word) for word in words]
    features = [f"w:{lemma}" for lemma in lemmas]
    features += [f"b:{a} {b}" for a, b in itertools.pairwise(lemmas)]
    # A long word's first letters: "documentation", "documented" and "document", or "automation"
    # and "automatically", share one, so what is learnt of one form reaches the forms never seen.
    features += [f"p:{word[:ITEM_PREFIX]}" for word in words if len(word) > ITEM_PREFIX + 1]
    append = features.append
    remembered = _ITEM_CLASS_MEMORY.get
    for position, (lemma, word) in enumerate(zip(lemmas, words, strict=True)):
        names = remembered((lemma, word))
        if names is None:
            names = _item_classes(lemma, word)
        if (
            lemma in ("train", "training")
            and lemmas[position + 1 : position + 2]
            and lemmas[position + 1] in _MACHINE_NOUNS
        ):
            names = [name for name in names if name not in ("teach", "people")]
        for name in names:  # most words are in no class: no generator made for them
            append(f"c:{name}")
    if lemmas:
        features.append(f"first:{lemmas[0]}")
        # The classes the first lemma is in, as `_item_classes` of it as both lemma and word.
        features.extend(f"first-c:{name}" for name in _item_classes(lemmas[0], lemmas[0]))
    if len(words) <= 4:
        features.append("s:short")
    features.extend(_item_shape(text, words, lemmas))
    return features


_ITEM_CLASS_MEMORY: dict[tuple[str, str], tuple[str, ...]] = {}


def _item_classes(lemma: str, word: str) -> tuple[str, ...]:
    """The item classes a word is in, by its lemma or its own form, in `ITEM_CLASSES` order;
    remembered per pair (bounded as the lexicon's memories are): items repeat their words, and
    each answer asks every class twice."""
    key = (lemma, word)
    names = _ITEM_CLASS_MEMORY.get(key)
    if names is None:
        found = tuple(name for name, members in ITEM_CLASSES.items() if lemma in members or word in members)
        names = _kept(_ITEM_CLASS_MEMORY, key, found)
    return names


def _item_shape(text: str, words: list[str], lemmas: list[str]) -> list[str]:
    """What an item asks of whom: "be careful", "engineers must …", "make sure we …", a question."""
    found = []
    human = ITEM_CLASSES["human"]
    for pair, (word_a, word_b) in zip(itertools.pairwise(lemmas), itertools.pairwise(words), strict=True):
        a, b = pair
        if a == "be" and (b in _BE_ADJECTIVES or word_b in _BE_ADJECTIVES):
            found.append("s:be-adjective")  # "Be more careful"
        if word_a in human:
            if b in _DUTY_VERBS:
                found.append("s:duty-on-people")  # "Engineers must double-check"
            elif word_b.endswith(("e", "s", "d")):
                found.append("s:people-act")
        if pair in _ATTENTION_PAIRS:
            found.append("s:pay-attention")
    if "make" in lemmas or "ensure" in lemmas:  # most items have neither: no walk
        for position, lemma in enumerate(lemmas):
            if (lemma == "make" and lemmas[position + 1 : position + 2] == ["sure"]) or lemma == "ensure":
                following = set(words[position + 1 : position + 5])
                found.append("s:make-sure-people" if following & human else "s:make-sure")
    if {"always", "never"} & set(words):
        found.append("s:always-never")
    if words and words[0] in ITEM_CLASSES["hedge"]:
        found.append("s:hedge")
    if text.rstrip().endswith("?") or (words and words[0] in _QUESTION_STARTS):
        found.append("s:open-question")
    return found
