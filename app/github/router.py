"""Routing: each concern registers its handlers by dotted event name; one Router composes them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from app.github.events import Event

Handler = Callable[..., None]


class Router:
    """`@router.register("issues.labeled")` as in probot and gidgethub; routers compose."""

    def __init__(self, *routers: Router):
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        for other in routers:
            for key, handlers in other._handlers.items():
                self._handlers[key].extend(handlers)

    def register(self, *keys: str) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            for key in keys:
                self._handlers[key].append(handler)
            return handler

        return decorate

    def handlers(self, event: Event) -> list[Handler]:
        return list(self._handlers.get(event.key, ()))

    def handles(self, event: Event) -> bool:
        return bool(self._handlers.get(event.key))

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._handlers)
