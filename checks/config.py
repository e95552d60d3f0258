"""Configuration: strict loading of `.github/blameless.yml` against `data/config_schema.yaml`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from checks.packaged import packaged_yaml

if TYPE_CHECKING:
    import yaml

# PyYAML is imported only where a user's config file is read or one is written (`yaml` inside the
# functions below): the defaults come from the cached schema, and `--version` or a check without a
# config file never pays for the YAML parser.

DEFAULT_CONFIG_PATH = ".github/blameless.yml"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file, located by key path and line."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(ValueError):
    """A config file that cannot be used; `problems` names each file, line and key."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@cache
def schema() -> dict:
    return packaged_yaml("data/config_schema.yaml")


def defaults(spec: dict | None = None) -> dict:
    """The default value of every key in the schema, as plain data."""
    spec = schema() if spec is None else spec
    out = {}
    for key, entry in spec.items():
        if entry["type"] == "object":
            out[key] = defaults(entry["keys"])
        else:
            out[key] = copy.deepcopy(entry["default"])
    return out


@dataclass(frozen=True)
class Config:
    """A validated configuration; `data` has every schema key, defaults filled in."""

    data: dict = field(default_factory=defaults)
    source: str = "<defaults>"

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def section(self, name: str) -> dict:
        return self.data[name]

    def rule_level(self, rule_id: str) -> str | None:
        """The configured level for a rule: None for the rule's own, "off" to disable it."""
        return self.data["rules"].get(rule_id)


TERM_KEYS = ("pattern", "message", "suggestion", "level")
TERM_LEVELS = ("error", "warning", "notice")
TERM_PATTERN_MAX = 200


def did_you_mean(name: str, known) -> str:
    """` (did you mean "x"?)` for the closest known name, or nothing when none is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.85)
    return f' (did you mean "{close[0]}"?)' if close else ""


class _Validator:
    def __init__(self, file: str, known_rules: frozenset[str] | None):
        self.file = file
        self.known_rules = known_rules
        self.problems: list[ConfigProblem] = []

    def fail(self, node: yaml.Node | None, key: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(ConfigProblem(self.file, line, key, message))

    def value(self, node: yaml.Node, spec: dict, key: str) -> Any:
        kind = spec["type"]
        handler = getattr(self, f"_{kind}")
        return handler(node, spec, key)

    def _object(self, node, spec, key):
        import yaml

        result = defaults(spec["keys"])
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, "must be a mapping")
            return result
        for key_node, value_node in node.value:
            name = key_node.value
            path = f"{key}.{name}" if key else name
            entry = spec["keys"].get(name)
            if entry is None:
                known = ", ".join(spec["keys"])
                hint = did_you_mean(str(name), spec["keys"])
                self.fail(key_node, path, f"unknown key{hint} (expected one of: {known})")
                continue
            result[name] = self.value(value_node, entry, path)
        return result

    def _scalar(self, node, key, tag_ok, expected):
        import yaml

        if not isinstance(node, yaml.ScalarNode) or not tag_ok(node.tag):
            self.fail(node, key, f"must be {expected}")
            return None
        return yaml.safe_load(yaml.serialize(node))

    def _string(self, node, spec, key):
        import yaml

        if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":null",)):
            self.fail(node, key, "must be a string, not empty")
            return spec.get("default", "")
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        self.fail(node, key, "must be a string")
        return spec.get("default", "")

    def _bool(self, node, spec, key):
        value = self._scalar(node, key, lambda t: t.endswith(":bool"), "true or false")
        return spec.get("default") if value is None else value

    def _int(self, node, spec, key):
        value = self._scalar(node, key, lambda t: t.endswith(":int"), "a whole number")
        if value is not None and value < 0:
            self.fail(node, key, "must not be negative")
        return spec.get("default") if value is None else value

    def _enum(self, node, spec, key):
        import yaml

        choices = [str(c) for c in spec["choices"]]
        raw = node.value if isinstance(node, yaml.ScalarNode) else None
        # YAML 1.1 reads a bare `off` as false: accept it as the word the user wrote.
        if raw is not None and raw in choices:
            return raw
        self.fail(node, key, f"must be one of: {', '.join(choices)}")
        return spec.get("default")

    def _list(self, node, spec, key):
        import yaml

        if isinstance(node, yaml.ScalarNode) and spec["items"] == "string" and node.value:
            return [node.value]  # a single glob or label is a list of one, as users write it
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, key, "must be a list")
            return spec.get("default", [])
        item_spec = spec["items"] if isinstance(spec["items"], dict) else {"type": spec["items"]}
        out = []
        for index, item in enumerate(node.value):
            value = self.value(item, item_spec, f"{key}[{index}]")
            if value is not None:
                out.append(value)
        return out

    def _map(self, node, spec, key):
        import yaml

        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, "must be a mapping")
            return {}
        out = {}
        for key_node, value_node in node.value:
            name = str(key_node.value)
            path = f"{key}.{name}"
            if key == "rules" and self.known_rules is not None and name not in self.known_rules:
                hint = did_you_mean(name, self.known_rules)
                self.fail(key_node, path, f"unknown rule id{hint} (see the README's rule list)")
                continue
            out[name] = self.value(value_node, spec["values"], path)
        return out

    def _term(self, node, spec, key):
        import yaml

        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, "must be a mapping with pattern and message")
            return None
        term: dict[str, Any] = {"level": "warning", "suggestion": None}
        for key_node, value_node in node.value:
            name = key_node.value
            path = f"{key}.{name}"
            if name not in TERM_KEYS:
                hint = did_you_mean(str(name), TERM_KEYS)
                self.fail(key_node, path, f"unknown key{hint} (expected pattern, message, suggestion, level)")
            elif name == "level":
                term[name] = self._enum(value_node, {"choices": list(TERM_LEVELS)}, path)
            else:
                term[name] = self._string(value_node, {}, path)
        for required in ("pattern", "message"):
            if not term.get(required):
                self.fail(node, f"{key}.{required}", "is required")
                return None
        if len(term["pattern"]) > TERM_PATTERN_MAX:
            self.fail(node, f"{key}.pattern", f"is longer than {TERM_PATTERN_MAX} characters")
            return None
        return term


def parse_config(text: str, file: str = DEFAULT_CONFIG_PATH, known_rules=None) -> Config:
    """Validate config text; raise ConfigError naming file, line and key for each problem."""
    import yaml

    if known_rules is None:
        from checks.rules.catalog import rule_ids

        known_rules = rule_ids()
    from checks import user_yaml

    try:
        root = user_yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(file, line, "", f"not valid YAML: {problem}")]) from None
    if root is None:  # an empty file means "all defaults"
        return Config(source=file)
    validator = _Validator(file, frozenset(known_rules))
    data = validator.value(root, {"type": "object", "keys": schema()}, "")
    if validator.problems:
        raise ConfigError(validator.problems)
    _check_globs(data, validator)
    if validator.problems:
        raise ConfigError(validator.problems)
    return Config(data=data, source=file)


def _check_globs(data: dict, validator: _Validator) -> None:
    for glob in data["paths"] + data["exclude"]:
        if glob.startswith("/") or ".." in glob.split("/"):
            validator.fail(None, "paths", f"glob {glob!r} must be relative to the repository root")


# `**` spans folders, `*` and `?` stay within one, `[0-9]` and `{a,b}` work as in a shell, and
# dot-folders such as `.incidents/` are matched like any other. wcmatch compiles each glob with
# atomic groups, so matching is linear in the path's length (a hand-rolled translation to regex
# backtracked exponentially on globs like `*a*a*a*a*c.md`).
@cache
def glob_matcher(globs: tuple[str, ...]) -> Callable[[str], bool]:
    """One compiled matcher for a list of globs (relative to the repository root)."""
    if not globs:
        return lambda path: False
    from wcmatch import glob as wcglob  # imported when a glob is first matched, not at start-up

    flags = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB | wcglob.FORCEUNIX
    return wcglob.compile(list(globs), flags=flags).match


def repo_relative(path: str) -> str:
    """`./x/y.md` as `x/y.md`: only the `./` prefixes go (a dot-folder like `.incidents/` stays)."""
    while path.startswith("./"):
        path = path[2:]
    return path


def selects(config: Config, path: str) -> bool:
    """True when `path` is a postmortem document under this config's paths and not excluded."""
    path = repo_relative(path)
    if excluded(config, path):
        return False
    return glob_matcher(tuple(config["paths"]))(path)


def excluded(config: Config, path: str) -> bool:
    """True when the config's `exclude` names this file (whatever its `paths` say)."""
    return glob_matcher(tuple(config["exclude"]))(repo_relative(path))


def render_commented(spec: dict | None = None, indent: str = "") -> str:
    """The config file `blameless init` writes: every key at its default, each with its description."""
    import yaml

    spec = schema() if spec is None else spec
    lines: list[str] = []
    for key, entry in spec.items():
        lines.append(f"{indent}# {entry['description']}")
        if entry["type"] == "object":
            lines.append(f"{indent}{key}:")
            lines.append(render_commented(entry["keys"], indent + "  ").rstrip("\n"))
        else:
            dumped = yaml.safe_dump({key: entry["default"]}, default_flow_style=True, sort_keys=False)
            lines.append(indent + dumped.strip().removeprefix("{").removesuffix("}"))
    return "\n".join(lines) + "\n"


# --- the JSON Schema ----------------------------------------------------------------------------

JSON_SCHEMA_FILE = "data/blameless.schema.json"
JSON_SCHEMA_ID = (
    "https://raw.githubusercontent.com/blameless-bot/blameless-bot/main/checks/" + JSON_SCHEMA_FILE
)


def json_schema(rule_ids: frozenset[str] | None = None) -> dict:
    """`.github/blameless.yml` as a JSON Schema (draft-07, as SchemaStore and editors read it),
    generated from `data/config_schema.yaml`, the one description the validator also follows."""
    if rule_ids is None:
        from checks.rules.catalog import rule_ids as known_rules

        rule_ids = known_rules()
    document = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": JSON_SCHEMA_ID,
        "title": "Blameless Bot configuration (.github/blameless.yml)",
        **_json_object(schema(), sorted(rule_ids)),
    }
    return document


def _json_object(keys: dict, rule_ids: list[str]) -> dict:
    return {
        "type": "object",
        "properties": {name: _json_entry(name, entry, rule_ids) for name, entry in keys.items()},
        "additionalProperties": False,
    }


def _json_entry(name: str, entry: dict, rule_ids: list[str]) -> dict:
    if entry["type"] == "object":
        out = _json_object(entry["keys"], rule_ids)
    else:
        out = _json_type(entry, rule_ids, rules=name == "rules")
    if "description" in entry:
        out = {"description": entry["description"], **out}
    if "default" in entry:
        out["default"] = entry["default"]
    return out


def _json_type(spec: dict | str, rule_ids: list[str], rules: bool = False) -> dict:
    spec = {"type": spec} if isinstance(spec, str) else spec
    kind = spec["type"]
    if kind == "string":
        return {"type": "string"}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "int":
        return {"type": "integer", "minimum": 0}
    if kind == "enum":
        return {"enum": [str(c) for c in spec["choices"]]}
    if kind == "list":
        array = {"type": "array", "items": _json_type(spec["items"], rule_ids)}
        if spec["items"] == "string":  # a single glob or label is a list of one
            return {"anyOf": [{"type": "string", "minLength": 1}, array]}
        return array
    if kind == "map":
        values = _json_type(spec["values"], rule_ids)
        if rules:
            return {
                "type": "object",
                "properties": {rule_id: values for rule_id in rule_ids},
                "additionalProperties": False,
            }
        return {"type": "object", "additionalProperties": values}
    if kind == "term":
        return {
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "minLength": 1, "maxLength": TERM_PATTERN_MAX},
                "message": {"type": "string", "minLength": 1},
                "suggestion": {"type": "string"},
                "level": {"enum": list(TERM_LEVELS), "default": "warning"},
            },
            "required": ["pattern", "message"],
            "additionalProperties": False,
        }
    raise ValueError(f"config_schema.yaml: unknown type {kind!r}")


def render_json_schema() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
