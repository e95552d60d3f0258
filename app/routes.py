"""The whole bot in one line: every concern's router, composed."""

from __future__ import annotations

from app import action_items, check_suite, postmortem_issue
from app.router import Router

ROUTER = Router(postmortem_issue.router, check_suite.router, action_items.router)
