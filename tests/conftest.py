pytest_plugins = [
    "tests.prism",
    "tests.redis_server",
    "tests.webhook_examples",
    "tests.fake_github",
    "tests.contract_helpers",
]
