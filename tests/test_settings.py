"""Settings come from the environment only; a missing or bad one stops start-up and says which."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.server.settings import Settings, SettingsError

SECRET = "webhook-secret-Do-Not-Print-7f3a"


@functools.cache
def private_key_pem() -> str:
    """A throwaway RSA key for the App (generated once per test session)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def app_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A complete, valid App environment; keys mapped to None are left out."""
    env = {
        "GITHUB_APP_ID": "12345",
        "GITHUB_APP_PRIVATE_KEY": private_key_pem(),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_SLUG": "blameless-bot",
        "BLAMELESS_DATA_DIR": str(tmp_path / "data"),
        **overrides,
    }
    return {k: v for k, v in env.items() if v is not None}


def test_a_complete_environment_gives_settings(tmp_path):
    settings = Settings.from_env(app_env(tmp_path))
    assert settings.issuer == "12345"
    assert settings.bot_login == "blameless-bot[bot]"
    assert settings.api_url == "https://api.github.com"
    assert settings.queue_backend == "sqlite"
    assert settings.queue_path == tmp_path / "data" / "queue.sqlite3"
    assert not settings.dry_run


def test_every_missing_setting_is_named_at_once(tmp_path):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"BLAMELESS_DATA_DIR": str(tmp_path)})
    message = str(raised.value)
    for name in (
        "GITHUB_APP_ID",
        "GITHUB_WEBHOOK_SECRET",
        "GITHUB_APP_PRIVATE_KEY",
        "GITHUB_APP_SLUG",
    ):
        assert name in message
    assert len(raised.value.problems) == 4


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("GITHUB_APP_ID", "my-app", "GITHUB_APP_ID"),
        ("GITHUB_API_URL", "ghe.example.com/api/v3", "GITHUB_API_URL"),
        ("REDIS_URL", "http://user:hunter2@redis:6379", "REDIS_URL"),
        ("BLAMELESS_DRY_RUN", "maybe", "BLAMELESS_DRY_RUN"),
        ("BLAMELESS_RETRIES", "-1", "BLAMELESS_RETRIES"),
        ("BLAMELESS_SWEEP_HOUR", "25", "BLAMELESS_SWEEP_HOUR"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL"),
    ],
)
def test_a_bad_value_is_named_but_not_echoed(tmp_path, name, value, named):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(app_env(tmp_path, **{name: value}))
    assert named in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_a_private_key_that_is_not_an_rsa_pem_is_refused_without_printing_it(tmp_path):
    ec_key = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    for bad in ("not a key at all", ec_key):
        with pytest.raises(SettingsError) as raised:
            Settings.from_env(app_env(tmp_path, GITHUB_APP_PRIVATE_KEY=bad))
        assert "GITHUB_APP_PRIVATE_KEY does not hold a PEM-encoded RSA private key" in str(raised.value)
        assert bad not in str(raised.value)


def test_the_private_key_can_come_from_a_file_or_a_one_line_env_value(tmp_path):
    key_file = tmp_path / "app.pem"
    key_file.write_text(private_key_pem())
    from_file = Settings.from_env(
        app_env(tmp_path, GITHUB_APP_PRIVATE_KEY=None, GITHUB_APP_PRIVATE_KEY_PATH=str(key_file))
    )
    one_line = Settings.from_env(
        app_env(tmp_path, GITHUB_APP_PRIVATE_KEY=private_key_pem().replace("\n", "\\n"))
    )
    assert from_file.private_key == one_line.private_key == private_key_pem()


def test_a_missing_key_file_is_named(tmp_path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(SettingsError, match="GITHUB_APP_PRIVATE_KEY_PATH cannot be read"):
        Settings.from_env(
            app_env(tmp_path, GITHUB_APP_PRIVATE_KEY=None, GITHUB_APP_PRIVATE_KEY_PATH=str(missing))
        )


def test_key_text_and_key_path_together_are_ambiguous(tmp_path):
    with pytest.raises(SettingsError, match="only one of"):
        Settings.from_env(app_env(tmp_path, GITHUB_APP_PRIVATE_KEY_PATH="/x.pem"))


def test_a_client_id_can_stand_in_for_the_app_id(tmp_path):
    settings = Settings.from_env(app_env(tmp_path, GITHUB_APP_ID=None, GITHUB_APP_CLIENT_ID="Iv23liExample"))
    assert settings.issuer == "Iv23liExample"


def test_ghes_api_url_and_redis_switch(tmp_path):
    settings = Settings.from_env(
        app_env(
            tmp_path,
            GITHUB_API_URL="https://ghe.example.com/api/v3/",
            REDIS_URL="redis://:pw@redis:6379/0",
        )
    )
    assert settings.api_url == "https://ghe.example.com/api/v3"
    assert settings.queue_backend == "redis"


def test_dry_run_needs_no_secret(tmp_path):
    settings = Settings.from_env({"BLAMELESS_DRY_RUN": "true", "BLAMELESS_DATA_DIR": str(tmp_path)})
    assert settings.dry_run
    assert settings.private_key is None and settings.webhook_secret is None


def test_the_queue_defaults_under_the_xdg_data_home(tmp_path):
    settings = Settings.from_env(
        {**app_env(tmp_path, BLAMELESS_DATA_DIR=None), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    )
    assert settings.queue_path == tmp_path / "xdg" / "blameless-bot" / "queue.sqlite3"


def test_repr_keeps_the_secrets_out(tmp_path):
    settings = Settings.from_env(app_env(tmp_path, REDIS_URL="redis://:hunter2@redis:6379"))
    text = repr(settings)
    assert SECRET not in text
    assert "PRIVATE KEY" not in text
    assert "hunter2" not in text
