"""GitHub's documented limits on what one request may carry, and how text is cut to fit them."""

from __future__ import annotations

# GitHub's documented limits on issues, comments and check runs (REST API docs for each endpoint).
TITLE_MAX = 256
BODY_MAX = 65536
BODY_MARGIN = 512  # GitHub counts some characters differently from Python; stay well under
OUTPUT_TEXT_MAX = 65535  # check run output.summary and output.text
OUTPUT_TITLE_MAX = 255
ANNOTATIONS_PER_REQUEST = 50
ANNOTATION_LEVELS = frozenset({"notice", "warning", "failure"})
ANNOTATION_MESSAGE_MAX = 64 * 1024 - 1
ANNOTATION_TITLE_MAX = 255
ACTIONS_MAX = 3
ACTION_LABEL_MAX = 20
ACTION_DESCRIPTION_MAX = 40
ACTION_IDENTIFIER_MAX = 20
SUB_ISSUES_MAX = 100
PER_PAGE = 100

TRUNCATED = "\n\n… (truncated: GitHub limits this text)"


def truncate(text: str, limit: int, *, margin: int = 0) -> str:
    """Cut `text` to fit `limit` characters, saying so, keeping `margin` spare."""
    room = limit - margin
    if len(text) <= room:
        return text
    return text[: room - len(TRUNCATED)] + TRUNCATED
