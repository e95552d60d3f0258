"""Front matter as PyYAML's safe loader reads it, without PyYAML for the usual shape.

Front matter is mostly a few `key: value` lines. PyYAML's pure-Python scanner and parser (the
loader whose error messages the findings quote) cost most of a small document's YAML time, and
importing PyYAML at all costs a small document's run some 4% more. For lines of that shape the
value is plain to see: a scalar whose first character no implicit resolver of PyYAML's is keyed
by is a string, and the few that are (booleans, nulls, a date) are typed here as its resolver
and safe constructor type them. Any other scalar goes to PyYAML's own resolver and constructor
with the nodes it would compose, and any other text, and any value the constructor refuses,
through the full loader as before.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

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

# The first characters PyYAML's implicit resolvers are keyed by (`Resolver.yaml_implicit_resolvers`,
# the table `SafeLoader` resolves plain scalars with): a plain scalar beginning with any other is a
# string. Of those, the ones typed here, with the values PyYAML's patterns and constructors give.
RESOLVED_FIRST_CHARACTERS = frozenset("yYnNtTfFoO~-+.0123456789<=!&*")
_BOOLEANS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_WORD_RESOLVED = frozenset("yYnNtTfFoO")  # keyed by the boolean resolver, and "nN" by null too
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # a timestamp without a time: a `date`
_UNKNOWN = object()  # a scalar left to PyYAML


def _scalar(text: str) -> Any:
    """The value PyYAML's safe loader gives the plain scalar `text`, or _UNKNOWN when it is one
    that this leaves to PyYAML (numbers, times, and anything its constructor may refuse)."""
    if text in _NULLS:
        return None
    first = text[0]
    if first not in RESOLVED_FIRST_CHARACTERS:
        return text
    if first in _WORD_RESOLVED:
        return _BOOLEANS.get(text, text)
    if _DATE.fullmatch(text):
        try:
            return date(int(text[:4]), int(text[5:7]), int(text[8:]))
        except ValueError:  # "2026-02-30": PyYAML's own error is the one reported
            return _UNKNOWN
    return _UNKNOWN


def flat_pairs(text: str) -> list[tuple[str, str]] | None:
    """The (key, value) texts of lines of `key: value` pairs and blank lines, or None when the
    text has any other line (or no pair)."""
    pairs = []
    for line in text.split("\n"):
        pair = _PAIR.fullmatch(line)
        if pair is None:
            if _BLANK.fullmatch(line):
                continue
            return None
        pairs.append((pair.group("key"), pair.group("value") or ""))
    return pairs or None


def flat_values(text: str) -> dict | None:
    """The mapping PyYAML's safe loader reads from `flat_pairs` whose every key and value
    `_scalar` types, or None when the text is of another shape or holds a scalar left to PyYAML."""
    values: dict = {}
    for key_text, value_text in flat_pairs(text) or ():
        key, value = _scalar(key_text), _scalar(value_text)
        if key is _UNKNOWN or value is _UNKNOWN:
            return None
        values[key] = value  # a key given twice keeps its last value, as the safe loader does
    return values or None


def load(text: str):
    """`user_yaml.safe_load(text)`: the same value, or the same error."""
    values = flat_values(text)
    if values is not None:
        return values
    import yaml  # only for front matter of another shape

    from checks import user_yaml

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


def flat_mapping(text: str, resolver: yaml.resolver.BaseResolver) -> yaml.MappingNode | None:
    """The node PyYAML composes for lines of `key: value` pairs and blank lines, or None when
    the text has any other line (or no pair)."""
    from yaml.nodes import MappingNode, ScalarNode

    pairs = flat_pairs(text)
    if pairs is None:
        return None

    def node(text: str) -> ScalarNode:
        return ScalarNode(resolver.resolve(ScalarNode, text, _PLAIN), text)

    return MappingNode(_MAP_TAG, [(node(key), node(value)) for key, value in pairs])
