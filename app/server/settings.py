"""Settings of the running app, read from the environment once, in the factory, and checked.

Nothing here runs at import time: `Settings.from_env()` is called by the CLI (or a test) and
every problem is reported at once, naming the variable but never echoing a secret's value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_QUEUE_NAME = "blameless-bot"
DEFAULT_RETRIES = 8  # attempts in a row that change nothing before a delivery is marked failed
DEFAULT_RETRY_DELAY = 2.0  # the first retry's delay; it doubles only while attempts change nothing
DEFAULT_GIVE_UP_AFTER = 30 * 60.0  # a delivery still failing this long after its first attempt fails
DEFAULT_LEASE = 30.0  # a worker renews its hold on a delivery every third of this
DEFAULT_JOB_TIMEOUT = 10 * 60.0  # one attempt of one job, at most
DEFAULT_SWEEP_HOUR = 6  # UTC hour of the daily sweep

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class SettingsError(ValueError):
    """Start-up cannot go on; `problems` names each variable that is missing or bad."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"blameless-bot cannot start, check the environment:\n{lines}")


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from the environment. Secrets are kept out of repr()."""

    app_id: str | None = None
    client_id: str | None = None
    private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    app_slug: str | None = None
    data_dir: Path = Path("data")
    queue_path: Path = Path("data/queue.sqlite3")
    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    queue_name: str = DEFAULT_QUEUE_NAME
    workers: int = 2
    retries: int = DEFAULT_RETRIES
    retry_delay: float = DEFAULT_RETRY_DELAY
    give_up_after: float = DEFAULT_GIVE_UP_AFTER
    lease: float = DEFAULT_LEASE
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    write_interval: float = 1.0  # seconds between content-creating requests, as GitHub asks
    sweep_hour: int = DEFAULT_SWEEP_HOUR
    dry_run: bool = False
    log_level: str = "INFO"
    log_format: str = "json"

    @property
    def issuer(self) -> str | None:
        """The JWT `iss`: the app id, or the client id GitHub also accepts."""
        return self.app_id or self.client_id

    @property
    def bot_login(self) -> str | None:
        """The login GitHub gives the app's own actions: "<slug>[bot]"."""
        return f"{self.app_slug}[bot]" if self.app_slug else None

    @property
    def queue_backend(self) -> str:
        return "redis" if self.redis_url else "sqlite"

    def secrets(self) -> list[str]:
        """Every value no log line may show: the webhook secret, the private key and each line of
        it, REDIS_URL and the password in it, both as written in the URL and decoded."""
        values = [self.webhook_secret, self.redis_url, *redis_passwords(self.redis_url)]
        if self.private_key:
            values.append(self.private_key)
            values += [line for line in self.private_key.splitlines() if "-----" not in line]
        return [value for value in values if value]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; raise SettingsError listing all problems."""
        reader = _Reader(os.environ if env is None else env)
        settings = reader.read()
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


def default_data_dir(env: Mapping[str, str]) -> Path:
    """XDG's data home, so a bare `blameless-bot serve` keeps its queue somewhere sensible."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "blameless-bot"


class _Reader:
    """Collects problems instead of stopping at the first, so one start-up shows them all."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def read(self) -> Settings:
        dry_run = self.boolean("BLAMELESS_DRY_RUN", False)
        data_dir = Path(self.get("BLAMELESS_DATA_DIR") or default_data_dir(self.env))
        return Settings(
            dry_run=dry_run,
            **self.credentials(required=not dry_run),
            api_url=self.api_url(),
            data_dir=data_dir,
            queue_path=Path(self.get("BLAMELESS_QUEUE_PATH") or data_dir / "queue.sqlite3"),
            redis_url=self.redis_url(),
            queue_name=self.get("BLAMELESS_QUEUE_NAME") or DEFAULT_QUEUE_NAME,
            workers=int(self.number("BLAMELESS_WORKERS", 2, minimum=1)),
            retries=int(self.number("BLAMELESS_RETRIES", DEFAULT_RETRIES, minimum=0)),
            retry_delay=self.number("BLAMELESS_RETRY_DELAY", DEFAULT_RETRY_DELAY, minimum=0),
            give_up_after=self.number("BLAMELESS_GIVE_UP_AFTER", DEFAULT_GIVE_UP_AFTER, minimum=1),
            lease=self.number("BLAMELESS_LEASE", DEFAULT_LEASE, minimum=1),
            job_timeout=self.number("BLAMELESS_JOB_TIMEOUT", DEFAULT_JOB_TIMEOUT, minimum=1),
            write_interval=self.number("BLAMELESS_WRITE_INTERVAL", 1.0, minimum=0),
            sweep_hour=int(self.number("BLAMELESS_SWEEP_HOUR", DEFAULT_SWEEP_HOUR, 0, 23)),
            log_level=self.choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"}),
            log_format=self.choice("LOG_FORMAT", "json", {"json", "text"}),
        )

    def credentials(self, *, required: bool) -> dict:
        """The app's identity. In dry-run mode none is needed, but what is given is checked."""
        app_id, client_id = self.get("GITHUB_APP_ID"), self.get("GITHUB_APP_CLIENT_ID")
        if app_id is not None and not app_id.isdigit():
            self.problems.append("GITHUB_APP_ID must be the numeric app id")
        if required and not (app_id or client_id):
            self.problems.append("GITHUB_APP_ID (or GITHUB_APP_CLIENT_ID) is not set")
        secret = self.get("GITHUB_WEBHOOK_SECRET")
        if required and not secret:
            self.problems.append("GITHUB_WEBHOOK_SECRET is not set")
        slug = self.get("GITHUB_APP_SLUG")
        if required and not slug:
            # Without it the app cannot tell its own events apart and could loop.
            self.problems.append("GITHUB_APP_SLUG is not set (the app's URL name, e.g. blameless-bot)")
        return {
            "app_id": app_id,
            "client_id": client_id,
            "private_key": self.private_key(required=required),
            "webhook_secret": secret,
            "app_slug": slug,
        }

    def private_key(self, *, required: bool) -> str | None:
        text, path = self.get("GITHUB_APP_PRIVATE_KEY"), self.get("GITHUB_APP_PRIVATE_KEY_PATH")
        if text and path:
            self.problems.append("set only one of GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_PATH")
            return None
        if path:
            text = self.read_key_file(path)
            name = "GITHUB_APP_PRIVATE_KEY_PATH"
        else:
            name = "GITHUB_APP_PRIVATE_KEY"
            # .env files and CI secrets often carry the PEM on one line with literal "\n".
            text = text.replace("\\n", "\n") if text else None
        if text is None:
            if required and not path:
                self.problems.append("GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_PATH) is not set")
            return None
        if not is_rsa_private_key(text):
            self.problems.append(f"{name} does not hold a PEM-encoded RSA private key")
            return None
        return text

    def read_key_file(self, path: str) -> str | None:
        try:
            return Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            self.problems.append(f"GITHUB_APP_PRIVATE_KEY_PATH cannot be read ({path}: {reason})")
            return None

    def api_url(self) -> str:
        url = self.get("GITHUB_API_URL") or DEFAULT_API_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problems.append(
                "GITHUB_API_URL must be an http(s) URL, e.g. https://github.example.com/api/v3"
            )
        return url.rstrip("/")

    def redis_url(self) -> str | None:
        url = self.get("REDIS_URL")
        if url and not url.startswith(REDIS_SCHEMES):
            # The value may hold a password: name the variable only.
            self.problems.append("REDIS_URL must start with redis://, rediss:// or unix://")
        return url

    def boolean(self, name: str, default: bool) -> bool:
        value = (self.get(name) or "").lower()
        if not value:
            return default
        if value not in TRUE_WORDS | FALSE_WORDS:
            self.problems.append(f"{name} must be one of 1/0, true/false, yes/no, on/off")
            return default
        return value in TRUE_WORDS

    def number(self, name: str, default: float, minimum: float = 0, maximum: float | None = None):
        value = self.get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is None or number < minimum or (maximum is not None and number > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            self.problems.append(f"{name} must be a number {bounds}")
            return default
        return number

    def choice(self, name: str, default: str, allowed: set[str]) -> str:
        value = self.get(name)
        if value is None:
            return default
        if value.upper() in allowed or value.lower() in allowed:
            return value.upper() if value.upper() in allowed else value.lower()
        self.problems.append(f"{name} must be one of {', '.join(sorted(allowed))}")
        return default


def redis_passwords(url: str | None) -> list[str]:
    """The password a Redis URL carries (in its userinfo or `?password=`), percent-encoded as
    written and decoded as redis-py sends it; none for a URL redis-py cannot read."""
    from redis.connection import parse_url

    if not url:
        return []
    try:
        decoded = parse_url(url).get("password")
    except ValueError:
        return []
    if not decoded:
        return []
    parts = urlsplit(url)
    query = [pair.partition("=") for pair in parts.query.split("&")]
    written = [parts.password or "", *(value for key, _, value in query if key == "password")]
    return list(dict.fromkeys(form for form in (decoded, quote(decoded, safe=""), *written) if form))


def is_rsa_private_key(text: str) -> bool:
    """True for a PEM RSA private key (GitHub Apps sign with RS256 only)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(text.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        return False
    return isinstance(key, rsa.RSAPrivateKey)
