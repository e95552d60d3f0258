"""Repository contents: files read (conditionally, by ETag), branches created, files written."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from app.github.errors import GitHubError, NotFound
from app.github.session import RAW, RepoSession


@dataclass(frozen=True)
class FileFetch:
    """A conditional read: `text` is None when the file is missing or unchanged (`not_modified`)."""

    text: str | None
    etag: str | None
    not_modified: bool = False


def _decode(response: httpx.Response) -> str:
    return response.content.decode("utf-8", errors="replace")


class ContentRequests(RepoSession):
    """The repository, its files and branches."""

    # --- repository and files ---------------------------------------------------------------

    def get_repository(self) -> dict:
        return self._json("GET", "")

    def get_file(self, path: str, ref: str | None = None) -> str | None:
        """A file's text at `ref` (the default branch when None); None when it does not exist."""
        return self.get_file_if_changed(path, ref).text

    def get_file_if_changed(self, path: str, ref: str | None = None, etag: str | None = None) -> FileFetch:
        """A conditional read: a 304 (unchanged since `etag`) costs no primary rate limit."""
        headers = {"If-None-Match": etag} if etag else None
        params = {"ref": ref} if ref else None
        try:
            response = self.request("GET", self._contents(path), params=params, accept=RAW, headers=headers)
        except NotFound:
            return FileFetch(text=None, etag=None)
        if response.status_code == 304:
            return FileFetch(text=None, etag=etag, not_modified=True)
        return FileFetch(text=_decode(response), etag=response.headers.get("etag"))

    def _contents(self, path: str) -> str:
        return self._path(f"/contents/{quote(path.lstrip('/'), safe='/')}")

    def list_paths(self, ref: str) -> list[str]:
        """Every file path at `ref` (a branch or commit), from one recursive tree request.

        GitHub cuts a tree at 100,000 entries (`truncated`); the paths it did return are kept.
        """
        tree = self._json("GET", f"/git/trees/{quote(ref, safe='')}", params={"recursive": "1"})
        return [entry["path"] for entry in tree.get("tree") or [] if entry.get("type") == "blob"]

    def get_branch_sha(self, branch: str) -> str | None:
        try:
            ref = self._json("GET", f"/git/ref/heads/{quote(branch, safe='/')}")
        except NotFound:
            return None
        return ref["object"]["sha"]

    def create_branch(self, branch: str, sha: str) -> bool:
        """Create `branch` at `sha`; False when it already exists (a retry, or a human)."""
        try:
            self._json("POST", "/git/refs", json={"ref": f"refs/heads/{branch}", "sha": sha})
        except GitHubError as exc:
            if exc.status == 422:  # "Reference already exists"
                return False
            raise
        return True

    def put_file(self, path: str, text: str, *, branch: str, message: str) -> dict:
        """Create a file on a branch (used for the optional draft postmortem document)."""
        content = base64.b64encode(text.encode("utf-8")).decode("ascii")
        body = {"message": message, "content": content, "branch": branch}
        return self.request("PUT", self._contents(path), json=body).json()
