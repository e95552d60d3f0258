"""Loading `.github/blameless.yml`: repository first, then the org's `.github`, cached by ETag."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.github.client import TransientGitHubError
from app.github.repo_config import ETagCache, load_config, problems_markdown
from checks.config import Config, ConfigError
from tests.fake_github import FakeGitHub, assert_all_routed

OWNER, REPO = "octo-org", "octo-repo"
PATH = ".github/blameless.yml"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.add_repo(OWNER, REPO)
    yield fake
    assert_all_routed(fake)


def test_no_config_anywhere_means_do_nothing(fake):
    assert load_config(fake.client(OWNER, REPO), ETagCache()) is None


def test_the_repository_config_from_the_default_branch(fake):
    fake.repo(OWNER, REPO).put_file(PATH, "fail_on: warning\n")
    fake.repo(OWNER, REPO).put_file(PATH, "fail_on: never\n", ref="pr-head-sha")
    config = load_config(fake.client(OWNER, REPO), ETagCache())
    assert isinstance(config, Config) and config["fail_on"] == "warning"
    assert all("ref" not in call.query for call in fake.calls_to("GET", "/contents/"))


def test_falls_back_to_the_org_dot_github_repository(fake):
    fake.add_repo(OWNER, ".github", files={PATH: "fail_on: never\n"})
    config = load_config(fake.client(OWNER, REPO), ETagCache())
    assert config["fail_on"] == "never" and config.source == f"{OWNER}/.github:{PATH}"


def test_a_rate_limit_on_the_org_config_is_retried_not_read_as_no_config(fake):
    """A secondary rate limit answers 403: the delivery must be retried, not marked "no config"."""
    fake.add_repo(OWNER, ".github", files={PATH: "fail_on: never\n"})
    fake.fail_next(
        403, method="GET", path=r"/repos/octo-org/\.github/contents/", headers={"retry-after": "30"}
    )
    with pytest.raises(TransientGitHubError) as raised:
        load_config(fake.client(OWNER, REPO), ETagCache())
    assert raised.value.retry_after == 30


def test_org_fallback_goes_through_the_repo_factory(fake):
    """An App token narrowed to one repository cannot read `.github`: the factory mints another."""
    fake.add_repo(OWNER, ".github", files={PATH: "fail_on: never\n"})
    fake.add_token("narrow", app_id=1, login="b[bot]", repos=[f"{OWNER}/{REPO}"])
    fake.add_token("dotgithub", app_id=1, login="b[bot]", repos=[f"{OWNER}/.github"])
    narrow = fake.client(OWNER, REPO, token="narrow")
    assert load_config(narrow, ETagCache()) is None  # the narrowed token sees a 404
    narrow.repo_factory = lambda owner, repo: fake.client(owner, repo, token="dotgithub")
    assert load_config(narrow, ETagCache())["fail_on"] == "never"


def test_a_broken_config_is_returned_for_the_handlers_to_show(fake):
    fake.repo(OWNER, REPO).put_file(PATH, "fail_on: warning\nunknown_key: 1\n")
    error = load_config(fake.client(OWNER, REPO), ETagCache())
    assert isinstance(error, ConfigError)
    problem = error.problems[0]
    assert (problem.file, problem.line, problem.key) == (f"{OWNER}/{REPO}:{PATH}", 2, "unknown_key")
    assert f"`{OWNER}/{REPO}:{PATH}`, line 2, key `unknown_key`" in problems_markdown(error)


def test_an_unchanged_config_is_a_304_the_second_time(fake):
    fake.repo(OWNER, REPO).put_file(PATH, "fail_on: warning\n")
    cache = ETagCache()
    load_config(fake.client(OWNER, REPO), cache)
    again = load_config(fake.client(OWNER, REPO), cache)
    assert again["fail_on"] == "warning"
    assert [c.status for c in fake.calls_to("GET", "/contents/")] == [200, 304]
    fake.repo(OWNER, REPO).put_file(PATH, "fail_on: never\n")
    assert load_config(fake.client(OWNER, REPO), cache)["fail_on"] == "never"


def test_the_cache_is_bounded():
    cache = ETagCache(size=2)
    for n in range(3):
        cache.put(("k", n), f'"{n}"', "text")
    assert cache.get(("k", 0)) is None and cache.get(("k", 2)) is not None


def test_a_config_nested_thousands_deep_is_a_config_error_for_the_app(fake):
    fake.repo(OWNER, REPO).put_file(PATH, "paths: " + "[" * 2000 + "]" * 2000 + "\n")
    error = load_config(fake.client(OWNER, REPO), ETagCache())
    assert isinstance(error, ConfigError)
    [problem] = error.problems
    assert problem.file.endswith(PATH)
    assert problem.message == "not valid YAML: nested more than 50 levels deep"
