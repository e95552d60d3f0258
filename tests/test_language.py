"""The language rule family: a table of positives and tricky negatives per rule, then the people,
timeline, config and adversarial-input behaviour, and the dev-set floors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from checks.config import Config, parse_config
from checks.document.model import Document, Prose, Span
from checks.engine import check_text
from checks.findings import Level
from checks.rules import language
from checks.rules.catalog import catalog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import corpus, language_eval  # noqa: E402


def hits(
    sentence: str,
    config: Config | None = None,
    *,
    timeline: bool = False,
    section: str | None = None,
):
    section = section or ("timeline" if timeline else None)
    prose = Prose(Span(0, len(sentence)), sentence, "paragraph", section, timeline)
    doc = Document("pm.md", sentence, prose=[prose])
    return list(language.check(doc, config or Config()))


def rules(sentence: str, **kwargs) -> set[str]:
    return {hit.rule for hit in hits(sentence, **kwargs)}


# (rule, sentence) pairs that must fire; each sentence is a realistic postmortem line.
POSITIVES = [
    ("language.person", "John restarted the database without checking replication lag."),
    ("language.person", "@dave-ops didn't follow the deploy checklist."),
    ("language.person", "After the deploy, Priyanka forgot to renew the certificate."),
    ("language.person", "Ahmed's change caused the outage."),
    ("language.person", "It was Raj's fault."),
    ("language.human-error", "Human error was the root cause."),
    ("language.person", "The outage was caused by @raj."),
    ("language.person", "The failure was caused by Raj."),
    ("language.hindsight", "If only the on-call engineer had checked the dashboard."),
    ("language.human-error", "Operator error was the root cause."),
    ("language.pronoun", "You deployed broken code."),
    ("language.pronoun", "She should have caught this."),
    ("language.pronoun", "He didn't follow the runbook."),
    ("language.pronoun", "They need better training."),
    ("language.pronoun", "His change caused the outage."),
    ("language.role-blame", "The engineer forgot to re-enable the cron job."),
    ("language.role-blame", "The tired admin deleted the wrong directory."),
    ("language.moral", "This was a careless mistake."),
    ("language.moral", "The team had grown complacent about restores."),
    ("language.moral", "The on-call dropped the ball."),
    ("language.fault", "The DBA is to blame for the outage."),
    ("language.fault", "The culprit was the intern who ran the script."),
    ("language.fault", "Who pushed this?"),
    ("language.human-error", "Root cause: human error."),
    ("language.human-error", "It was user error."),
    ("language.human-error", "The outage was caused by human error."),
    ("language.hindsight", "I should have known better."),
    ("language.hindsight", "We should have caught this in code review."),
    ("language.hindsight", "If only we had waited for the canary."),
    ("language.hindsight", "The on-call engineer failed to notice the alert."),
    (
        "language.hindsight",
        "This would not have happened if the engineer had followed the runbook.",
    ),
    ("language.vigilance", "We need to be more careful."),
    ("language.vigilance", "Let's make sure someone reviews this next time."),
    ("language.vigilance", "Remind the team to double-check the config before deploying."),
    ("language.vigilance", "Remember to drain the node before rebooting."),
    ("language.vigilance", "Retrain the on-call staff on the failover procedure."),
    ("language.rushing", "This happened because we were rushing."),
    ("language.rushing", "Due to time pressure, testing was skipped."),
    ("language.rushing", "We cut corners on the migration plan."),
    ("language.dismissive", "These things happen."),
    ("language.dismissive", "It was an accident."),
    ("language.dismissive", "It was just bad luck."),
    ("language.dismissive", "There was nothing we could have done."),
    ("language.hr", "Disciplinary action will be taken."),
    ("language.hr", "There will be consequences for the engineer."),
    ("language.hr", "We are putting him on a PIP."),
    ("language.hr", "He got fired for this."),
]

# (rule, sentence) pairs that must NOT fire: ordinary incident vocabulary and near misses.
NEGATIVES = [
    ("language.person", "Thanks to Alice's quick response, impact was limited."),
    ("language.person", "May traffic peaked at three times the baseline."),
    ("language.person", "Kubernetes missed the liveness probe deadline."),
    ("language.person", "The database was restarted without checking replication lag."),
    ("language.pronoun", "They failed to elect a new leader after the partition."),
    ("language.pronoun", "When you forget to set the flag, the job silently skips the region."),
    ("language.pronoun", "He asked why the deploy tool didn't check the version."),
    ("language.pronoun", "She noticed the spike and started the incident."),
    ("language.role-blame", "The engineer on call acknowledged the page."),
    ("language.role-blame", "An engineer ran the cleanup script during the incident."),
    ("language.moral", "We use lazy loading for the product images."),
    ("language.moral", "Cassandra used a sloppy quorum during the partition."),
    ("language.moral", "The negligible increase in latency did not affect users."),
    ("language.moral", "Nobody was careless; the interface made the wrong choice the easy one."),
    ("language.fault", "The culprit was a regular expression with catastrophic backtracking."),
    ("language.fault", "The service is fault tolerant across three zones."),
    ("language.fault", "That's fault isolation working as designed."),
    ("language.fault", "Blame-free reviews help people share what they saw."),
    ("language.fault", "We do not blame individuals for incidents."),
    ("language.human-error", "Our error budget for the quarter is exhausted."),
    ("language.hr", "A performance review of the cache layer showed a 30% hit rate."),
    ("language.human-error", "Human error is never the root cause; the system is."),
    ("language.rushing", "The cluster was under pressure from the retry storm."),
    ("language.person", "The outage was caused by Kubernetes evicting the pod."),
    ("language.person", "Thanks to Li Wei for spotting the anomaly."),
    ("language.hindsight", "If only the primary is up, reads go to it."),
    ("language.rushing", "Engineers were rushing to restore service, so the status page was updated late."),
    ("language.human-error", "The manual step was prone to human error."),
    ("language.human-error", "The API returned user errors (4xx) for malformed requests."),
    (
        "language.human-error",
        "Human error is a starting point for the investigation, not a conclusion.",
    ),
    ("language.hindsight", "The integration tests should have caught this regression."),
    ("language.hindsight", "If only one zone is affected, traffic shifts automatically."),
    ("language.hindsight", "A canary stage would have caught this."),
    ("language.hindsight", "The probe failed to notice the half-open connections."),
    ("language.hindsight", "In hindsight, the alert threshold was too high."),
    ("language.vigilance", "We should add alerting."),
    ("language.vigilance", "The deploy script double-checks the target cluster name."),
    ("language.vigilance", "Make sure the deploy tool blocks releases when the canary fails."),
    ("language.vigilance", "Retrain the fraud model on the corrected labels."),
    ("language.vigilance", "The staging data now more closely matches production."),
    (
        "language.vigilance",
        "Rather than asking engineers to be more careful, we added a pre-deploy check.",
    ),
    ("language.vigilance", "The on-call engineer double-checked the rollback target."),
    ("language.rushing", "Why does our system allow rushed decisions to bypass safety checks?"),
    ("language.rushing", "The database was under memory pressure during the backup."),
    ("language.rushing", "A rush of reconnecting clients overloaded the API."),
    ("language.dismissive", "It happens when the cache is cold after a deploy."),
    ("language.dismissive", "Bad luck is not a root cause."),
    ("language.dismissive", '"It was an accident" isn\'t sufficient.'),
    ("language.dismissive", "This was a one-off migration script."),
    ("language.hr", "The alert was fired at 14:02."),
    ("language.hr", "The leader was demoted to follower after the partition healed."),
    ("language.hr", "The change had consequences for the downstream billing pipeline."),
    ("language.hr", "Incident involvement will never factor into performance evaluations."),
    ("language.hr", "We hold people accountable for improving systems, not for system failures."),
    ("language.hr", "The upgrade required a pip install of the new client library."),
]

ORDINARY_VOCABULARY = [
    "The health check failed.",
    "We exceeded our error budget by several orders of magnitude.",
    "The engineer on call acknowledged the page.",
    "We should add alerting.",
    "The deploy failed.",
    "Root cause: a race between the cache warmer and the config reload.",
    "Error rates rose to 40% for the checkout API.",
    "The page fault rate on the cache hosts doubled after the kernel upgrade.",
    "Where we got lucky: a replica had a copy of the data.",
]


@pytest.mark.parametrize(("rule", "sentence"), POSITIVES, ids=[f"{r}:{s[:30]}" for r, s in POSITIVES])
def test_rule_fires_on_blameful_sentence(rule, sentence):
    assert rule in rules(sentence)


@pytest.mark.parametrize(("rule", "sentence"), NEGATIVES, ids=[f"{r}:{s[:30]}" for r, s in NEGATIVES])
def test_rule_stays_silent_on_tricky_negative(rule, sentence):
    assert rule not in rules(sentence)


@pytest.mark.parametrize("sentence", ORDINARY_VOCABULARY)
def test_ordinary_incident_vocabulary_is_silent(sentence):
    assert rules(sentence) == set()


def test_every_language_rule_is_exercised_by_the_table():
    language_rules = {rid for rid in catalog() if rid.startswith("language.")}
    covered = {rule for rule, _ in POSITIVES} | {"language.custom-term"}
    assert language_rules == covered


def test_hits_carry_exact_spans_and_suggestions():
    sentence = "Honestly, these things happen."
    (hit,) = hits(sentence)
    assert sentence[hit.span.start : hit.span.end] == "these things happen"
    rule = catalog()[hit.rule]
    assert rule.suggestion and "?" not in rule.message


def test_span_is_a_source_offset_when_prose_starts_mid_document():
    source = "# Title\n\nWe need to be more careful.\n"
    start = source.index("We")
    prose = Prose(Span(start, len(source) - 1), source[start:-1], "paragraph", None)
    (hit,) = language.check(Document("pm.md", source, prose=[prose]), Config())
    assert source[hit.span.start : hit.span.end] == "be more careful"


def test_name_as_cause_is_an_error_with_a_role_suggestion():
    (hit,) = [h for h in hits("Alice forgot to renew the certificate.") if h.rule == "language.person"]
    assert hit.level is None  # the rule's own level: error
    assert catalog()["language.person"].level == Level.ERROR
    assert "Alice" in hit.message and "forgot" in hit.message


def test_name_in_timeline_is_a_warning_with_a_role():
    (hit,) = hits("14:02 Alice acknowledged the page.", timeline=True)
    assert hit.rule == "language.person" and hit.level == Level.WARNING
    assert "the on-call engineer" in hit.suggestion


def test_name_as_cause_in_timeline_stays_an_error():
    found = hits("14:03 Sarah deployed the broken build to production.", timeline=True)
    assert [(h.rule, h.level) for h in found] == [("language.person", None)]


def test_role_in_timeline_is_fine():
    assert hits("14:02 The on-call engineer acknowledged the page.", timeline=True) == []


def test_team_handles_and_bots_are_not_people():
    assert hits("14:05 @acme/storage-team took over; @dependabot reopened the PR.", timeline=True) == []


def test_config_people_are_found_even_when_not_common_names():
    config = parse_config("language:\n  people: [Zorblax Quux]\n", "c.yml")
    assert rules("14:02 Zorblax restarted the primary.", config=config, timeline=True) == {"language.person"}
    assert rules("Then Quux broke production.", config=config) == {"language.person"}


def test_config_allow_suppresses_a_phrase():
    config = parse_config("language:\n  allow: [double-check]\n", "c.yml")
    assert rules("Remind engineers to double-check the region.", config=config) == {"language.vigilance"}
    assert rules("Please double-check the region.", config=config) == set()


def test_config_terms_report_under_custom_term_with_their_own_wording():
    config = parse_config(
        "language:\n  terms:\n    - pattern: cowboy|yolo deploy\n"
        "      message: Say what was skipped\n"
        "      level: error\n      suggestion: Name the missing check\n",
        "c.yml",
    )
    (hit,) = hits("That was a yolo deploy.", config=config)
    assert (hit.rule, hit.message, hit.level, hit.suggestion) == (
        "language.custom-term",
        "Say what was skipped",
        Level.ERROR,
        "Name the missing check",
    )


def test_engine_reports_language_findings_with_lines_and_levels():
    text = (
        "# Postmortem\n\n## Summary\n\nDave was careless.\n\n## Timeline\n\nAll times UTC.\n\n"
        "- 14:02 Alice acknowledged the page.\n"
    )
    findings = [f for f in check_text(text, "pm.md").findings if f.family == "language"]
    got = {(f.rule, f.line, str(f.level)) for f in findings}
    assert ("language.moral", 5, "error") in got
    assert ("language.person", 5, "error") in got
    assert ("language.person", 11, "warning") in got


def test_engine_rule_can_be_switched_off():
    config = parse_config("rules:\n  language.vigilance: 'off'\n", "c.yml")
    text = "# Postmortem\n\n## Summary\n\nWe need to be more careful.\n"
    assert not [f for f in check_text(text, "pm.md", config).findings if f.family == "language"]


def test_phrase_expansion():
    assert language.expand_phrase("be (more) [careful|cautious]") == [
        ("be", "more", "careful"),
        ("be", "more", "cautious"),
        ("be", "careful"),
        ("be", "cautious"),
    ]
    assert ("double", "check") in language.expand_phrase("double-check")


def test_every_rule_file_compiles_within_the_expansion_limit():
    compiled = language.compiled()
    assert compiled.tries and compiled.given_names and compiled.system_nouns


ADVERSARIAL = [
    "a" * 100_000,
    "be more " * 12_500,
    "he " * 33_000 + "forgot",
    "Alice " * 16_000 + "forgot",
    "'" * 100_000,
    "-" * 100_000,
    "@" + "a-" * 50_000,
    "didn't " * 14_000,
    "the " * 25_000 + "engineer forgot",
    '"' * 50_000 + "careless" + '"' * 50_000,
    "human error " * 8_000,
    ("x, " * 30_000) + "should have caught",
]


@pytest.mark.parametrize("payload", ADVERSARIAL, ids=lambda p: repr(p[:12]))
def test_adversarial_input_returns(payload):
    found = hits(payload)
    assert all(0 <= h.span.start <= h.span.end <= len(payload) for h in found)


@pytest.fixture(scope="module")
def devset():
    return corpus.devset_sentences({"devset-train", "devset-test", "devset-test2"})


def test_devset_is_large_and_labelled_with_known_rules(devset):
    known = set(catalog())
    assert len(devset) >= 250
    assert {item.split for item in devset} >= {"devset-train", "devset-test"}
    assert all(set(item.expect) <= known for item in devset)
    assert sum(1 for item in devset if not item.expect) >= 100  # plenty of hard negatives


def test_devset_floor_on_training_split():
    overall = language_eval.evaluate_sentences("devset-train").overall
    assert overall.precision >= 0.95 and overall.recall >= 0.95


def test_devset_floor_on_held_out_splits():
    reports = [language_eval.evaluate_sentences(s).overall for s in ("devset-test", "devset-test2")]
    overall = language_eval.Counts(*(sum(getattr(r, k) for r in reports) for k in ("tp", "fp", "fn")))
    # The trained model reports more than the phrase rules did, on text it never saw: a little
    # precision on these hard pairs for much more recall on other writers' text.
    assert overall.precision >= 0.85
    assert overall.recall >= 0.85


def test_a_label_before_a_colon_in_a_timeline_is_not_a_name():
    """ "Mitigation: …" is a label; a capitalised word in an actor column, or a known name, is a person."""
    text = (
        "## Timeline\n\nAll times UTC.\n\n- 14:10 Mitigation: traffic shifted to us-west\n"
        "- 14:12 Decision: keep the flag off\n- 14:15 Sarah: paged the database team\n\n"
        "| Time | Actor | Event |\n|---|---|---|\n| 14:20 | Kowalczyk | Restarted the job |\n"
    )
    named = [f.message for f in check_text(text, "pm.md").findings if f.rule == "language.person"]
    assert named == [f"“{name}” is a name in the timeline: use a role" for name in ("Sarah", "Kowalczyk")]


def test_a_reminder_without_a_type_is_not_told_it_reads_as_a_good_type():
    """The missing-type advice names the type an item reads as only when the item is not itself
    reported as relying on people: "Remind the team…" is no decision-policy."""
    from checks.engine import check_text

    item = "- Remind the team to double-check configs before deploying (owner: @dave-ops)"
    text = f"## Action items\n\n{item}\n"
    [missing] = [f for f in check_text(text).findings if f.rule == "action-items.missing-type"]
    assert "decision-policy." not in missing.suggestion and "relies on people" in missing.suggestion


def _sentences_token_by_token(tokens):
    """Sentence numbers, starts and ends as first computed, one token at a time (the reference)."""
    sentence_of, sentence_start, sentence, start = [], [], 0, 0
    for index, token in enumerate(tokens):
        sentence_of.append(sentence)
        sentence_start.append(start)
        if token.kind == "punct" and token.text in language.SENTENCE_END:
            sentence += 1
            start = index + 1
    return sentence_of, sentence_start, {number: i + 1 for i, number in enumerate(sentence_of)}


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "...",
        "Dave forgot. Then he left",
        "Done. Really done!",
        "a? b! c. d",
        "No end at all",
        "@x. y.",
    ],
)
def test_sentence_bounds_are_those_of_the_token_by_token_walk(text):
    prose = language.Text(Prose(Span(0, len(text)), text, "paragraph", None))
    sentence_of, sentence_start, sentence_end = _sentences_token_by_token(prose.tokens)
    expected = [(sentence_start[i], sentence_end[sentence_of[i]]) for i in range(len(prose.tokens))]
    assert [prose.sentence(i) for i in range(len(prose.tokens))] == expected
    ranges = sorted(set(expected))
    assert list(language.sentence_ranges(prose)) == ranges


def test_a_lone_at_sign_names_nobody():
    # "@" followed by a space was once a handle: "caused by @ the script" named "@" as the cause,
    # and a timeline's "page sent to @ oncall" asked for a role instead of "@".
    assert not [h for h in hits("The outage was caused by @ the deploy script.") if "“@”" in h.message]
    assert not [h for h in hits("14:02 page sent to @ oncall", timeline=True) if "“@”" in h.message]
    assert [h for h in hits("The outage was caused by @raj.") if "“@raj”" in h.message]
