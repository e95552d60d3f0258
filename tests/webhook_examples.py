"""Real GitHub webhook payloads from npm ``@octokit/webhooks-examples`` (a pytest plugin).

Layout of the package (7.6.1): ``api.github.com/index.json`` and one
``ghes-3N/index.json`` per GitHub Enterprise Server release (``ghes-31`` … ``ghes-35``
for 3.1 … 3.5; the directory names have no dot). Each ``index.json`` is a list of
``{"name": event, "actions": [...], "description", "properties", "examples": [payload,
...]}``. Payloads of events without actions (``ping``, ``push``…) have no ``action``.

- :func:`load_examples` returns ``Example(source, event, action, payload)`` tuples.
- Fixture ``webhook_examples`` (session): the examples of :data:`SUBSCRIBED_EVENTS`.
- :func:`example_params` gives ``pytest.param`` objects with readable ids, for
  ``@pytest.mark.parametrize("example", example_params())``.

Payloads are parsed JSON. :func:`load_examples` hands out fresh copies on every call;
the session fixture's list is shared by all tests, so do not mutate its payloads
(``copy.deepcopy`` first). ``Example.raw()`` re-encodes one for signing and posting.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.tool_availability import unavailable

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "node_modules" / "@octokit" / "webhooks-examples"

SUBSCRIBED_EVENTS: frozenset[str] = frozenset(
    {
        "issues",
        "pull_request",
        "pull_request_review",
        "check_suite",
        "check_run",
        "installation",
        "installation_repositories",
        "ping",
    }
)

_GHES_DIR = re.compile(r"^ghes-(\d)(\d+)$")


class Example(NamedTuple):
    source: str  # "api.github.com" or "ghes-3.5"
    event: str  # the X-GitHub-Event header value
    action: str | None  # payload["action"], None for events without actions
    payload: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.source}:{self.event}.{self.action or '-'}"

    def raw(self) -> bytes:
        return json.dumps(self.payload).encode("utf-8")


def example_sources(examples_dir: Path = EXAMPLES_DIR) -> dict[str, Path]:
    """{"api.github.com": path, "ghes-3.1": path, ...} of the sets in the package."""
    sources: dict[str, Path] = {}
    main = examples_dir / "api.github.com" / "index.json"
    if main.exists():
        sources["api.github.com"] = main
    ghes = []
    for child in examples_dir.iterdir() if examples_dir.is_dir() else ():
        m = _GHES_DIR.match(child.name)
        if m and (child / "index.json").exists():
            ghes.append(((int(m.group(1)), int(m.group(2))), child / "index.json"))
    for (major, minor), path in sorted(ghes):
        sources[f"ghes-{major}.{minor}"] = path
    return sources


@functools.cache
def _read_index(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(path.read_text(encoding="utf-8")))


def load_examples(
    events: Iterable[str] | None = SUBSCRIBED_EVENTS,
    *,
    sources: Iterable[str] | None = None,
    examples_dir: Path = EXAMPLES_DIR,
) -> list[Example]:
    """Every example payload of ``events`` (None: all events) in every set (or ``sources``)."""
    available = example_sources(examples_dir)
    if not available:
        raise FileNotFoundError(f"no webhook examples under {examples_dir}: run `npm ci`")
    wanted = None if events is None else set(events)
    chosen = list(available) if sources is None else list(sources)
    unknown = [s for s in chosen if s not in available]
    if unknown:
        raise KeyError(f"unknown example sets {unknown}; available: {list(available)}")
    result: list[Example] = []
    for source in chosen:
        for definition in _read_index(available[source]):
            name = definition["name"]
            if wanted is not None and name not in wanted:
                continue
            for payload in definition.get("examples") or []:
                result.append(Example(source, name, payload.get("action"), copy.deepcopy(payload)))
    return result


def example_params(events: Iterable[str] | None = SUBSCRIBED_EVENTS) -> list[Any]:
    """``pytest.param``s for parametrising over examples, with unique readable ids.

    Empty when the package is not installed (the test then reports no cases); see the
    ``webhook_examples`` fixture for a failing/skipping variant.
    """
    try:
        examples = load_examples(events)
    except FileNotFoundError:
        return []
    seen: dict[str, int] = {}
    params = []
    for ex in examples:
        n = seen[ex.id] = seen.get(ex.id, 0) + 1
        params.append(pytest.param(ex, id=f"{ex.id}#{n}"))
    return params


@pytest.fixture(scope="session")
def webhook_examples() -> list[Example]:
    """The examples of the events the App subscribes to, from every set."""
    if not example_sources():
        reason = f"{EXAMPLES_DIR.relative_to(ROOT)} is not installed (npm ci)"
        unavailable(reason)
    return load_examples(SUBSCRIBED_EVENTS)
