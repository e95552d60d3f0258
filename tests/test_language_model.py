"""The trained detector's plumbing: scoring, levels by confidence, evidence in the message, the
places it does not look, config `allow`, and the action-item kinds. A small hand-made model stands
in for the shipped one so each behaviour is tested on its own."""

from __future__ import annotations

import json
import math

import pytest

from bench import corpus
from checks.engine import check_text
from checks.findings import Level
from checks.rules import language
from checks.rules.catalog import catalog
from checks.rules.language_model import evidence
from checks.rules.language_model import model as trained
from tests.test_language_evidence_speed import plain_margins


def linear(classes, weights, thresholds, error_thresholds=None, multiclass=False, bias=-4.0):
    return trained.Linear(
        classes=tuple(classes),
        bias=tuple(bias for _ in classes),
        weights={name: tuple(row) for name, row in weights.items()},
        thresholds=thresholds,
        error_thresholds=error_thresholds or {},
        multiclass=multiclass,
    )


@pytest.fixture
def fake_model(monkeypatch):
    """'zorble' is blame by a person (confidence 0.73); 'zorble zorble' raises it to 0.98."""
    shipped = trained.load()
    sentences = linear(
        ["blameful", "person", "moral"],
        {"w:zorble": [5.0, 5.0, 0.0], "b:zorble zorble": [4.0, 4.0, 0.0]},
        {"blameful": 0.5, "person": 0.5, "moral": 0.5},
        {"person": 0.95},
    )
    items = linear(
        list(corpus.ITEM_KINDS),
        {"w:ponder": [0, 0, 0, 0, 0, 9.0], "w:widget": [9.0, 0, 0, 0, 0, 0]},
        {"people": 0.6, "vague": 0.6, "type": 0.9},
        multiclass=True,
        bias=0.0,
    )
    model = trained.Model(lexicon=shipped.lexicon, sentences=sentences, items=items)
    monkeypatch.setattr(trained, "load", lambda: model)
    return model


def findings(text: str, config: str | None = None):
    from checks.config import parse_config

    cfg = parse_config(config, "blameless.yml") if config else None
    return [f for f in check_text(text, "pm.md", cfg).findings if f.rule.startswith(("language", "action"))]


def test_sigmoid_and_softmax_scores():
    model = linear(["a", "b"], {"x": [1.0, -1.0]}, {}, bias=0.0)
    scores = model.scores(["x", "x", "unknown"])  # a feature counts once
    assert scores["a"] == pytest.approx(1 / (1 + math.exp(-1)))
    soft = linear(["a", "b"], {"x": [1.0, -1.0]}, {}, multiclass=True, bias=0.0).scores(["x"])
    assert soft["a"] + soft["b"] == pytest.approx(1.0) and soft["a"] > soft["b"]


def test_a_model_finding_quotes_its_evidence_and_confidence(fake_model):
    (finding,) = findings("The deploy went out and then zorble happened at noon.\n")
    assert finding.rule == "language.person"
    assert "“zorble”" in finding.message and "confidence 0.73" in finding.message
    assert finding.level == Level.WARNING  # below the category's error threshold


def test_a_finding_quotes_the_agent_before_bare_words(monkeypatch, fake_model):
    """A word's weight may be the larger, but a reader can check an agent or a blame word."""
    sentences = linear(
        ["blameful", "person"], {"w:zorble": [3.0, 3.0], "a:by-name": [2.0, 2.0]}, {"person": 0.5}, bias=-3.0
    )
    monkeypatch.setattr(
        trained, "load", lambda: trained.Model(fake_model.lexicon, sentences, fake_model.items)
    )
    (finding,) = findings("The zorble rule was removed on Friday by Sigrún.\n")
    assert "evidence: “Sigrún”;" in finding.message
    assert finding.column == len("The zorble rule was removed on Friday by ") + 1


def test_higher_confidence_makes_an_error(fake_model):
    (finding,) = findings("The deploy went out and then zorble zorble happened.\n")
    assert finding.level == Level.ERROR


def test_below_the_threshold_nothing_is_reported(fake_model):
    assert findings("The deploy went out and then nothing happened at noon.\n") == []


def test_headings_short_labels_and_action_items_are_not_scored(fake_model):
    text = (
        "## Zorble zorble everywhere\n\nZorble zorble.\n\n"
        "## Action items\n\n- zorble zorble the thing, owner @kim\n"
    )
    assert [f for f in findings(text) if f.rule.startswith("language")] == []


def test_a_quoted_phrase_being_discussed_is_not_reported(fake_model):
    assert findings('We avoid wording like "zorble zorble" in our reviews of the outage.\n') == []


def test_config_allow_suppresses_a_model_finding(fake_model):
    assert (
        findings("The deploy went out and then zorble happened at noon.\n", "language:\n  allow: [zorble]\n")
        == []
    )


def test_vague_item_and_inferred_type_suggestion(fake_model):
    text = "## Action items\n\n- Ponder the alerting story — owner @kim, due 2026-05-01\n"
    rules = {f.rule: f for f in findings(text)}
    assert "action-items.vague" in rules
    assert "reads as a" in rules["action-items.missing-type"].suggestion


def test_declared_type_the_text_contradicts_is_a_warning_with_the_inferred_type(fake_model):
    text = "## Action items\n\n- Add a widget — type: constraint, owner @kim, due 2026-05-01\n"
    (mismatch,) = [f for f in findings(text) if f.rule == "action-items.type-mismatch"]
    assert mismatch.level == Level.WARNING and "guardrail" in mismatch.message
    assert "guardrail" in mismatch.suggestion


def test_matching_type_is_not_a_mismatch(fake_model):
    text = "## Action items\n\n- Add a widget — type: guardrail, owner @kim, due 2026-05-01\n"
    assert [f for f in findings(text) if f.rule == "action-items.type-mismatch"] == []


def test_shipped_model_is_small_and_covers_every_category():
    data = json.loads(trained.MODEL_PATH.read_text("utf-8"))
    assert trained.MODEL_PATH.stat().st_size < 1_000_000
    assert set(data["sentences"]["classes"]) == {language.OVERALL, *corpus.CATEGORIES}
    assert set(data["items"]["classes"]) == set(corpus.ITEM_KINDS)
    assert {f"language.{c}" for c in corpus.CATEGORIES} <= set(catalog())
    assert all(0 < t <= 1 for t in data["sentences"]["thresholds"].values())


def evidence_of(sentence: str) -> set[str]:
    """The names of every feature the detector sees in one sentence."""
    from checks.config import Config

    text = language.Text(corpus.sentence_document(corpus.Sentence(sentence, frozenset(), "x")).prose[0])
    analyzer = language.analyzer_for(Config())
    return {n for n, _ in language.sentence_evidence(text, analyzer, [], 0, len(text.tokens))}


def test_evidence_names_the_agent_the_predicate_and_the_framing():
    names = evidence_of("Had Marisol's migration been reviewed by Tavita, we would have caught it.")
    assert {"a:poss-name", "a:by-name", "f:had-inversion", "f:counterfactual"} <= names


def test_an_omission_is_owned_only_when_a_person_comes_before_it():
    assert "f:omission" in evidence_of("He merged it without waiting for CI.")
    assert "f:without-check-owned" in evidence_of("He merged it without waiting for CI.")
    unowned = evidence_of("The job ran without waiting for the lock.")
    assert "f:omission-unowned" in unowned
    assert "f:omission" not in unowned


def test_a_harm_noun_after_a_determiner_is_not_a_persons_act():
    def person_harms(sentence):
        return {n for n in evidence_of(sentence) if n.startswith("ap:name") and n.endswith(">harm")}

    assert person_harms("Leilani deployed the config to every region.")
    assert not person_harms("Leilani watched the deploy to every region.")


def test_a_counterfactual_about_a_thing_is_told_apart_from_one_about_a_person():
    thing = evidence_of("The health check should have caught it.")
    person = evidence_of("The reviewer should have caught it.")
    assert "f:cf-thing" in thing
    assert "f:cf-thing" not in person
    assert "f:cf-agent-role" in person


def test_hr_needs_its_two_words_and_firing_needs_a_person():
    assert "c:hr" in evidence_of("Whoever did this will be written up.")
    assert "c:hr" not in evidence_of("The write-up was published on Monday.")
    assert "c:hr-fire" in evidence_of("The contractor was fired the next day.")
    assert "c:hr-fire" not in evidence_of("The alert fired at 14:02.")


def test_a_culprit_hunt_and_human_error_as_a_design_goal():
    assert "f:who-did" in evidence_of("Who merged this without a review?")
    assert "f:designed-for-error" in evidence_of("We build systems that tolerate human error.")
    assert "f:designed-for-error" not in evidence_of("The outage was caused by human error.")


def test_item_features_mark_people_and_vague_words():
    lexicon = trained.load().lexicon
    assert "c:people" in evidence.item_features("Remind engineers to check the lag", lexicon)
    assert "first-c:vague" in evidence.item_features("Investigate whether alerting could be better", lexicon)


def test_item_shape_says_what_an_item_asks_of_whom():
    lexicon = trained.load().lexicon

    def shape(text):
        return {f for f in evidence.item_features(text, lexicon) if f.startswith("s:")}

    assert "s:be-adjective" in shape("Be more careful with production credentials")
    assert "s:duty-on-people" in shape("Engineers must double-check the target bucket")
    assert "s:make-sure-people" in shape("Make sure everyone knows the freeze window")
    assert "s:make-sure" in shape("Make sure the deploy aborts on a failed canary")
    assert "s:pay-attention" in shape("Pay attention to replication lag during failovers")
    assert "s:open-question" in shape("How do we detect a stale cache sooner?")
    assert "s:hedge" in shape("Maybe add a dashboard for queue depth")


def test_training_a_machine_is_not_teaching_people():
    lexicon = trained.load().lexicon
    assert "c:teach" in evidence.item_features("Train the on-call engineers on failover", lexicon)
    assert "c:teach" not in evidence.item_features("Version the training data with each model", lexicon)


def test_margins_are_bitwise_those_of_the_plain_loop():
    import random

    shipped = trained.load()
    rng = random.Random(12)
    for linear in (shipped.sentences, shipped.items):
        names = sorted(linear.weights)
        for size in (0, 1, 2, 5, 30, 120):
            for _ in range(20):
                features = rng.sample(names, min(size, len(names))) + ["not-a-feature"] * (size % 3)
                rng.shuffle(features)
                expected = plain_margins(linear, features)
                got = linear.margins(iter(features))
                assert [x.hex() for x in got] == [x.hex() for x in expected]


def test_the_reminder_alternation_finds_what_the_separate_patterns_find():
    from checks.rules import action_items

    assert action_items.reminder_pattern() is not None  # the shipped patterns combine
    texts = [item.text for item in corpus.corpus_items({"train", "dev", "test"})]
    texts += [s.text for s in corpus.corpus_sentences({"train", "dev", "test"})]
    texts += ["Remind the team to double-check and be more careful", "Train engineers; remember to retrain"]
    reminded = 0
    for text in texts:
        separate = [m for p in action_items.reminder_patterns() if (m := p.search(text))]
        expected = min(separate, key=lambda m: m.start()) if separate else None
        got = action_items.reminder_match(text)
        assert (got and got.span()) == (expected and expected.span()), text
        reminded += got is not None
    assert reminded > 20  # the texts exercise the patterns, not only their absence


def test_packed_weights_are_bitwise_the_plain_rows():
    names = ["w:blame", "w:careful", "b:fat finger"]
    rows = [[0.37, -1.05, 0.0], [327.67, -327.68, 0.01], [-0.1, 0.29, 2.3]]
    data = {
        "classes": ["a", "b", "c"],
        "features": names,
        "packed_weights": trained.pack_weights(names, rows),
    }
    unpacked = trained.unpack_weights(data)
    assert list(unpacked) == names
    for name, row in zip(names, rows, strict=True):
        assert [w.hex() for w in unpacked[name]] == [w.hex() for w in row]


def test_packing_refuses_weights_it_would_change():
    with pytest.raises(ValueError, match="w:blame"):
        trained.pack_weights(["w:blame"], [[0.375]])
    with pytest.raises(OverflowError):
        trained.pack_weights(["w:blame"], [[400.0]])


def test_a_truncated_packed_model_is_refused():
    data = {
        "classes": ["a", "b"],
        "features": ["w:x", "w:y"],
        "packed_weights": trained.pack_weights(["w:x"], [[1.0, 2.0]]),
    }
    with pytest.raises(ValueError, match="2 packed weights for 2 features of 2 classes"):
        trained.unpack_weights(data)


def test_rows_unpacked_on_demand_are_bitwise_the_eager_rows():
    """Every shipped row, unpacked the first time it is asked for, in any order and through every
    way of asking, is exactly the row that unpacking the whole table at once gives."""
    import base64
    import random
    import zlib
    from array import array

    data = json.loads(trained.MODEL_PATH.read_text("utf-8"))
    for part in ("sentences", "items"):
        names, width = data[part]["features"], len(data[part]["classes"])
        centi = array("h")
        centi.frombytes(zlib.decompress(base64.b64decode(data[part]["packed_weights"])))
        eager = {
            name: tuple(v / 100 for v in centi[i * width : (i + 1) * width]) for i, name in enumerate(names)
        }
        rows = trained.unpack_weights(data[part])
        assert len(rows) == len(names) and list(rows) == names
        shuffled = random.Random(3).sample(names, len(names))
        half = len(shuffled) // 2
        looked_up = rows.present([*shuffled[:half], "not-a-feature"])
        assert looked_up == [eager[name] for name in shuffled[:half]]
        for name in shuffled:  # half of them already unpacked, half not yet
            assert [w.hex() for w in rows[name]] == [w.hex() for w in eager[name]]
            assert rows.get(name) is rows[name]
        assert "not-a-feature" not in rows and rows.get("not-a-feature") is None


def test_an_items_long_words_share_their_first_letters_across_forms():
    lexicon = trained.load().lexicon
    forms = ("Update the documentation", "Document the failover", "The runbook is documented")
    assert all("p:docu" in evidence.item_features(text, lexicon) for text in forms)
    # Words of five letters or fewer are their own features already: no prefix is added for them.
    assert not [f for f in evidence.item_features("Add a check to the CI job", lexicon) if f.startswith("p:")]
    assert "p:auto" in evidence.item_features("Automate the failover", lexicon)
