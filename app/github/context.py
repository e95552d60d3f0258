"""What every job handler receives: the event, GitHub for its repository, the config, and the mode.

The worker builds one `JobContext` per delivery and calls each routed handler with it; tests build
one by hand around the fake GitHub. A broken config does not stop the job: it arrives as
`config_error` (with the defaults in `config`, so a handler can still tell whether the event
concerns it) and the handler shows it to the user where the user will look.

For the worker: `JobContext(event, github, repo_config.load_config(github), dry_run,
bot_login=settings.bot_login, bot_app_id=…)`, and build `github` with a `repo_factory` that mints a token for
another repository of the installation, so the org's `.github` config can be read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.github.client import GitHubClient
from app.github.events import Event, is_account
from app.github.markers import BotIdentity
from checks.config import Config, ConfigError
from checks.findings import DOCS_URL

__all__ = ["DOCS_URL", "JobContext", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobContext:
    event: Event
    github: GitHubClient
    config: Config | ConfigError
    dry_run: bool = False
    # The bot's own login ("<slug>[bot]"; "github-actions[bot]" in the Action): its own
    # comments and events are recognised by it, so the bot never reacts to itself.
    bot_login: str | None = None
    # The App's id: what GitHub records as `performed_via_github_app` on what the App writes.
    bot_app_id: int | None = None
    clock: Callable[[], datetime] = field(default=utc_now, repr=False)
    config_error: ConfigError | None = None

    def __post_init__(self) -> None:
        # The worker passes load_config's result as is: a Config, or a ConfigError to report.
        if isinstance(self.config, ConfigError):
            self.config_error, self.config = self.config, Config(source="<defaults>")
        if self.bot_login or self.bot_app_id is not None:
            # The client reads the bot's state (markers, its comments) as this account's only.
            self.github.bot = self.bot

    @property
    def bot(self) -> BotIdentity:
        """The bot as GitHub records the author of what it writes (see app.github.markers)."""
        return BotIdentity(self.bot_login, self.bot_app_id)

    @property
    def payload(self) -> dict:
        return self.event.payload

    def now(self) -> datetime:
        return self.clock()

    def is_own(self, user: dict | None) -> bool:
        """True when `user` (a payload's sender, a comment's author) is this bot."""
        return is_account(user, self.bot_login)


def format_time(timestamp: str | None) -> str:
    """GitHub's "2026-05-04T09:00:00Z" as "2026-05-04 09:00 UTC" (what the timeline checks read)."""
    if not timestamp:
        return ""
    return datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M UTC")
