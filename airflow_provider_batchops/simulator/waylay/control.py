"""Waylay's control routes under ``/_sim``: tokens, the rules tasks, resources and registry jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..http import error, json_body, query_flag
from ..middleware import CONTROL_PREFIX
from .auth import Tenant
from .registry_jobs import parse_job_spec, status_view

if TYPE_CHECKING:
    from . import WaylayState

router = APIRouter(prefix=CONTROL_PREFIX)


def _id_list(body: Any) -> bool:
    if not isinstance(body, list):
        return False
    return all(isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] for item in body)


@router.post("/tokens/expire")
async def expire_tokens(waylay: Tenant) -> Response:
    """Revoke every token issued so far."""
    waylay.tokens.revoke_all()
    return JSONResponse({"revoked": True})


@router.get("/rules/tasks")
async def list_tasks(waylay: Tenant) -> Response:
    """Every task in the rules store."""
    return JSONResponse(waylay.list_tasks())


@router.post("/rules/tasks")
async def put_tasks(request: Request, waylay: Tenant) -> Response:
    """Insert or replace tasks given as a JSON list; ``?replace=true`` empties the store first."""
    body = await json_body(request)
    if not _id_list(body):
        return error(400, "expected a JSON list of task objects, each with a string id")
    total = waylay.put_tasks(body, replace=query_flag(request.query_params.get("replace")))
    return JSONResponse({"stored": len(body), "total": total})


@router.get("/resources")
async def list_resources(waylay: Tenant) -> Response:
    """Every resource."""
    return JSONResponse(waylay.resources.items("resource"))


@router.get("/resourcetypes")
async def list_resource_types(waylay: Tenant) -> Response:
    """Every resource type."""
    return JSONResponse(waylay.resources.items("resourcetype"))


async def _put_resources(request: Request, waylay: WaylayState, entity: str) -> Response:
    body = await json_body(request)
    if not _id_list(body):
        return error(400, f"expected a JSON list of {entity} objects, each with a non-empty string id")
    for item in body if entity == "resource" else ():
        for key in ("parentId", "resourceTypeId"):
            if key in item and not isinstance(item[key], str):
                return error(400, f"{key} of resource {item['id']} must be a string")
    replace = query_flag(request.query_params.get("replace"))
    total = waylay.resources.put(entity, body, replace=replace)
    return JSONResponse({"stored": len(body), "total": total})


@router.post("/resources")
async def put_resources(request: Request, waylay: Tenant) -> Response:
    """Insert or replace resources (``{id, name?, resourceTypeId?, parentId?, ...}``); ``?replace=true``."""
    return await _put_resources(request, waylay, "resource")


@router.post("/resourcetypes")
async def put_resource_types(request: Request, waylay: Tenant) -> Response:
    """Insert or replace resource types (``{id, name?}``); ``?replace=true`` empties the store first."""
    return await _put_resources(request, waylay, "resourcetype")


@router.get("/registry/jobs")
async def list_jobs(waylay: Tenant) -> Response:
    """Every registry job (its status plus ``id``), newest first."""
    return JSONResponse([{"id": job.id, **status_view(job)} for job in waylay.registry.all_jobs()])


@router.post("/registry/jobs")
async def create_job(request: Request, waylay: Tenant) -> Response:
    """Create a registry job; answers ``{type, id, children: [{type, id}]}``."""
    body = await json_body(request)
    registry = waylay.registry
    try:
        job = registry.create(parse_job_spec(body))
    except ValueError as exc:
        return error(400, str(exc))
    registry.start_ticker()
    return JSONResponse(job.reference(), status_code=201)


@router.post("/registry/jobs/release")
async def release_job(request: Request, waylay: Tenant) -> Response:
    """Let a job created with ``hold`` run from now (body ``{type, id}``); answers its ``{type, id, children}``."""
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not isinstance(body.get("id"), str):
        return error(400, "expected a JSON object with the job's type and id")
    registry = waylay.registry
    try:
        job = registry.release(body["type"], body["id"])
    except LookupError as exc:
        return error(404, str(exc))
    except ValueError as exc:
        return error(409, str(exc))
    registry.start_ticker()
    return JSONResponse(job.reference())


@router.get("/registry/streams")
async def stream_stats(waylay: Tenant) -> Response:
    """Job event streams opened since the last reset, those open now, and the job events sent on them."""
    return JSONResponse(waylay.registry.stream_stats())
