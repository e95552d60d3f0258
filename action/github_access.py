"""GitHub for an Action step: a client from the workflow token, and the config it may trust.

The Action talks to GitHub only through `app.github.client.GitHubClient`, as the App does. Tests
inject a `ClientFactory` that points the client at the shared fake or at Prism.

The config comes from GitHub, never from the checkout of a pull request: a pull request must not
relax the checks that judge it, and the write jobs must not take orders from a PR head. It is read
from the pull request's base commit where there is one, else from the default branch (falling back
to the organisation's `.github` repository, as in the App). A repository with no config file gets
the defaults: the workflow that runs the Action is the opt-in.

githubkit is imported here and by the `app` modules only: `check` without a token never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from checks.config import Config, ConfigError

if TYPE_CHECKING:
    from app.github.client import GitHubClient

# (token, owner, repo, api_url) -> GitHubClient
ClientFactory = Callable[[str, str, str, str], "GitHubClient"]


def default_client_factory(token: str, owner: str, repo: str, api_url: str) -> GitHubClient:
    from app.github.client import GitHubClient

    return GitHubClient.for_token(token, owner, repo, base_url=api_url.rstrip("/") + "/")


def trusted_config(github: GitHubClient, path: str, ref: str | None = None) -> Config | ConfigError:
    """The config at `ref` (a PR's base commit), else the default branch's or the org's, else
    the defaults. A broken file comes back as a ConfigError to show, not raised."""
    from app.github.repo_config import ETagCache, config_at, load_config

    cache = ETagCache()  # one step, one run: nothing to revalidate against
    loaded = (config_at(github, ref, cache, path) if ref else None) or load_config(github, cache, path)
    return Config() if loaded is None else loaded


def record_created_issues(github: GitHubClient) -> list[dict]:
    """A list that fills with every issue `github` creates from now on (the `created-issues`
    output): whatever job runs, and however it finds what it made before, what it newly opened
    is exactly what went through `create_issue`."""
    created: list[dict] = []
    create_issue = github.create_issue

    def recording(*args, **kwargs) -> dict:
        issue = create_issue(*args, **kwargs)
        created.append(issue)
        return issue

    github.create_issue = recording  # type: ignore[method-assign]
    return created
