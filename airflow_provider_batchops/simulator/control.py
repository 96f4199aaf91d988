"""Control routes under ``/_sim``: health, counters, faults, settings and the stores of each service.

They need no credentials and are neither counted nor disturbed by faults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .faults import FaultRule
from .http import error, json_body, query_flag
from .registry_jobs import parse_job_spec, status_view

if TYPE_CHECKING:
    from .app import SimState

CONTROL_PREFIX = "/_sim"

router = APIRouter(prefix=CONTROL_PREFIX)


def _sim(request: Request) -> SimState:
    sim: SimState = request.app.state.sim
    return sim


def _id_list(body: Any) -> bool:
    if not isinstance(body, list):
        return False
    return all(isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] for item in body)


@router.get("/health")
async def health() -> Response:
    """Liveness check."""
    return JSONResponse({"ok": True})


@router.get("/counters")
async def get_counters(request: Request) -> Response:
    """Request counters since the last reset."""
    return JSONResponse(_sim(request).counters.snapshot())


@router.post("/reset")
async def reset(request: Request) -> Response:
    """Clear counters, stream counts and faults; ``{"state": true}`` also re-seeds and restores the settings."""
    body = await json_body(request)
    _sim(request).reset(state=isinstance(body, dict) and body.get("state") is True)
    return JSONResponse({"reset": True})


@router.get("/faults")
async def list_faults(request: Request) -> Response:
    """Active fault rules."""
    return JSONResponse(_sim(request).faults.list())


@router.post("/faults")
async def add_fault(request: Request) -> Response:
    """Activate a fault rule."""
    body = await json_body(request)
    if not isinstance(body, dict):
        return error(400, "expected a JSON object describing the fault")
    try:
        rule = FaultRule.from_dict(body)
    except ValueError as exc:
        return error(400, str(exc))
    return JSONResponse(_sim(request).faults.add(rule).to_dict(), status_code=201)


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    """Remove every fault rule."""
    return JSONResponse({"cleared": _sim(request).faults.clear()})


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> Response:
    """Revoke every token issued so far."""
    _sim(request).waylay.tokens.revoke_all()
    return JSONResponse({"revoked": True})


@router.get("/config")
async def get_config(request: Request) -> Response:
    """Current settings."""
    return JSONResponse(_sim(request).public_config())


@router.post("/config")
async def set_config(request: Request) -> Response:
    """Change run-time settings (``batch_delay``, ``job_step_delay``, ``sse_keepalive``, ...)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        return error(400, "expected a JSON object of settings")
    try:
        _sim(request).update_config(body)
    except ValueError as exc:
        return error(400, str(exc))
    return JSONResponse(_sim(request).public_config())


@router.get("/rules/tasks")
async def list_tasks(request: Request) -> Response:
    """Every task in the rules store."""
    return JSONResponse(_sim(request).waylay.list_tasks())


@router.post("/rules/tasks")
async def put_tasks(request: Request) -> Response:
    """Insert or replace tasks given as a JSON list; ``?replace=true`` empties the store first."""
    body = await json_body(request)
    if not _id_list(body):
        return error(400, "expected a JSON list of task objects, each with a string id")
    total = _sim(request).waylay.put_tasks(body, replace=query_flag(request.query_params.get("replace")))
    return JSONResponse({"stored": len(body), "total": total})


@router.get("/resources")
async def list_resources(request: Request) -> Response:
    """Every resource."""
    return JSONResponse(_sim(request).waylay.resources.items("resource"))


@router.get("/resourcetypes")
async def list_resource_types(request: Request) -> Response:
    """Every resource type."""
    return JSONResponse(_sim(request).waylay.resources.items("resourcetype"))


async def _put_resources(request: Request, entity: str) -> Response:
    body = await json_body(request)
    if not _id_list(body):
        return error(400, f"expected a JSON list of {entity} objects, each with a non-empty string id")
    for item in body if entity == "resource" else ():
        for key in ("parentId", "resourceTypeId"):
            if key in item and not isinstance(item[key], str):
                return error(400, f"{key} of resource {item['id']} must be a string")
    replace = query_flag(request.query_params.get("replace"))
    total = _sim(request).waylay.resources.put(entity, body, replace=replace)
    return JSONResponse({"stored": len(body), "total": total})


@router.post("/resources")
async def put_resources(request: Request) -> Response:
    """Insert or replace resources (``{id, name?, resourceTypeId?, parentId?, ...}``); ``?replace=true``."""
    return await _put_resources(request, "resource")


@router.post("/resourcetypes")
async def put_resource_types(request: Request) -> Response:
    """Insert or replace resource types (``{id, name?}``); ``?replace=true`` empties the store first."""
    return await _put_resources(request, "resourcetype")


@router.get("/registry/jobs")
async def list_jobs(request: Request) -> Response:
    """Every registry job (its status plus ``id``), newest first."""
    jobs = _sim(request).waylay.registry.all_jobs()
    return JSONResponse([{"id": job.id, **status_view(job)} for job in jobs])


@router.post("/registry/jobs")
async def create_job(request: Request) -> Response:
    """Create a registry job; answers ``{type, id, children: [{type, id}]}``."""
    body = await json_body(request)
    registry = _sim(request).waylay.registry
    try:
        job = registry.create(parse_job_spec(body))
    except ValueError as exc:
        return error(400, str(exc))
    registry.start_ticker()
    return JSONResponse(job.reference(), status_code=201)


@router.post("/registry/jobs/release")
async def release_job(request: Request) -> Response:
    """Let a job created with ``hold`` run from now (body ``{type, id}``); answers its ``{type, id, children}``."""
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not isinstance(body.get("id"), str):
        return error(400, "expected a JSON object with the job's type and id")
    registry = _sim(request).waylay.registry
    try:
        job = registry.release(body["type"], body["id"])
    except LookupError as exc:
        return error(404, str(exc))
    except ValueError as exc:
        return error(409, str(exc))
    registry.start_ticker()
    return JSONResponse(job.reference())


@router.get("/registry/streams")
async def stream_stats(request: Request) -> Response:
    """Job event streams opened since the last reset, those open now, and the job events sent on them."""
    return JSONResponse(_sim(request).waylay.registry.stream_stats())
