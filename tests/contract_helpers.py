"""Contract tests of the GitHub layer: the jobs' requests, sent to Prism serving GitHub's OpenAPI.

`prism_github` gives a factory of GitHubClients pointed at the Prism server started by
`tests.prism`. After the test it fails on any *request* Prism (or the recorder's own checks)
found outside GitHub's published description. Prism also logs where its canned example
*responses* break the description (e.g. GET /pulls/{n}'s example lacks `requested_teams[].type`);
those are facts about GitHub's examples, not about our requests, so they are left out here.

Prism answers with the description's examples, not with state: scenarios run through the same
code paths as on the fake, and what is asserted is that every request is one GitHub accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from app.github.client import GitHubClient

OWNER, REPO = "octo-org", "octo-repo"
RESPONSE_ONLY = "Violation: response."


@pytest.fixture
def prism_github(prism_server, prism_contract, prism_url) -> Iterator[Callable[..., GitHubClient]]:
    from tests.prism import PrismRecorder

    recorder = PrismRecorder(prism_contract, base_url=prism_url)
    start = prism_server.mark()

    def client(owner: str = OWNER, repo: str = REPO) -> GitHubClient:
        return GitHubClient.for_token(
            "ghs_contract", owner, repo, base_url=prism_url + "/", transport=recorder.transport()
        )

    client.recorder = recorder  # type: ignore[attr-defined]
    yield client
    end = prism_server.mark()
    logged = prism_server.log_errors(start, end)
    recorder.extra.extend(f"Prism log: {line}" for line in logged if RESPONSE_ONLY not in line)
    assert recorder.exchanges, "the scenario sent nothing to Prism"
    recorder.assert_no_violations()
