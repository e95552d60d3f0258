"""What a test does when a tool it needs (Prism, redis-server, hadolint, npm data) is missing.

Locally the test is skipped with the reason; under CI=true a missing tool is a failure, because
`.ci/setup` should have installed it and a silent skip would hide a broken set-up.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is an error: run .ci/setup)", pytrace=False)
    pytest.skip(reason)
