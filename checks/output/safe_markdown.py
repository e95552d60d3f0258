"""Safe Markdown: the one way text people typed gets into the Markdown and titles the bot writes.

People's text (incident titles, action-item text, owners, document paths, finding messages) goes
into issue bodies, comments, check-run summaries and titles the bot writes. Whatever it holds, what
comes out of here:

- holds no marker and no HTML comment: `<!--` and `-->` are broken by a zero-width space, so it can
  never pass for the bot's hidden state (`app.github.markers`) nor hide the rest of a body;
- @mentions no one: a zero-width space after the `@` (the bot notifies only the owner it assigns,
  through `mention`);
- references no issue and closes none: `#12`, `octo/app#12` and `GH-12` get a zero-width space,
  and a closing keyword (fixes, closes, resolves…) before a reference or an issue URL gets one too,
  so a squash merge of a PR titled with it closes nothing;
- cannot break out of where it is put: `code` fences with more backticks than the text holds (as
  CommonMark allows), `inline` escapes HTML, entities, backslashes and table pipes.

The zero-width spaces are invisible when rendered. Everything here is pure; `neutralise` and
`title` are idempotent (a title the bot wrote goes through again unchanged): they drop the text's
own zero-width spaces first, so each place that needs one gets it the same way on every pass (a
break put in on the first pass cannot make a new place on the second), and a zero-width space
typed by hand cannot hide a mention, a reference or a keyword from the patterns.
"""

from __future__ import annotations

import re

from checks.rules.action_items import USER_LOGIN

__all__ = ["ZWSP", "code", "inline", "mention", "neutralise", "one_line", "quiet", "title"]

ZWSP = "\u200b"

_COMMENT_OPEN = re.compile(r"<!(?=--)")
_COMMENT_CLOSE = re.compile(r"--(?=>)")
_MARKER_OPEN = re.compile(r"<!(?=--\s*blameless-bot:)")
# GitHub links @name after anything but an (ASCII) word character; e-mail addresses stay as they are.
# An underscore counts as no word character here: "_`_@name" renders as emphasis closed by that
# underscore, and the @name after it is live.
_MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9])")
# "GH-12" likewise after anything but an ASCII letter or digit: "_GH-7_" renders as emphasis around
# a live reference, though Python's word boundary sees no break between "_" and "G".
_REFERENCE = re.compile(r"#(?=[0-9])|(?<![A-Za-z0-9])(?i:gh-)(?=[0-9])")
# Bounded runs (GitHub's owner and repository name lengths): the look-ahead stays linear on
# "fix.fix.fix…", where an unbounded `[\w.-]+` would scan the rest of the text at each keyword.
# A keyword starts after anything but an ASCII letter or digit, as a reference does: "_fixes <issue
# URL>_" renders as emphasis around a live closing keyword.
_CLOSING = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
    r"(?=[ \t]{0,20}:?[ \t]{0,20}(?:#|gh-|https?://|[\w.-]{1,39}/[\w.-]{1,100}#))"
)
_BACKTICKS = re.compile(r"`+")
_CELL_PIPE = re.compile(r"(?<!\\)(\\*)\|")  # from the start of a backslash run: linear


def one_line(text: str) -> str:
    """On one line, without NUL characters (Markdown shows them as U+FFFD anyway) and without
    zero-width spaces (see `neutralise`), so that white space left beside one is collapsed too."""
    return " ".join(str(text).replace("\x00", "").replace(ZWSP, "").split())


def neutralise(text: str) -> str:
    """`text` with no marker, HTML comment, live @mention, issue reference or closing keyword."""
    return _defuse(_break_comments(str(text).replace(ZWSP, "")))


def quiet(markdown: str) -> str:
    """A whole Markdown document the bot copies (the repository's postmortem template, filled
    with values already rendered here): its own HTML comments stay (they hide the template's
    guidance), but no marker, @mention, issue reference or closing keyword survives."""
    return _defuse(_MARKER_OPEN.sub("<!" + ZWSP, markdown))


def _break_comments(text: str) -> str:
    return _COMMENT_CLOSE.sub("--" + ZWSP, _COMMENT_OPEN.sub("<!" + ZWSP, text))


def _defuse(text: str, *, mentions: bool = True) -> str:
    if mentions:
        text = _MENTION.sub("@" + ZWSP, text)
    text = _CLOSING.sub(lambda m: m.group(0) + ZWSP, text)
    return _REFERENCE.sub(lambda m: m.group(0) + ZWSP, text)


def title(text: str) -> str:
    """Text for an issue or pull request title (plain text, not Markdown): one line, neutralised."""
    return neutralise(one_line(text))


def inline(text: str) -> str:
    """Text as Markdown prose on one line: it renders as written, HTML and entities included as
    plain characters, and is safe in a table cell."""
    text = neutralise(one_line(text))
    text = text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
    return text.replace("|", "\\|")


def code(text: str, *, cell: bool = False) -> str:
    """Text as an inline code span that nothing in it can end early: the fence is one backtick
    longer than the longest run inside, and text that starts or ends with a backtick is padded
    with a space on each side, which CommonMark strips (empty text is no span at all). In a
    table cell (`cell=True`) its pipes are escaped, as GFM asks (a backslash just before a pipe
    then shows doubled). An @mention inside code notifies no one,
    so an owner shown as code keeps its plain `@`; markers and references are still broken."""
    text = _defuse(_break_comments(one_line(text)), mentions=False)
    if not text:
        return ""
    if cell:
        text = _CELL_PIPE.sub(_escape_pipe, text)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _escape_pipe(match: re.Match[str]) -> str:
    # GFM splits a row at a pipe not escaped by a backslash, and a backslash escapes the next
    # character, backslashes included: the pipe must follow an odd number of them.
    slashes = match.group(1)
    return slashes + ("\\" if len(slashes) % 2 == 0 else "\\\\") + "|"


def mention(login: str) -> str:
    """The one live @mention the bot writes: the owner it assigns, when `login` is a GitHub
    user name; anything else is shown as code."""
    if USER_LOGIN.fullmatch(login or ""):
        return f"@{login}"
    return code(f"@{login}")
