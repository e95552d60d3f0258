"""Issues and everything on them: comments, labels, assignees and sub-issues."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from app.github.errors import GitHubError, NotFound
from app.github.limits import BODY_MARGIN, BODY_MAX, TITLE_MAX, truncate
from app.github.markers import BotIdentity, own
from app.github.session import RepoSession


class IssueRequests(RepoSession):
    """Issues, comments, labels, assignees and sub-issues."""

    # Who this client writes as, set by whoever holds the token (the App's JobContext, the
    # Action): only what this account wrote is the bot's state (see app.github.markers).
    # None: the bot does not know itself, so no comment or body is taken for its own.
    bot: BotIdentity | None = None

    # --- issues -------------------------------------------------------------------------------

    def get_issue(self, number: int) -> dict:
        return self._json("GET", f"/issues/{number}")

    def create_issue(self, title: str, body: str, *, labels: Sequence[str] = ()) -> dict:
        """Open an issue, cut to GitHub's limits. No assignees here: one unassignable login makes
        GitHub refuse the whole issue (422); use `assign` afterwards."""
        payload: dict[str, Any] = {
            "title": truncate(title, TITLE_MAX),
            "body": truncate(body, BODY_MAX, margin=BODY_MARGIN),
        }
        if labels:
            payload["labels"] = list(labels)
        return self._json("POST", "/issues", json=payload)

    def update_issue(self, number: int, **fields: Any) -> dict:
        """PATCH title, body, state, state_reason…; title and body are cut to the limits."""
        if fields.get("title") is not None:
            fields["title"] = truncate(fields["title"], TITLE_MAX)
        if fields.get("body") is not None:
            fields["body"] = truncate(fields["body"], BODY_MAX, margin=BODY_MARGIN)
        return self._json("PATCH", f"/issues/{number}", json=fields)

    def list_issues(self, *, labels: str | None = None, state: str = "all") -> list[dict]:
        """Issues (pull requests left out) with all of the comma-separated `labels`.

        This is how the jobs find what they made before: listing by label reads the database,
        whereas search lags behind writes and may not index the hidden markers at all.
        """
        params = {"state": state, **({"labels": labels} if labels else {})}
        return [i for i in self._paginate("/issues", params) if "pull_request" not in i]

    def list_timeline(self, number: int) -> list[dict]:
        return self._paginate(f"/issues/{number}/timeline")

    # --- comments -----------------------------------------------------------------------------

    def list_comments(self, number: int) -> list[dict]:
        return self._paginate(f"/issues/{number}/comments")

    def list_repo_comments(self, *, since: str | None = None) -> list[dict]:
        """Every issue and pull request comment of the repository updated since `since` (ISO
        8601), in one listing: far fewer requests than one listing per issue."""
        params = {"sort": "created", "direction": "asc", **({"since": since} if since else {})}
        return self._paginate("/issues/comments", params)

    def create_comment(self, number: int, body: str) -> dict:
        body = truncate(body, BODY_MAX, margin=BODY_MARGIN)
        return self._json("POST", f"/issues/{number}/comments", json={"body": body})

    def update_comment(self, comment_id: int, body: str) -> dict:
        body = truncate(body, BODY_MAX, margin=BODY_MARGIN)
        return self._json("PATCH", f"/issues/comments/{comment_id}", json={"body": body})

    def delete_comment(self, comment_id: int) -> None:
        # Already gone counts as deleted: a retry must not fail over its own earlier success.
        with contextlib.suppress(NotFound):
            self.request("DELETE", self._path(f"/issues/comments/{comment_id}"))

    def find_comment(self, number: int, marker: str) -> dict | None:
        """The first of the bot's own comments whose body holds `marker`: a comment someone else
        wrote with the same marker is theirs, never found, never rewritten."""
        mine = own(self.list_comments(number), self.bot)
        return next((c for c in mine if marker in (c.get("body") or "")), None)

    def upsert_comment(self, number: int, marker: str, body: str) -> dict:
        """One comment per marker: update it in place, or create it. `body` must hold `marker`."""
        if marker not in body:
            raise ValueError("the comment body must contain its marker, or it cannot be found again")
        existing = self.find_comment(number, marker)
        if existing is None:
            return self.create_comment(number, body)
        if existing.get("body") == body:
            return existing  # unchanged: no write, no notification
        return self.update_comment(existing["id"], body)

    # --- labels -------------------------------------------------------------------------------

    def ensure_label(self, name: str, color: str, description: str = "") -> None:
        """Create the label with our colour if missing (GitHub would auto-create it grey)."""
        if name.lower() in self._labels_ready:
            return
        try:
            self.request("GET", self._path(f"/labels/{quote(name, safe='')}"))
        except NotFound:
            body = {"name": name, "color": color.lstrip("#"), "description": description[:100]}
            try:
                self._json("POST", "/labels", json=body)
            except GitHubError as exc:
                if exc.status != 422:  # 422 already_exists: another worker made it first
                    raise
        self._labels_ready.add(name.lower())

    def add_labels(self, number: int, labels: Sequence[str]) -> list[dict]:
        return self._json("POST", f"/issues/{number}/labels", json={"labels": list(labels)})

    def remove_label(self, number: int, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.request("DELETE", self._path(f"/issues/{number}/labels/{quote(name, safe='')}"))

    # --- assignees ----------------------------------------------------------------------------

    def is_assignable(self, login: str) -> bool:
        """GET /assignees/{login}: 204 when the user can be assigned in this repository, 404 not."""
        try:
            self.request("GET", self._path(f"/assignees/{quote(login, safe='')}"))
        except NotFound:
            return False
        return True

    def add_assignees(self, number: int, logins: Sequence[str]) -> list[str]:
        """POST assignees and return who GitHub actually assigned: it silently drops the rest."""
        issue = self._json("POST", f"/issues/{number}/assignees", json={"assignees": list(logins)})
        return [a["login"] for a in issue.get("assignees") or []]

    def remove_assignees(self, number: int, logins: Sequence[str]) -> list[str]:
        """DELETE assignees (job 3: an item's owner changed); returns who is still assigned."""
        issue = self.request(
            "DELETE", self._path(f"/issues/{number}/assignees"), json={"assignees": list(logins)}
        ).json()
        return [a["login"] for a in issue.get("assignees") or []]

    def assign(self, number: int, logins: Sequence[str]) -> tuple[list[str], list[str]]:
        """Assign whoever can be assigned: (assigned, not assigned). Nothing is dropped silently."""
        candidates = [login for login in logins if self.is_assignable(login)]
        assigned = self.add_assignees(number, candidates) if candidates else []
        lowered = {a.lower() for a in assigned}
        return assigned, [login for login in logins if login.lower() not in lowered]

    # --- sub-issues ---------------------------------------------------------------------------

    def list_sub_issues(self, parent_number: int) -> list[dict]:
        return self._paginate(f"/issues/{parent_number}/sub_issues")

    def add_sub_issue(self, parent_number: int, child_id: int) -> bool:
        """Link an issue as a sub-issue of `parent_number`. `child_id` is the child's database
        `id`, never its `number` (GitHub answers 404/422 to a number).

        Reads the parent's sub-issues first: a child already linked costs no write (a repeat is
        the normal case for idempotent jobs), and a 404 there means the server has no sub-issues
        (GHES 3.17), where this returns False and the markers in the bodies are the link.
        """
        if isinstance(child_id, bool) or not isinstance(child_id, int):
            raise TypeError("sub_issue_id must be the issue's integer id, not a number or node id")
        try:
            children = self.list_sub_issues(parent_number)
        except NotFound:
            return False
        if any(child.get("id") == child_id for child in children):
            return True
        try:
            self._json("POST", f"/issues/{parent_number}/sub_issues", json={"sub_issue_id": child_id})
        except GitHubError as exc:
            # 422 after a concurrent worker linked it between our read and our write.
            if exc.status == 422 and any(
                child.get("id") == child_id for child in self.list_sub_issues(parent_number)
            ):
                return True
            raise
        return True
