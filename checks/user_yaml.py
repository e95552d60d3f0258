"""YAML that users write (config files, front matter), parsed with its nesting bounded.

PyYAML builds nodes recursively, so a document nested a couple of thousand levels deep raises
RecursionError: a traceback instead of a problem report. The scanner is iterative, so the tokens
are counted first and a document nested deeper than `MAX_DEPTH` is refused as a YAML error with a
position, which every caller already reports like any other syntax error.
"""

from __future__ import annotations

import yaml

# A config is four levels deep and front matter one or two; PyYAML's stack lasts for some 300.
MAX_DEPTH = 50

_OPENS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSES = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


class TooDeep(yaml.MarkedYAMLError):
    """The document nests more than MAX_DEPTH levels of mappings and lists."""


def check_depth(text: str) -> None:
    """Raise TooDeep (a yaml.YAMLError) at the first token that opens level MAX_DEPTH + 1."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENS):
            depth += 1
            if depth > MAX_DEPTH:
                raise TooDeep(
                    problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=token.start_mark
                )
        elif isinstance(token, _CLOSES):
            depth -= 1


def compose(text: str) -> yaml.Node | None:
    """`yaml.compose` (safe loader) for text of bounded depth."""
    check_depth(text)
    return yaml.compose(text, Loader=yaml.SafeLoader)


def safe_load(text: str):
    """`yaml.safe_load` for text of bounded depth; any value it cannot build is a YAML error."""
    check_depth(text)
    try:
        return yaml.safe_load(text)
    except ValueError as exc:  # PyYAML lets "date: 2026-02-30" escape as a bare ValueError
        raise yaml.constructor.ConstructorError(problem=f"a value cannot be read ({exc})") from None
