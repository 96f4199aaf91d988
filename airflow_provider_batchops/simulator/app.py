"""The simulator application: start-up settings, the services, their shared state, and assembly.

:func:`create_app` builds one FastAPI application from the services (:data:`SERVICES`): their API
routers, the generic control routes and theirs, the counting and fault middleware, one error
handler, and the binding of each service's state dependency to this application's state.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import control
from .faults import FaultSet
from .mammoth import MammothService
from .middleware import Counters, SimMiddleware, quiet_dropped_responses, route_owners
from .service import ApiError, Service, Setting
from .superoffice import SuperOfficeService
from .waylay import WaylayService
from .waylay.auth import SIM_API_KEY, SIM_API_SECRET

__all__ = ["RUNTIME_SETTINGS", "SIM_API_KEY", "SIM_API_SECRET", "SimState", "SimulatorConfig", "create_app"]


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


#: Every service, in the order their routes are matched.
SERVICES: tuple[type[Service], ...] = (
    WaylayService,
    SuperOfficeService,
    MammothService,
)


def _settings(services: list[type[Service]]) -> tuple[Setting, ...]:
    declared = [setting for service in services for setting in service.settings]
    return tuple(s for s in declared if not s.flag) + tuple(s for s in declared if s.flag)


#: Names of the run-time settings (``POST /_sim/config``): numbers first, then flags.
RUNTIME_SETTINGS = tuple(s.name for s in _settings(list(SERVICES)))


class SimState:
    """Everything the simulator keeps in memory; one instance per application.

    A service's state is an attribute named after the service (``sim.waylay``, ``sim.mammoth``).
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.initial = replace(config)
        self.config = replace(config)
        self.counters = Counters()
        self.faults = FaultSet()
        self.services: dict[str, Service] = {}
        for make in SERVICES:
            service = make(lambda: self.config)
            self.services[service.name] = service
        self.settings = {s.name: s for s in _settings(list(SERVICES))}

    def __getattr__(self, name: str) -> Any:
        services = self.__dict__.get("services", {})
        if name in services:
            return services[name].state
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def reset(self, state: bool = False) -> None:
        """Clear counters, stream counts and faults; with ``state`` also restore the settings and re-seed."""
        self.counters.clear()
        self.faults.clear()
        if state:
            self.config = replace(self.initial)
        for service in self.services.values():
            service.reset(state)

    def update_config(self, changes: dict[str, Any]) -> None:
        """Apply run-time settings; raise ``ValueError`` on a bad one (and then change none)."""
        for key, value in changes.items():
            setting = self.settings.get(key)
            if setting is None:
                raise ValueError(f"unknown setting {key}, we support {', '.join(self.settings)}")
            if setting.flag:
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            refused = setting.check(value) if setting.check is not None else None
            if refused:
                raise ValueError(refused)
        config = replace(self.config)
        for key, value in changes.items():
            setattr(config, key, value if self.settings[key].flag else float(value))
        self.config = config
        for service in self.services.values():
            service.settings_changed(set(changes))

    def public_config(self) -> dict[str, Any]:
        """Current settings, without the API secret."""
        return {f.name: getattr(self.config, f.name) for f in fields(self.config) if f.name != "api_secret"}


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    message = exc.detail if isinstance(exc, StarletteHTTPException) else "Internal error"
    return ApiError(status, str(message)).response()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    """Build the simulator application; its state is ``app.state.sim`` (a :class:`SimState`)."""
    sim = SimState(config or SimulatorConfig())
    app = FastAPI(title="batchops simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sim = sim
    services = list(sim.services.values())
    for service in services:
        for router in service.routers:
            app.include_router(router)
    app.include_router(control.router)
    for service in services:
        for router in service.control_routers:
            app.include_router(router)
        app.dependency_overrides.update(service.bindings())
    app.dependency_overrides[control.simulator] = lambda: sim
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_middleware(SimMiddleware, counters=sim.counters, faults=sim.faults, router=app.router,
                       owners=route_owners(services))
    quiet_dropped_responses()
    return app
