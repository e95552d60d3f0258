"""The rule catalog: every rule's header (level, message, why) read from `rules/<family>/<name>.yaml`.

A rule's id is its file: `rules/language/moral.yaml` is `language.moral`, so an id in any output
leads straight to the data that defines it. Pattern rules carry their patterns in the same file;
rules that need structure are code in the family's module and keep only their header here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

from checks.findings import FAMILIES, Level


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    message: str
    why: str
    suggestion: str | None = None
    data: dict = field(default_factory=dict, compare=False, hash=False)  # the rest of the file

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def file(self) -> str:
        family, name = self.id.split(".", 1)
        return f"checks/rules/{family}/{name}.yaml"


HEADER_KEYS = ("level", "message", "why", "suggestion")


def _load(family: str, name: str, text: str) -> Rule:
    data = yaml.safe_load(text) or {}
    rule_id = f"{family}.{name}"
    for key in ("level", "message", "why"):
        if not data.get(key):
            raise ValueError(f"checks/rules/{family}/{name}.yaml: missing {key!r}")
    extra = {k: v for k, v in data.items() if k not in HEADER_KEYS}
    return Rule(
        id=rule_id,
        level=Level.parse(data["level"]),
        message=data["message"].strip(),
        why=" ".join(data["why"].split()),
        suggestion=data.get("suggestion"),
        data=extra,
    )


@cache
def catalog() -> dict[str, Rule]:
    """All rules by id, in family order then file name order."""
    rules: dict[str, Rule] = {}
    root = resources.files("checks").joinpath("rules")
    for family in FAMILIES:
        folder = root.joinpath(family)
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                rule = _load(family, entry.name.removesuffix(".yaml"), entry.read_text("utf-8"))
                rules[rule.id] = rule
    return rules


def rule(rule_id: str) -> Rule:
    return catalog()[rule_id]


def rule_ids() -> frozenset[str]:
    return frozenset(catalog())
