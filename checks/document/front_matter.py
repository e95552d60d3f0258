"""Front matter as PyYAML's safe loader reads it, without its scanner for the usual shape.

Front matter is mostly a few `key: value` lines. PyYAML's pure-Python scanner and parser (the
loader whose error messages the findings quote) cost most of a small document's YAML time; for
lines of that shape the nodes they would compose are plain to see, so they are made here and
given to PyYAML's own resolver (which types "2026-03-14", "3", "yes") and safe constructor. Any
other text, and any value the constructor refuses, goes through the full loader as before.
"""

from __future__ import annotations

import re

import yaml
from yaml.nodes import MappingNode, ScalarNode

from checks import user_yaml

# One pair on one line from the first column: a plain key, then a plain value or none. Printable
# ASCII only, no "#" (a comment), no ": " or closing ":" inside the value (an error in YAML), and
# the value starts with none of YAML's indicators (quotes, "&", "*", "!", "|", ">", "[", "-" …).
_PAIR = re.compile(
    r"(?P<key>[A-Za-z0-9_][A-Za-z0-9_-]{0,99}):"
    r"(?: +(?P<value>[A-Za-z0-9_.~/(+$](?:[ -\"$-9;-~]|:(?=[!-\"$-~]))*?))? *"
)
_BLANK = re.compile(r" *")
# Plain scalars: typed from their text, as the parser marks an untagged plain scalar.
_PLAIN = (True, False)
_MAP_TAG = "tag:yaml.org,2002:map"


def load(text: str):
    """`user_yaml.safe_load(text)`: the same value, or the same error."""
    loader = yaml.SafeLoader("")  # its resolver and constructor, as configured for the full load
    try:
        node = flat_mapping(text, loader)
        if node is not None:
            try:
                return loader.construct_document(node)
            except Exception:
                pass  # the full loader raises it again, in its own words
    finally:
        loader.dispose()
    return user_yaml.safe_load(text)


def flat_mapping(text: str, resolver: yaml.resolver.BaseResolver) -> MappingNode | None:
    """The node PyYAML composes for lines of `key: value` pairs and blank lines, or None when
    the text has any other line (or no pair)."""
    pairs = []
    for line in text.split("\n"):
        pair = _PAIR.fullmatch(line)
        if pair is None:
            if _BLANK.fullmatch(line):
                continue
            return None
        key, value = pair.group("key"), pair.group("value") or ""
        pairs.append(
            (
                ScalarNode(resolver.resolve(ScalarNode, key, _PLAIN), key),
                ScalarNode(resolver.resolve(ScalarNode, value, _PLAIN), value),
            )
        )
    return MappingNode(_MAP_TAG, pairs) if pairs else None
