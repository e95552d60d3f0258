"""Config: strict validation that names file, line and key; defaults from the one schema."""

import pytest
import yaml

from checks import user_yaml
from checks.config import ConfigError, defaults, parse_config, render_commented, schema, selects


def problems(text):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, ".github/blameless.yml")
    return [(p.line, p.key, p.message) for p in caught.value.problems]


def test_empty_file_means_defaults():
    config = parse_config("", "c.yml")
    assert config.data == defaults()
    assert config["incidents"]["labels"] == ["incident"]


def test_unknown_key_names_file_line_and_key():
    with pytest.raises(ConfigError) as caught:
        parse_config("paths: [a.md]\ntimeline:\n  requre_timezone: false\n", ".github/blameless.yml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (
        ".github/blameless.yml",
        3,
        "timeline.requre_timezone",
    )
    assert str(problem).startswith(".github/blameless.yml:3: timeline.requre_timezone: unknown key")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fail_on: sometimes\n", (1, "fail_on", "must be one of: error, warning, never")),
        ("timeline:\n  require_timezone: maybe\n", (2, "timeline.require_timezone", "must be true or false")),
        (
            "rules:\n  language.nope: off\n",
            (2, "rules.language.nope", "unknown rule id (see the README's rule list)"),
        ),
        (
            "rules:\n  timeline.timezone: loud\n",
            (2, "rules.timeline.timezone", "must be one of: off, error, warning, notice"),
        ),
        (
            "incidents:\n  due_days:\n    sev1: soon\n",
            (3, "incidents.due_days.sev1", "must be a whole number"),
        ),
        ("language:\n  terms:\n    - message: x\n", (3, "language.terms[0].pattern", "is required")),
        ("paths: {a: b}\n", (1, "paths", "must be a list")),
    ],
)
def test_bad_values_are_located(text, expected):
    assert expected in problems(text)


def test_every_problem_is_reported_at_once():
    assert len(problems("fail_on: x\nbogus: 1\ntimeline: 3\n")) == 3


def test_invalid_yaml_is_a_config_error_with_a_line():
    ((line, _key, message),) = problems("paths: [a\nfail_on: error\n")
    assert line >= 1 and message.startswith("not valid YAML")


@pytest.mark.parametrize(
    "text",
    ["paths: " + "[" * 2000 + "]" * 2000, "".join("  " * i + f"k{i}:\n" for i in range(2000))],
    ids=["flow", "block"],
)
def test_yaml_nested_thousands_deep_is_a_config_error(text):
    ((line, _key, message),) = problems(text)
    assert line >= 1 and message == "not valid YAML: nested more than 50 levels deep"


def test_nesting_up_to_the_bound_loads_and_one_more_level_is_refused():
    deepest = user_yaml.safe_load("[" * user_yaml.MAX_DEPTH + "1" + "]" * user_yaml.MAX_DEPTH)
    for _ in range(user_yaml.MAX_DEPTH):
        (deepest,) = deepest
    assert deepest == 1
    with pytest.raises(yaml.YAMLError):
        user_yaml.safe_load("[" * (user_yaml.MAX_DEPTH + 1) + "]" * (user_yaml.MAX_DEPTH + 1))


def test_off_is_the_word_not_yaml_false_and_scalars_become_lists():
    config = parse_config("rules:\n  timeline.timezone: off\npaths: docs/**/*.md\n", "c.yml")
    assert config.rule_level("timeline.timezone") == "off"
    assert config["paths"] == ["docs/**/*.md"]


def test_commented_config_round_trips_to_the_defaults():
    text = render_commented()
    assert parse_config(text, "c.yml").data == defaults()
    # every key in the schema carries its description into the file
    for key, entry in schema().items():
        assert f"# {entry['description']}" in text
        assert yaml.safe_load(text)[key] is not None or entry["type"] != "object"


@pytest.mark.parametrize(
    ("path", "selected"),
    [
        ("docs/postmortems/2026-01-01-x.md", True),
        ("docs/postmortems/2026/q1/x.md", True),
        ("docs/postmortems/README.md", False),
        ("docs/postmortems/TEMPLATE.md", False),
        ("docs/other/x.md", False),
        ("docs/postmortems/x.txt", False),
    ],
)
def test_paths_select_postmortem_documents(path, selected):
    assert selects(parse_config("", "c.yml"), path) is selected
