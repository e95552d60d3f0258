"""Check runs: created, updated, completed with annotations in chunks and buttons, within GitHub's limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.github.limits import (
    ACTION_DESCRIPTION_MAX,
    ACTION_IDENTIFIER_MAX,
    ACTION_LABEL_MAX,
    ACTIONS_MAX,
    ANNOTATION_LEVELS,
    ANNOTATION_MESSAGE_MAX,
    ANNOTATION_TITLE_MAX,
    ANNOTATIONS_PER_REQUEST,
    OUTPUT_TEXT_MAX,
    OUTPUT_TITLE_MAX,
    truncate,
)
from app.github.session import RepoSession


@dataclass(frozen=True)
class CheckAction:
    """A requested-action button on a completed check run."""

    label: str
    description: str
    identifier: str

    def as_json(self) -> dict:
        if len(self.identifier) > ACTION_IDENTIFIER_MAX:
            raise ValueError(f"check run action identifier too long: {self.identifier!r}")
        return {
            "label": self.label[:ACTION_LABEL_MAX],
            "description": self.description[:ACTION_DESCRIPTION_MAX],
            "identifier": self.identifier,
        }


def _checked_annotation(annotation: dict) -> dict:
    """An annotation within GitHub's rules: a valid level, bounded message and title, and columns
    only on single-line annotations (GitHub rejects them otherwise)."""
    if annotation.get("annotation_level") not in ANNOTATION_LEVELS:
        raise ValueError(f"annotation_level must be one of {sorted(ANNOTATION_LEVELS)}")
    out = dict(annotation)
    out["message"] = truncate(out["message"], ANNOTATION_MESSAGE_MAX)
    if out.get("title"):
        out["title"] = truncate(out["title"], ANNOTATION_TITLE_MAX)
    if out.get("raw_details"):
        out["raw_details"] = truncate(out["raw_details"], ANNOTATION_MESSAGE_MAX)
    if out["start_line"] != out["end_line"]:
        out.pop("start_column", None)
        out.pop("end_column", None)
    return out


class CheckRunRequests(RepoSession):
    """Check runs and their annotations."""

    # --- check runs ---------------------------------------------------------------------------

    def create_check_run(
        self,
        name: str,
        head_sha: str,
        *,
        status: str = "in_progress",
        external_id: str | None = None,
        details_url: str | None = None,
    ) -> dict:
        payload: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if external_id:
            payload["external_id"] = external_id
        if details_url:
            payload["details_url"] = details_url
        return self._json("POST", "/check-runs", json=payload)

    def update_check_run(self, run_id: int, **fields: Any) -> dict:
        """A raw PATCH; prefer `complete_check_run`, which keeps within the limits."""
        return self._json("PATCH", f"/check-runs/{run_id}", json=fields)

    def get_check_run(self, run_id: int) -> dict:
        return self._json("GET", f"/check-runs/{run_id}")

    def list_check_runs(self, ref: str, *, name: str | None = None) -> list[dict]:
        params = {"check_name": name} if name else None
        return self._paginate(f"/commits/{quote(ref, safe='')}/check-runs", params)

    def complete_check_run(
        self,
        run_id: int,
        *,
        conclusion: str,
        title: str,
        summary: str,
        annotations: Sequence[dict] = (),
        text: str | None = None,
        actions: Sequence[CheckAction] = (),
    ) -> dict:
        """Finish a run: annotations in PATCHes of at most 50 (GitHub appends them), the last one
        carrying the conclusion, so a run is never shown completed with half its annotations."""
        if len(actions) > ACTIONS_MAX:
            raise ValueError(f"at most {ACTIONS_MAX} check run actions, got {len(actions)}")
        output = {
            "title": truncate(title, OUTPUT_TITLE_MAX),
            "summary": truncate(summary, OUTPUT_TEXT_MAX),
        }
        if text:
            output["text"] = truncate(text, OUTPUT_TEXT_MAX)
        checked = [_checked_annotation(a) for a in annotations]
        chunks = [
            checked[i : i + ANNOTATIONS_PER_REQUEST] for i in range(0, len(checked), ANNOTATIONS_PER_REQUEST)
        ]
        for chunk in chunks[:-1]:
            self.update_check_run(run_id, output={**output, "annotations": chunk})
        final: dict[str, Any] = {"status": "completed", "conclusion": conclusion, "output": output}
        if chunks:
            final["output"] = {**output, "annotations": chunks[-1]}
        if actions:
            final["actions"] = [a.as_json() for a in actions]
        return self.update_check_run(run_id, **final)
