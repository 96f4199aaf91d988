"""Mammoth's API routes under ``/api/v2``: batches of a dataset, and jobs."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from ..http import json_body
from ..service import unbound
from .bodies import parse_create, parse_patch
from .params import parse_fields, parse_int_list
from .store import Dataset, MammothState
from .wire import API_PREFIX, MAMMOTH_API_KEY, MAMMOTH_API_SECRET, MAX_URL_BYTES, MammothError, bad_request


def _check_request(request: Request) -> None:
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string", b"")
    if len(raw_path) + (len(query) + 1 if query else 0) > MAX_URL_BYTES:
        raise MammothError(414, "Request-URI Too Long")
    key = request.headers.get("x-api-key", "")
    secret = request.headers.get("x-api-secret", "")
    valid_key = hmac.compare_digest(key.encode(), MAMMOTH_API_KEY.encode())
    valid_secret = hmac.compare_digest(secret.encode(), MAMMOTH_API_SECRET.encode())
    if not (valid_key and valid_secret):
        raise MammothError(401, "Invalid or missing X-API-KEY / X-API-SECRET")
    workspace = request.headers.get("x-workspace-id")
    if workspace is not None and not re.fullmatch(r"\s*-?\d+\s*", workspace):
        raise bad_request("X-WORKSPACE-ID", f"must be an integer, got '{workspace}'")


def mammoth_state() -> MammothState:
    """Route dependency: the Mammoth account of this application (bound by the application)."""
    return unbound()  # type: ignore[no-any-return]


Account = Annotated[MammothState, Depends(mammoth_state)]


def authorized(request: Request, mm: Account) -> MammothState:
    """Route dependency: the Mammoth account, settled, once the request passes the checks (else 4xx)."""
    _check_request(request)
    mm.settle()
    return mm


Authorized = Annotated[MammothState, Depends(authorized)]
router = APIRouter(prefix=API_PREFIX)
DATASET = "/workspaces/{workspace_id}/projects/{project_id}/datasets/{dataset_id}"


def _path_int(name: str, value: str, low: int) -> int:
    if not value.isascii() or not value.isdigit() or int(value) < low:
        raise bad_request(name, f"must be an integer >= {low}, got '{value}'")
    return int(value)


def _dataset(mm: MammothState, workspace_id: str, project_id: str, dataset_id: str) -> Dataset:
    return mm.dataset(_path_int("workspace_id", workspace_id, 1), _path_int("project_id", project_id, 1),
                      _path_int("dataset_id", dataset_id, 0))


@router.get(DATASET + "/batches")
async def list_batches(workspace_id: str, project_id: str, dataset_id: str, request: Request,
                       mm: Authorized) -> Response:
    """GetBatches: one page of the dataset's batches, filtered and sorted."""
    dataset = _dataset(mm, workspace_id, project_id, dataset_id)
    return JSONResponse(mm.list_batches(dataset, request.query_params, request.url.path))


@router.post(DATASET + "/batches")
async def create_batch(workspace_id: str, project_id: str, dataset_id: str, request: Request,
                       mm: Authorized) -> Response:
    """CreateBatch: append the rows of another dataset as a new batch (a job)."""
    dataset = _dataset(mm, workspace_id, project_id, dataset_id)
    spec = parse_create(await json_body(request))
    return JSONResponse(mm.create(dataset, spec, request.url.path))


@router.delete(DATASET + "/batches")
async def delete_batches(workspace_id: str, project_id: str, dataset_id: str, request: Request,
                         mm: Authorized) -> Response:
    """DeleteBatches: delete the batches of ``?ids=1,2,3`` (a job)."""
    dataset = _dataset(mm, workspace_id, project_id, dataset_id)
    ids = parse_int_list("ids", request.query_params.get("ids"))
    if not ids:
        raise bad_request("ids", "required comma separated list of batch ids")
    return JSONResponse(mm.delete(dataset, ids, request.url.path, "delete_batches"), status_code=202)


@router.patch(DATASET + "/batches")
async def update_batches(workspace_id: str, project_id: str, dataset_id: str, request: Request,
                         mm: Authorized) -> Response:
    """UpdateBatches: suspend and restore batches (a job)."""
    dataset = _dataset(mm, workspace_id, project_id, dataset_id)
    suspend, restore = parse_patch(await json_body(request))
    return JSONResponse(mm.patch(dataset, suspend, restore, request.url.path), status_code=202)


@router.get(DATASET + "/batches/{batch_id}")
async def get_batch(workspace_id: str, project_id: str, dataset_id: str, batch_id: str, request: Request,
                    mm: Authorized) -> Response:
    """GetBatch: ``{"batch": {...}}`` with the requested fields."""
    dataset = _dataset(mm, workspace_id, project_id, dataset_id)
    wanted = parse_fields(request.query_params.get("fields"))
    batch = mm.get_batch(dataset, _path_int("batch_id", batch_id, 0))
    return JSONResponse({"batch": batch.view(wanted, dataset.columns)})


@router.delete(DATASET + "/batches/{batch_id}")
async def delete_batch(workspace_id: str, project_id: str, dataset_id: str, batch_id: str, request: Request,
                       mm: Authorized) -> Response:
    """DeleteBatch: delete one batch (a job); 404 if it is not in the dataset."""
    dataset = _dataset(mm, workspace_id, project_id, dataset_id)
    batch = mm.get_batch(dataset, _path_int("batch_id", batch_id, 0))
    return JSONResponse(mm.delete(dataset, [batch.id], request.url.path, "delete_batch"), status_code=202)


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, mm: Authorized) -> Response:
    """GetJob: ``{"job": JobSchema}``."""
    return JSONResponse({"job": mm.job(_path_int("job_id", job_id, 0)).to_json()})


@router.get("/jobs")
async def get_jobs(request: Request, mm: Authorized) -> Response:
    """GetJobs: ``{"jobs": [...]}`` for ``?job_ids=1,2``; unknown ids are left out."""
    ids = parse_int_list("job_ids", request.query_params.get("job_ids"))
    return JSONResponse({"jobs": mm.job_list(ids or [])})
