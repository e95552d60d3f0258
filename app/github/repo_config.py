"""`.github/blameless.yml` from the repository's default branch, else from the org's `.github`.

`load_config(github)` answers one of three ways, and the worker acts on each:
- a `Config`: run the jobs with it;
- `None`: neither the repository nor its organisation has the file, so the bot does nothing here
  (installing it org-wide is safe);
- a `ConfigError` (returned, not raised): the file is there but broken; the handlers show the
  problems (file, key, line) on the PR or the incident instead of guessing what was meant.

The default branch only, never a PR head: a pull request must not be able to relax the checks that
judge it. Reads are conditional on the last ETag, so an unchanged file costs a 304, which does not
count against the rate limit.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from app.github.client import FileFetch, GitHubClient, GitHubError, NotFound, TransientGitHubError
from checks.config import DEFAULT_CONFIG_PATH, Config, ConfigError, parse_config
from checks.output.safe_markdown import code, inline

log = logging.getLogger(__name__)

ORG_CONFIG_REPO = ".github"
CACHE_SIZE = 2048


@dataclass(frozen=True)
class _Entry:
    etag: str
    text: str


class ETagCache:
    """(API, owner, repo, path) -> the last ETag and text; bounded, shared by worker threads."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, etag: str | None, text: str | None) -> None:
        with self._lock:
            if etag is None or text is None:
                self._entries.pop(key, None)
                return
            self._entries[key] = _Entry(etag, text)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = ETagCache()


def read_cached(
    github: GitHubClient, path: str, cache: ETagCache = CACHE, ref: str | None = None
) -> str | None:
    """A file's text on the default branch (or `ref`), revalidated with its last ETag."""
    key = (github.base_url, github.owner.lower(), github.repo.lower(), path, ref)
    entry = cache.get(key)
    fetch: FileFetch = github.get_file_if_changed(path, ref, entry.etag if entry else None)
    if fetch.not_modified and entry is not None:
        return entry.text
    cache.put(key, fetch.etag, fetch.text)
    return fetch.text


def load_config(
    github: GitHubClient, cache: ETagCache = CACHE, path: str = DEFAULT_CONFIG_PATH, ref: str | None = None
) -> Config | ConfigError | None:
    """The config for github's repository (default branch, or `ref`): Config, a ConfigError to
    show, or None to do nothing. The org fallback is always the org repository's default branch."""
    text, source = read_cached(github, path, cache, ref), f"{github.full_name}:{path}"
    if text is None and github.repo.lower() != ORG_CONFIG_REPO:
        text, source = _org_config(github, path, cache), f"{github.owner}/{ORG_CONFIG_REPO}:{path}"
    if text is None:
        return None
    try:
        return parse_config(text, file=source)
    except ConfigError as error:
        log.info("config has problems", extra={"source": source, "problems": len(error.problems)})
        return error


def config_at(
    github: GitHubClient, ref: str, cache: ETagCache = CACHE, path: str = DEFAULT_CONFIG_PATH
) -> Config | ConfigError | None:
    """The repository's own file at `ref` (a PR's base branch or commit), or None when it has none.

    A PR is judged by its base: this file first, then `load_config`'s default branch and org.
    """
    text = read_cached(github, path, cache, ref)
    if text is None:
        return None
    try:
        return parse_config(text, file=f"{github.full_name}:{path}@{ref}")
    except ConfigError as error:
        return error


def _org_config(github: GitHubClient, path: str, cache: ETagCache) -> str | None:
    """The same path in the organisation's `.github` repository, when the token may read it.

    An installation token narrowed to the event's repository cannot see `.github`; `for_repo`
    gives the client factory a chance to mint one that can. Any refusal means "no org config".
    """
    try:
        return read_cached(github.for_repo(ORG_CONFIG_REPO), path, cache)
    except NotFound:
        return None
    except TransientGitHubError:
        raise  # a rate limit (also a 403) is "try later", never "there is no org config"
    except GitHubError as exc:
        if exc.status in (401, 403, 404, 422):  # e.g. no token can be minted for it
            return None
        raise


def problems_markdown(error: ConfigError) -> str:
    """The problems as a Markdown list for a check run summary or an issue comment."""
    lines = []
    for problem in error.problems:  # they quote the file: through the safe renderer
        where = code(problem.file) + (f", line {problem.line}" if problem.line else "")
        key = f", key {code(problem.key)}" if problem.key else ""
        lines.append(f"- {where}{key}: {inline(problem.message)}")
    return "\n".join(lines)
