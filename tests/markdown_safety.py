"""What a reader of the bot's Markdown would find live in it, parsed as GitHub parses it.

Markdown goes through markdown-it (CommonMark with GFM tables); what is left as text, outside code,
is searched for @mentions, issue references and closing keywords, and the raw text for markers and
HTML comments. Titles are plain text and are searched as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from markdown_it import MarkdownIt
from markdown_it.token import Token

MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][\w.-]*)?")
REFERENCE = re.compile(r"(?<![\w/])#[0-9]|[\w.-]+/[\w.-]+#[0-9]|(?i:\bgh-[0-9])")
CLOSING = re.compile(
    r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)[ \t]*:?[ \t]*"
    r"(?:#[0-9]|gh-[0-9]|[\w.-]+/[\w.-]+#[0-9]|https?://\S+/issues/[0-9])"
)
MARKER = re.compile(r"<!--\s*blameless-bot:")
_PARSER = MarkdownIt("commonmark").enable("table")


def live_text(markdown: str) -> list[str]:
    """The runs of text a reader sees outside code: adjacent text tokens joined, code left out."""
    runs: list[str] = []
    for block in _PARSER.parse(markdown):
        if block.type == "inline":
            runs += _runs(block.children or [])
    return runs


def html(markdown: str) -> list[str]:
    """The raw HTML (comments included) the Markdown holds, block or inline."""
    found = []
    for block in _PARSER.parse(markdown):
        if block.type == "html_block":
            found.append(block.content)
        for child in block.children or []:
            if child.type == "html_inline":
                found.append(child.content)
    return found


def _runs(tokens: Iterable[Token]) -> list[str]:
    runs, current = [], ""
    for token in tokens:
        if token.type in ("text", "text_special"):
            current += token.content
        else:
            if current:
                runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs


def mentions(text: str) -> list[str]:
    return [m.group(0).lower() for m in MENTION.finditer(text)]


def problems(markdown: str, *, allowed_mentions: Iterable[str] = (), references: bool = True) -> list[str]:
    """What is live in `markdown` that user text must never make live: mentions (other than
    `allowed_mentions`, logins with their @), closing keywords, references (when `references`),
    and markers or HTML comments in the raw text."""
    allowed = {login.lower() for login in allowed_mentions}
    found = []
    for run in live_text(markdown):
        found += [f"mention {m}" for m in mentions(run) if m not in allowed]
        found += [f"closing keyword {m.group(0)!r}" for m in CLOSING.finditer(run)]
        if references:
            found += [f"reference {m.group(0)!r}" for m in REFERENCE.finditer(run)]
    if "<!--" in markdown or "-->" in markdown:
        found.append("HTML comment")
    found += [f"HTML {h!r}" for h in html(markdown)]
    return found


def title_problems(title: str) -> list[str]:
    """A title is plain text: mentions, closing keywords and markers are searched as they are."""
    found = [f"mention {m}" for m in mentions(title)]
    found += [f"closing keyword {m.group(0)!r}" for m in CLOSING.finditer(title)]
    if MARKER.search(title) or "<!--" in title:
        found.append("marker")
    return found
