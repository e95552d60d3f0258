"""Config: strict validation that names file, line and key; defaults from the one schema."""

import json
import time
from importlib import resources
from pathlib import Path

import pytest
import yaml

from checks import user_yaml
from checks.config import (
    ConfigError,
    defaults,
    parse_config,
    render_commented,
    render_json_schema,
    schema,
    selects,
)


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
            "rules:\n  language.zzz: off\n",
            (2, "rules.language.zzz", "unknown rule id (see the README's rule list)"),
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


@pytest.mark.parametrize(
    ("glob", "path", "selected"),
    [
        ("pm/{2025,2026}-*.md", "pm/2026-db.md", True),
        ("pm/{2025,2026}-*.md", "pm/2024-db.md", False),
        ("pm/[0-9][0-9]-*.md", "pm/12-db.md", True),
        ("pm/[0-9][0-9]-*.md", "pm/ab-db.md", False),
        (".incidents/**/*.md", ".incidents/2026/x.md", True),
        (".incidents/**/*.md", "./.incidents/x.md", True),
        ("*/x.md", "a/b/x.md", False),
    ],
)
def test_globs_know_braces_classes_and_dot_folders(glob, path, selected):
    config = parse_config(f"paths: ['{glob}']\nexclude: []\n", "c.yml")
    assert selects(config, path) is selected


def test_a_dot_prefix_is_removed_as_a_prefix_not_as_characters():
    config = parse_config("paths: ['incidents/*.md']\nexclude: []\n", "c.yml")
    assert selects(config, "./incidents/x.md")
    assert not selects(config, ".incidents/x.md")  # lstrip("./") made this `incidents/x.md`


def test_glob_matching_is_linear_in_the_file_name():
    """A glob with many stars against a long name that almost matches: a backtracking matcher
    takes minutes here (each star retried at every position); a linear one microseconds."""
    config = parse_config("paths: ['docs/*a*a*a*a*a*a*a*a*c.md']\nexclude: []\n", "c.yml")
    started = time.perf_counter()
    assert not selects(config, "docs/" + "a" * 120 + ".md")
    assert time.perf_counter() - started < 2.0


def test_unknown_names_come_with_the_closest_known_one():
    assert problems("timeline:\n  requre_timezone: false\n")[0][2].startswith(
        'unknown key (did you mean "require_timezone"?)'
    )
    assert (
        'unknown rule id (did you mean "timeline.timezone"?)'
        in problems("rules:\n  timeline.timezon: off\n")[0][2]
    )
    assert "did you mean" not in problems("zzz: 1\n")[0][2]


# --- the JSON Schema ------------------------------------------------------------------------------

SHIPPED_SCHEMA = Path(__file__).parent.parent / "checks" / "data" / "blameless.schema.json"


def test_the_shipped_json_schema_is_generated_from_config_schema_yaml():
    """checks/data/config_schema.yaml is the source; `blameless schema > checks/data/blameless.schema.json`
    regenerates the file editors and SchemaStore read."""
    assert SHIPPED_SCHEMA.read_text("utf-8") == render_json_schema()
    assert resources.files("checks").joinpath("data/blameless.schema.json").is_file()


AGREEMENT = [
    "",
    "paths: docs/**/*.md\n",
    "paths: [a/*.md, b/*.md]\nexclude: []\nfail_on: warning\n",
    "rules:\n  timeline.timezone: off\n  language.hindsight: warning\n",
    "sections:\n  aliases:\n    impact: [Customer impact]\n",
    "language:\n  terms:\n    - pattern: ninja\n      message: say engineer\n      level: notice\n",
    "incidents:\n  due_days: {sev1: 3, default: 10}\n  draft_pr: true\n",
    "action_items:\n  team_owners: {org/sre: octo}\n",
    "fail_on: sometimes\n",
    "bogus: 1\n",
    "rules:\n  language.nope: off\n",
    "rules:\n  timeline.timezone: loud\n",
    "timeline:\n  require_timezone: maybe\n",
    "incidents:\n  due_days:\n    sev1: soon\n",
    "language:\n  terms:\n    - message: x\n",
    "language:\n  terms:\n    - pattern: x\n      message: y\n      colour: red\n",
    f"language:\n  terms:\n    - pattern: {'x' * 201}\n      message: y\n",
    "paths: {a: b}\n",
    "timeline:\n  milestones: [start, lunch]\n",
]


@pytest.mark.parametrize("text", AGREEMENT)
def test_the_json_schema_and_the_validator_agree(text):
    """What an editor accepts with the JSON Schema (YAML 1.2, as yaml-language-server and
    check-jsonschema read it) is what `blameless` accepts, and the other way round."""
    import jsonschema
    from ruamel.yaml import YAML

    instance = YAML(typ="safe").load(text) or {}
    schema_valid = jsonschema.Draft7Validator(json.loads(SHIPPED_SCHEMA.read_text("utf-8"))).is_valid(
        instance
    )
    try:
        parse_config(text, "c.yml")
        validator_valid = True
    except ConfigError:
        validator_valid = False
    assert schema_valid == validator_valid
