"""Hidden markers: how the bot finds again what it wrote, with the state kept in GitHub itself.

A marker is an HTML comment, invisible in rendered Markdown and returned verbatim by the REST API:
`<!-- blameless-bot:postmortem-for repo=octo/app issue=12 -->`. The name says what the text is;
the fields say what it belongs to. Values never contain spaces or `-->`.

Anyone who can comment can type a marker, so a marker counts only where the bot itself wrote it:
in the body of an issue, pull request or comment whose author GitHub records as the bot
(`BotIdentity.wrote`), never in a title. Jobs read state through `read`, `holds` and `own`; `find`
and `has` only parse text the caller already knows to be the bot's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.github.events import is_account

PREFIX = "blameless-bot:"
_MARKER = re.compile(r"<!--\s*blameless-bot:(?P<name>[a-z-]+)(?P<fields>(?:\s+[a-z_]+=\S*?)*)\s*-->")
_FIELD = re.compile(r"([a-z_]+)=(\S*)")


@dataclass(frozen=True)
class BotIdentity:
    """The account the bot writes as: the App's `<slug>[bot]` login and its App id, or in the
    Action the account of the token it runs with. GitHub, not the text, says who wrote what."""

    login: str | None
    app_id: int | None = None

    def wrote(self, record: dict | None) -> bool:
        """True when GitHub records this bot as the author of `record` (an issue, a pull request
        or a comment as the REST API returns it)."""
        if not record:
            return False
        app = record.get("performed_via_github_app")
        if self.app_id is not None and isinstance(app, dict) and str(app.get("id")) == str(self.app_id):
            return True
        return is_account(record.get("user"), self.login)


def own(records: Iterable[dict], bot: BotIdentity | None) -> list[dict]:
    """The records (comments, issues) the bot wrote; nothing when it does not know who it is."""
    return [r for r in records if bot is not None and bot.wrote(r)]


def trusted_body(record: dict | None, bot: BotIdentity | None) -> str:
    """The body of `record` when the bot wrote it, else "": the only text whose markers count."""
    if bot is None or not bot.wrote(record):
        return ""
    return (record or {}).get("body") or ""


def read(record: dict | None, name: str, bot: BotIdentity | None) -> dict[str, str] | None:
    """The fields of the first `name` marker in the body of `record`, if the bot wrote it."""
    return find(trusted_body(record, bot), name)


def holds(record: dict | None, name: str, bot: BotIdentity | None, **fields: object) -> bool:
    """True when the bot wrote `record` and its first `name` marker has all of `fields`."""
    found = read(record, name, bot)
    return found is not None and all(found.get(key) == _clean(value) for key, value in fields.items())


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
