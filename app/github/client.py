"""The one module that talks to GitHub, for both the App and the Action.

Every GitHub request either job makes goes through `GitHubClient`, a thin wrapper around a
githubkit `GitHub` bound to one repository. It owns what GitHub's documentation leaves to the
caller: the pinned REST API version, pagination, the limits on check runs, issues and comments
(chunking and truncating before GitHub answers 422), the id-versus-number trap of sub-issues, the
422-versus-silent-drop trap of assignees, and the mapping of GitHub's transient failures (5xx,
timeouts, secondary rate limits) to one exception the worker retries with backoff. Only a read
is tried again in place, a few times within seconds (`session`); a write, or a longer wait, is
the worker's to retry, never a request thread's.

Responses are read with `.json()`, never githubkit's strict models: real responses carry fields
and union members the models reject, and a job must not fail over schema drift.
"""

from __future__ import annotations

import httpx
from githubkit.exception import GitHubException

from app.github.check_runs import CheckAction, CheckRunRequests
from app.github.contents import ContentRequests, FileFetch
from app.github.errors import GitHubError, NotFound, TransientGitHubError
from app.github.issues import IssueRequests
from app.github.limits import TITLE_MAX, truncate
from app.github.pulls import PullRequests
from app.github.session import API_VERSION, make_github

__all__ = [
    "API_VERSION",
    "TITLE_MAX",
    "CheckAction",
    "FileFetch",
    "GitHubClient",
    "GitHubError",
    "NotFound",
    "TransientGitHubError",
    "make_github",
    "truncate",
]


class GitHubClient(IssueRequests, PullRequests, CheckRunRequests, ContentRequests):
    """GitHub for one repository (owner/repo), as the three jobs use it: one class, its request
    families in their own modules."""

    def viewer_login(self) -> str | None:
        """The account this client's token writes as, or None when GitHub will not say.

        GraphQL's `viewer` answers for a personal token, an App's installation token and a
        workflow's GITHUB_TOKEN alike (REST's `/user` refuses the last two): "octocat",
        "my-app[bot]", "github-actions[bot]".
        """
        try:
            data = self.gh.graphql.request("query { viewer { login } }")
        except (GitHubException, httpx.HTTPError, ValueError):
            return None
        login = ((data or {}).get("viewer") or {}).get("login")
        return login if isinstance(login, str) and login else None
