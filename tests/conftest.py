import pytest

pytest_plugins = [
    "tests.prism",
    "tests.redis_server",
    "tests.webhook_examples",
    "tests.fake_github",
    "tests.contract_helpers",
]


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path_factory, monkeypatch):
    """Each test keeps the package's data and the CLI's remembered findings in a folder of its
    own: a test that changes what a check finds must never be answered from another test's run,
    and no test writes into the user's cache."""
    monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("BLAMELESS_NO_CACHE", raising=False)  # the tests that need it set it
