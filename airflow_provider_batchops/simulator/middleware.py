"""The middleware in front of every API route: request counters and fault injection.

It knows no service: the application tells it, per route key, which service owns the route (for
the shape of an injected error body) and which routes stream (the only ones ``cut`` applies to).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import CUT_SCOPE_KEY, FaultRule, FaultSet
from .service import Service

CONTROL_PREFIX = "/_sim"
UNMATCHED = "<unmatched>"


class Counters:
    """Requests per route key and per route key + status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.total = 0

    def hit(self, route_key: str) -> None:
        """Count one received request."""
        with self._lock:
            self.requests[route_key] = self.requests.get(route_key, 0) + 1
            self.total += 1

    def status(self, route_key: str, status: int | str) -> None:
        """Count the status the request was answered with."""
        key = f"{route_key} {status}"
        with self._lock:
            self.statuses[key] = self.statuses.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """JSON form: ``{"requests": {...}, "statuses": {...}, "total": n}``."""
        with self._lock:
            return {"requests": dict(self.requests), "statuses": dict(self.statuses), "total": self.total}

    def clear(self) -> None:
        """Forget every count."""
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.total = 0


def route_owners(services: list[Service]) -> dict[str, Service]:
    """Route key (``"GET /path/{param}"``) -> the service whose API router serves it."""
    owners: dict[str, Service] = {}
    for service in services:
        for router in service.routers:
            for route in router.routes:
                template = getattr(route, "path_format", None)
                for method in getattr(route, "methods", None) or ():
                    if template is not None:
                        owners.setdefault(f"{method} {template}", service)
    return owners


class SimMiddleware:
    """Counts API requests per route template and injects the active faults."""

    def __init__(
        self, app: ASGIApp, counters: Counters, faults: FaultSet, router: Router, owners: Mapping[str, Service]
    ) -> None:
        self.app = app
        self.counters = counters
        self.faults = faults
        self.router = router
        self.owners = owners

    def route_key(self, scope: Scope) -> str:
        """``"<METHOD> <route template>"`` for the route the request goes to."""
        partial: BaseRoute | None = None
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return f"{scope['method']} {getattr(route, 'path_format', UNMATCHED)}"
            if match is Match.PARTIAL and partial is None:
                partial = route
        template = getattr(partial, "path_format", UNMATCHED) if partial is not None else UNMATCHED
        return f"{scope['method']} {template}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        key = self.route_key(scope)
        counters = self.counters
        counters.hit(key)
        owner = self.owners.get(key)
        rule = self.faults.take(key, streaming=owner is not None and key in owner.streaming_routes)
        if rule is not None and rule.kind not in ("slow", "cut"):
            await self._fault(rule, key, owner, send)
            return
        if rule is not None and rule.kind == "cut":
            scope = {**scope, CUT_SCOPE_KEY: rule.after_events}
        elif rule is not None:
            await asyncio.sleep(rule.delay)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                counters.status(key, message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _fault(self, rule: FaultRule, key: str, owner: Service | None, send: Send) -> None:
        api: Service | type[Service] = owner if owner is not None else Service  # no owner: the generic shape
        malformed = api.malformed_body
        if rule.kind == "drop":
            # Promise more bytes than are sent, then return: the server closes the connection.
            self.counters.status(key, "dropped")
            head = [(b"content-type", b"application/json"), (b"content-length", b"256")]
            await send({"type": "http.response.start", "status": 200, "headers": head})
            await send({"type": "http.response.body", "body": malformed[:22], "more_body": True})
            return
        if rule.kind == "malformed":
            status, body = 200, malformed
        else:
            status = rule.status
            body = api.fault_body(status)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        retry_after = rule.retry_after_header()
        if rule.kind == "status" and retry_after is not None:
            headers.append((b"retry-after", retry_after.encode()))
        self.counters.status(key, status)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _DroppedResponseFilter(logging.Filter):
    """Silence the server's error line for responses dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("ASGI callable returned without completing response")


def quiet_dropped_responses() -> None:
    """Install the filter of :class:`_DroppedResponseFilter` on uvicorn's error log (once)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedResponseFilter) for f in logger.filters):
        logger.addFilter(_DroppedResponseFilter())


__all__ = ["CONTROL_PREFIX", "Counters", "SimMiddleware", "quiet_dropped_responses", "route_owners"]
