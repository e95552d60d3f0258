"""The built-in postmortem template and the `{{variable}}` filling shared by the App and the Action."""

from __future__ import annotations

import re

from checks.packaged import PACKAGE_ROOT

VARIABLES = (
    "incident_number",
    "incident_title",
    "incident_url",
    "severity",
    "labels",
    "opened_at",
    "repository",
    "postmortem_due",
)
_VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def load_template() -> str:
    return (PACKAGE_ROOT / "data" / "template.md").read_text("utf-8")


def fill(template: str, values: dict[str, str]) -> str:
    """Replace each known `{{name}}`; unknown or missing ones stay, so the checks report them."""

    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None or value == "" else str(value)

    return _VARIABLE.sub(replace, template)
