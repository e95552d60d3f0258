"""Webhook events as the jobs see them: the event name, the action and the raw payload dict.

Payloads stay plain dicts: githubkit's strict models reject many real deliveries, and a delivery
must never be dropped over schema drift. Accessors read only the fields the jobs need.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    name: str  # the X-GitHub-Event header, e.g. "pull_request"
    delivery_id: str  # the X-GitHub-Delivery header; the same on a redelivery
    payload: dict

    @property
    def action(self) -> str | None:
        return self.payload.get("action")

    @property
    def key(self) -> str:
        """The dotted name routes are registered under: "issues.labeled", or "ping"."""
        return f"{self.name}.{self.action}" if self.action else self.name

    @property
    def installation_id(self) -> int | None:
        return (self.payload.get("installation") or {}).get("id")

    @property
    def repository(self) -> dict:
        return self.payload.get("repository") or {}

    @property
    def owner(self) -> str:
        return (self.repository.get("owner") or {}).get("login", "")

    @property
    def repo(self) -> str:
        return self.repository.get("name", "")

    @property
    def sender(self) -> dict:
        return self.payload.get("sender") or {}


def is_account(user: dict | None, login: str | None) -> bool:
    """True when `user` (a sender, a comment's author) is the account `login`; logins ignore case."""
    return bool(login) and ((user or {}).get("login") or "").lower() == login.lower()
