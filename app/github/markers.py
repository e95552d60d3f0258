"""Hidden markers: how the bot finds again what it wrote, with the state kept in GitHub itself.

A marker is an HTML comment, invisible in rendered Markdown and returned verbatim by the REST API:
`<!-- blameless-bot:postmortem-for repo=octo/app issue=12 -->`. The name says what the text is;
the fields say what it belongs to. Values never contain spaces or `-->`.
"""

from __future__ import annotations

import re

PREFIX = "blameless-bot:"
_MARKER = re.compile(r"<!--\s*blameless-bot:(?P<name>[a-z-]+)(?P<fields>(?:\s+[a-z_]+=\S*?)*)\s*-->")
_FIELD = re.compile(r"([a-z_]+)=(\S*)")


def render(name: str, **fields: object) -> str:
    """`<!-- blameless-bot:name key=value … -->`, fields in the order given."""
    parts = [f"{key}={_clean(value)}" for key, value in fields.items()]
    return "<!-- " + " ".join([PREFIX + name, *parts]) + " -->"


def find(text: str | None, name: str) -> dict[str, str] | None:
    """The fields of the first `name` marker in `text`, or None when there is none."""
    for match in _MARKER.finditer(text or ""):
        if match.group("name") == name:
            return dict(_FIELD.findall(match.group("fields")))
    return None


def has(text: str | None, name: str, **fields: object) -> bool:
    """True when `text` holds a `name` marker whose fields include all of `fields`."""
    for match in _MARKER.finditer(text or ""):
        if match.group("name") != name:
            continue
        found = dict(_FIELD.findall(match.group("fields")))
        if all(found.get(key) == _clean(value) for key, value in fields.items()):
            return True
    return False


def _clean(value: object) -> str:
    text = str(value)
    if re.search(r"\s|-->", text):
        raise ValueError(f"marker values cannot hold spaces or '-->': {text!r}")
    return text
