"""The workflow runner's side of an Action step: inputs, outputs, the job summary and commands.

Everything the runner hands a step arrives in environment variables (`INPUT_*`, `GITHUB_*`) and
everything the step hands back goes through files (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`) or
workflow commands on standard output. `Workflow` wraps both, reading from the `environ` and
writing to the `out` it is given, so tests run a step without a runner.

Escaping follows `@actions/core` (see checks.output.formats). Text that came from a pull request (file
names, quoted document text) is printed between `::stop-commands::` markers, so that nothing in it
can act as a workflow command.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from checks.output.formats import escape_data, escape_property

# GitHub's documented limits on workflow annotations and job summaries (Actions docs).
SUMMARY_MAX_BYTES = 1024 * 1024  # per step; above it the upload fails
ANNOTATIONS_PER_LEVEL = 10  # shown per step for each of error, warning, notice; the rest dropped
ANNOTATIONS_PER_JOB = 50
ANNOTATION_LEVELS = ("error", "warning", "notice")


@dataclass(frozen=True)
class Outcome:
    """What a step hands back: its exit code and the action's outputs."""

    exit_code: int
    errors: int = 0
    warnings: int = 0
    created_issues: list[dict] = field(default_factory=list)
    sarif_file: str = ""

    def outputs(self) -> dict[str, str]:
        created = [
            {"number": i["number"], "title": i.get("title", ""), "url": i.get("html_url", "")}
            for i in self.created_issues
        ]
        return {
            "errors": str(self.errors),
            "warnings": str(self.warnings),
            "created-issues": json.dumps(created, ensure_ascii=False),
            "sarif-file": self.sarif_file,
        }


class MissingEnvironment(Exception):
    """The step lacks something the runner always sets (run outside Actions, or a broken runner)."""


@dataclass
class Workflow:
    """One step's view of the runner: environment in, files and commands out."""

    environ: Mapping[str, str]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    # Annotations this step has printed, by level: GitHub's cap of 10 per level counts the
    # step's own warnings as well as the findings.
    annotated: Counter[str] = field(default_factory=Counter)

    # --- what the runner tells the step -------------------------------------------------------

    def input(self, name: str, default: str = "") -> str:
        """An action input: `INPUT_<NAME>`, upper case, spaces and hyphens as `_`.

        Composite actions do not get these variables from the runner; `action.yml` sets them
        from `${{ inputs.* }}` on the step, which also keeps input values out of the script.
        """
        value = self.environ.get("INPUT_" + re.sub(r"[ -]", "_", name).upper(), "")
        return value.strip() or default

    def env(self, name: str, default: str = "") -> str:
        return self.environ.get(name, "") or default

    @property
    def event_name(self) -> str:
        return self.env("GITHUB_EVENT_NAME")

    def event_payload(self) -> dict:
        path = self.env("GITHUB_EVENT_PATH")
        if not path:
            return {}
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise MissingEnvironment(f"GITHUB_EVENT_PATH {path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    @property
    def repository(self) -> tuple[str, str]:
        full_name = self.env("GITHUB_REPOSITORY")
        owner, _, name = full_name.partition("/")
        if not owner or not name:
            raise MissingEnvironment("GITHUB_REPOSITORY is not set (owner/name)")
        return owner, name

    @property
    def workspace(self) -> Path:
        return Path(self.env("GITHUB_WORKSPACE", os.getcwd()))

    @property
    def api_url(self) -> str:
        """The REST API of this run's GitHub (GitHub Enterprise Server sets its own)."""
        return self.env("GITHUB_API_URL", "https://api.github.com")

    @property
    def server_url(self) -> str:
        return self.env("GITHUB_SERVER_URL", "https://github.com")

    # --- what the step hands back -------------------------------------------------------------

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Append to `GITHUB_OUTPUT`, with a random heredoc delimiter for multi-line values."""
        path = self.env("GITHUB_OUTPUT")
        lines = []
        for name, value in outputs.items():
            if "\n" in value or "\r" in value:
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
                lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                lines.append(f"{name}={value}\n")
        if not path:  # run by hand: show what a workflow would receive
            self.command("group", "Outputs")
            self.untrusted("".join(lines))
            self.command("endgroup")
            return
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(lines))

    def append_summary(self, markdown: str) -> None:
        """Append to the job summary (`GITHUB_STEP_SUMMARY`); callers keep it under 1 MiB."""
        size = len(markdown.encode("utf-8"))
        if size > SUMMARY_MAX_BYTES:
            raise ValueError(f"job summary of {size} bytes is over GitHub's 1 MiB limit")
        path = self.env("GITHUB_STEP_SUMMARY")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown)

    # --- workflow commands --------------------------------------------------------------------

    def command(self, name: str, message: str = "", **properties: str) -> None:
        if name in ANNOTATION_LEVELS:
            self.annotated[name] += 1
        rendered = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
        self.out.write(f"::{name}{' ' + rendered if rendered else ''}::{escape_data(message)}\n")

    def line(self, text: str = "") -> None:
        """A plain log line written by the action itself (never text from a document)."""
        self.out.write(text + "\n")

    def raw(self, lines: Iterable[str]) -> None:
        """Lines that are workflow commands already (e.g. checks.output.formats.github_command)."""
        for line in lines:
            name = line[2:].split(" ", 1)[0].split("::", 1)[0] if line.startswith("::") else ""
            if name in ANNOTATION_LEVELS:
                self.annotated[name] += 1
            self.out.write(line + "\n")

    def untrusted(self, text: str) -> None:
        """Print text that may come from a pull request, with workflow commands switched off."""
        token = secrets.token_hex(16)
        self.out.write(f"::stop-commands::{token}\n")
        self.out.write(text if text.endswith("\n") or not text else text + "\n")
        self.out.write(f"::{token}::\n")
