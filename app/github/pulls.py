"""Pull requests: read, listed with their files and reviews, opened as drafts."""

from __future__ import annotations

from app.github.limits import BODY_MARGIN, BODY_MAX, TITLE_MAX, truncate
from app.github.session import ListFetch, RepoSession


class PullRequests(RepoSession):
    """Pull requests, their files and reviews."""

    # --- pull requests ------------------------------------------------------------------------

    def get_pull(self, number: int) -> dict:
        return self._json("GET", f"/pulls/{number}")

    def list_pull_files(self, number: int) -> list[dict]:
        """The PR's changed files (GitHub stops at 3000), each with filename and status."""
        return self._paginate(f"/pulls/{number}/files")

    def list_reviews(self, number: int) -> list[dict]:
        """A PR's reviews; REST states are upper case ("APPROVED"), unlike webhooks."""
        return self._paginate(f"/pulls/{number}/reviews")

    def list_reviews_if_changed(self, number: int, etag: str | None = None) -> ListFetch:
        """A PR's reviews, revalidated by ETag: a merged PR's reviews rarely change, and a 304
        costs no rate limit."""
        return self.list_if_changed(f"/pulls/{number}/reviews", etag)

    def list_pulls(self, *, head: str | None = None, state: str = "open") -> list[dict]:
        params = {"state": state, **({"head": head} if head else {})}
        return self._paginate("/pulls", params)

    def create_pull(self, *, title: str, head: str, base: str, body: str, draft: bool) -> dict:
        payload = {
            "title": truncate(title, TITLE_MAX),
            "head": head,
            "base": base,
            "body": truncate(body, BODY_MAX, margin=BODY_MARGIN),
            "draft": draft,
        }
        return self._json("POST", "/pulls", json=payload)
