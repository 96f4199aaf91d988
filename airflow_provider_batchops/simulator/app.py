"""The simulator application: shared state, request counters, fault injection, control routes.

Services: Waylay (token, rules and resources batch, registry jobs with their event stream),
SuperOffice BatchTask (``superoffice``) and Mammoth Analytics batches and jobs (``mammoth``, ``/api/v2``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, fields, replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import control, mammoth, superoffice, waylay
from .faults import FaultRule, FaultSet
from .http import error
from .waylay_registry import CUT_SCOPE_KEY

#: API key accepted by the simulator (24 hex characters, like a real Waylay key).
SIM_API_KEY = "5ca1ab1e0ddba11c0ffee000"
#: API secret accepted by the simulator (base64 of 24 bytes).
SIM_API_SECRET = "c2ltdWxhdG9yLXNlY3JldC0wMTIzNDU2"

CONTROL_PREFIX = control.CONTROL_PREFIX
UNMATCHED = "<unmatched>"
#: Route keys that stream (server-sent events); only they take ``cut`` faults.
STREAMING_ROUTES = frozenset({"GET /registry/v2/jobs/events"})


@dataclass
class SimulatorConfig:
    """Start-up settings; those in :data:`RUNTIME_SETTINGS` can change at run time.

    ``job_step_delay``: seconds per registry job state step; ``sse_keepalive``: idle seconds
    between keep-alives on event streams; ``sse_crlf``: end event stream lines in ``\\r\\n``;
    ``sse_multiline``: split every other JSON event payload over two ``data:`` lines;
    ``so_step_delay``: seconds per SuperOffice batch task state step; ``mammoth_job_delay``: seconds a
    Mammoth job stays ``processing`` before it reaches its outcome.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 42
    tasks: int = 200
    resources: int = 300
    batch_delay: float = 2.0
    token_ttl: float = 3600.0
    fail_ratio: float = 0.0
    job_step_delay: float = 1.0
    sse_keepalive: float = 15.0
    sse_crlf: bool = False
    sse_multiline: bool = False
    so_step_delay: float = 0.5
    mammoth_job_delay: float = 1.0
    api_key: str = SIM_API_KEY
    api_secret: str = SIM_API_SECRET
    tenant: str = "simulator"


NUMBER_SETTINGS = (
    "batch_delay",
    "token_ttl",
    "fail_ratio",
    "job_step_delay",
    "sse_keepalive",
    "so_step_delay",
    "mammoth_job_delay",
)
FLAG_SETTINGS = ("sse_crlf", "sse_multiline")
RUNTIME_SETTINGS = NUMBER_SETTINGS + FLAG_SETTINGS


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


class SimState:
    """Everything the simulator keeps in memory; one instance per application."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.initial = replace(config)
        self.config = replace(config)
        self.started_ms = int(time.time() * 1000)
        self.counters = Counters()
        self.faults = FaultSet()
        self.waylay = waylay.WaylayState(self)
        self.superoffice = superoffice.SuperOfficeState(lambda: self.config.so_step_delay)
        self.mammoth = mammoth.MammothState(lambda: self.config.seed, lambda: self.config.mammoth_job_delay)

    def reset(self, state: bool = False) -> None:
        """Clear counters, stream counts and faults; with ``state`` also restore the settings and re-seed."""
        self.counters.clear()
        self.faults.clear()
        self.waylay.registry.clear_stats()
        if state:
            self.config = replace(self.initial)
            self.waylay.reseed()
            self.superoffice.reset()
            self.mammoth.reseed()

    def update_config(self, changes: dict[str, Any]) -> None:
        """Apply run-time settings; raise ``ValueError`` on a bad one. A new fail_ratio re-seeds the tasks."""
        for key, value in changes.items():
            if key not in RUNTIME_SETTINGS:
                raise ValueError(f"unknown setting {key}, we support {', '.join(RUNTIME_SETTINGS)}")
            if key in FLAG_SETTINGS:
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            if key == "fail_ratio" and value > 1:
                raise ValueError("fail_ratio must be between 0 and 1")
            if key == "sse_keepalive" and value <= 0:
                raise ValueError("sse_keepalive must be a number > 0")
        config = replace(self.config)
        for key, value in changes.items():
            setattr(config, key, value if key in FLAG_SETTINGS else float(value))
        self.config = config
        if "fail_ratio" in changes:
            self.waylay.rules.reseed()

    def public_config(self) -> dict[str, Any]:
        """Current settings, without the API secret."""
        return {f.name: getattr(self.config, f.name) for f in fields(self.config) if f.name != "api_secret"}


class SimMiddleware:
    """Counts API requests per route template and injects the active faults."""

    def __init__(self, app: ASGIApp, sim: SimState, router: Router) -> None:
        self.app = app
        self.sim = sim
        self.router = router

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
        counters = self.sim.counters
        counters.hit(key)
        rule = self.sim.faults.take(key, streaming=key in STREAMING_ROUTES)
        if rule is not None and rule.kind not in ("slow", "cut"):
            await self._fault(rule, key, send)
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

    async def _fault(self, rule: FaultRule, key: str, send: Send) -> None:
        if rule.kind == "drop":
            # Promise more bytes than are sent, then return: the server closes the connection.
            self.sim.counters.status(key, "dropped")
            head = [(b"content-type", b"application/json"), (b"content-length", b"256")]
            await send({"type": "http.response.start", "status": 200, "headers": head})
            await send({"type": "http.response.body", "body": b'{"statusCode": 200, "re', "more_body": True})
            return
        if rule.kind == "malformed":
            status, body = 200, b'{"statusCode": 200, "uri": "/rules/v1/batch/<truncated'
        else:
            status = rule.status
            body = json.dumps({"statusCode": status, "error": "simulated fault"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        retry_after = rule.retry_after_header()
        if rule.kind == "status" and retry_after is not None:
            headers.append((b"retry-after", retry_after.encode()))
        self.sim.counters.status(key, status)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _DroppedResponseFilter(logging.Filter):
    """Silence the server's error line for responses dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("ASGI callable returned without completing response")


def _quiet_dropped_responses() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedResponseFilter) for f in logger.filters):
        logger.addFilter(_DroppedResponseFilter())


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    message = exc.detail if isinstance(exc, StarletteHTTPException) else "Internal error"
    return error(status, str(message))


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    """Build the simulator application; its state is ``app.state.sim`` (a :class:`SimState`)."""
    sim = SimState(config or SimulatorConfig())
    app = FastAPI(title="batchops simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = sim
    app.include_router(waylay.router)
    app.include_router(superoffice.router)
    app.include_router(mammoth.router)
    app.include_router(control.router)
    app.include_router(mammoth.control_router)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(superoffice.SoError, superoffice.so_error_handler)
    app.add_exception_handler(mammoth.MammothError, mammoth.mammoth_error_handler)
    app.add_middleware(SimMiddleware, sim=sim, router=app.router)
    _quiet_dropped_responses()
    return app
