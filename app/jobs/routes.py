"""The whole bot in one line: every job's router, composed."""

from __future__ import annotations

from app.github.router import Router
from app.jobs import action_items, check_postmortem, daily_sweep
from app.jobs.open_postmortem import issue as open_postmortem

ROUTER = Router(open_postmortem.router, check_postmortem.router, action_items.router, daily_sweep.router)
