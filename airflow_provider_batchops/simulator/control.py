"""The generic control routes under ``/_sim``: health, counters, reset, faults and settings.

Each service adds its own control routes (its stores, tokens, jobs) beside these. Control routes
need no credentials and are neither counted nor disturbed by faults; they answer errors as
``{"statusCode", "error"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from .faults import FaultRule
from .http import error, json_body
from .middleware import CONTROL_PREFIX
from .service import unbound

if TYPE_CHECKING:
    from .app import SimState

__all__ = ["CONTROL_PREFIX", "HELP", "router", "simulator"]

#: The generic control routes as ``--help`` lists them: (method, path, what it does).
HELP: tuple[tuple[str, str, str], ...] = (
    ("GET", "/_sim/health", 'liveness check: {"ok": true}'),
    ("GET", "/_sim/counters", "API requests per route key and per route key + status since the last reset"),
    ("POST", "/_sim/reset", 'clear counters and faults; with {"state": true} also the stores and settings'),
    ("GET", "/_sim/faults", "the active fault rules"),
    ("POST", "/_sim/faults", "add a fault rule (fields below); answers the rule with its id"),
    ("DELETE", "/_sim/faults", "remove every fault rule"),
    ("GET", "/_sim/config", "the current settings (without the API secret)"),
    ("POST", "/_sim/config", "change run-time settings (names below), e.g. {\"batch_delay\": 0.5}"),
)


def simulator() -> SimState:
    """Route dependency: the simulator's state (bound by :func:`~.app.create_app`)."""
    return unbound()  # type: ignore[no-any-return]


# FastAPI resolves annotations in this module at run time, where SimState is not importable.
Simulator = Annotated[Any, Depends(simulator)]
router = APIRouter(prefix=CONTROL_PREFIX)


@router.get("/health")
async def health() -> Response:
    """Liveness check."""
    return JSONResponse({"ok": True})


@router.get("/counters")
async def get_counters(sim: Simulator) -> Response:
    """Request counters since the last reset."""
    return JSONResponse(sim.counters.snapshot())


@router.post("/reset")
async def reset(body: Annotated[Any, Depends(json_body)], sim: Simulator) -> Response:
    """Clear counters, stream counts and faults; ``{"state": true}`` also re-seeds and restores the settings."""
    sim.reset(state=isinstance(body, dict) and body.get("state") is True)
    return JSONResponse({"reset": True})


@router.get("/faults")
async def list_faults(sim: Simulator) -> Response:
    """Active fault rules."""
    return JSONResponse(sim.faults.list())


@router.post("/faults")
async def add_fault(body: Annotated[Any, Depends(json_body)], sim: Simulator) -> Response:
    """Activate a fault rule."""
    if not isinstance(body, dict):
        return error(400, "expected a JSON object describing the fault")
    try:
        rule = FaultRule.from_dict(body)
    except ValueError as exc:
        return error(400, str(exc))
    return JSONResponse(sim.faults.add(rule).to_dict(), status_code=201)


@router.delete("/faults")
async def clear_faults(sim: Simulator) -> Response:
    """Remove every fault rule."""
    return JSONResponse({"cleared": sim.faults.clear()})


@router.get("/config")
async def get_config(sim: Simulator) -> Response:
    """Current settings."""
    return JSONResponse(sim.public_config())


@router.post("/config")
async def set_config(body: Annotated[Any, Depends(json_body)], sim: Simulator) -> Response:
    """Change run-time settings (``batch_delay``, ``job_step_delay``, ``sse_keepalive``, ...)."""
    if not isinstance(body, dict):
        return error(400, "expected a JSON object of settings")
    try:
        sim.update_config(body)
    except ValueError as exc:
        return error(400, str(exc))
    return JSONResponse(sim.public_config())
