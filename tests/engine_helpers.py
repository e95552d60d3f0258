"""Helpers for engine tests: run a snippet inside a minimal valid postmortem and read the rule ids."""

from __future__ import annotations

from checks.config import Config, parse_config
from checks.engine import check_text

VALID = """\
# Postmortem

## Summary

The checkout service returned errors for 20 minutes.

## Impact

Two percent of checkout requests failed.

## Timeline

All times UTC.

- 14:00 **Impact starts**: error rate rises.
- 14:05 The alert fires and pages the on-call engineer. **Detected.**
- 14:10 The deploy is rolled back. **Mitigated.**
- 14:20 Error rate back to baseline. **Resolved.**

## Contributing factors

- CF-1: The deploy had no canary stage.
- CF-2: The alert needed five minutes of data.

## Action items

| ID | Action | Type | Owner | Due |
|---|---|---|---|---|
| AI-1 | Add a canary stage to the deploy pipeline | guardrail | @octo-lead | 2026-05-01 |
"""


def replace_section(title: str, body: str, base: str = VALID) -> str:
    """The valid document with one `## title` section's body replaced."""
    head, _, rest = base.partition(f"## {title}\n")
    _, sep, tail = rest.partition("\n## ")
    return (
        f"{head}## {title}\n\n{body.strip()}\n\n{sep.strip()} {tail}"
        if sep
        else f"{head}## {title}\n\n{body.strip()}\n"
    )


def rules_for(text: str, config: Config | str | None = None, family: str | None = None) -> list[str]:
    if isinstance(config, str):
        config = parse_config(config, "test.yml")
    findings = check_text(text, "pm.md", config).findings
    return [f.rule for f in findings if family is None or f.family == family]
