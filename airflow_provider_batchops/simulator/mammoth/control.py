"""Mammoth's control routes under ``/_sim/mammoth``: bulk add of batches, the raw store of a dataset, every job."""

from __future__ import annotations

import math
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..http import error, json_body
from .bodies import check_columns
from .routes import Account
from .store import MammothState
from .wire import FULL_FIELDS, MAX_BULK, SEED_COLUMNS, SIM_PREFIX, STATES, JsonDict, MammothError, is_int, parse_iso


def add_batches(mm: MammothState, body: object) -> JsonDict:
    """Bulk add (``POST /_sim/mammoth/batches``); raise ``ValueError`` on a bad body."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object with workspace_id, project_id, dataset_id and count")
    known = {"workspace_id", "project_id", "dataset_id", "count", "start", "step_hours", "state",
             "name_prefix", "row_count", "columns", "dataset_name"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    for name, low in (("workspace_id", 1), ("project_id", 1), ("dataset_id", 0)):
        if not is_int(body.get(name)) or body[name] < low:
            raise ValueError(f"{name} must be an integer >= {low}")
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_BULK:
        raise ValueError(f"count must be an integer between 0 and {MAX_BULK}")
    step = body.get("step_hours", 1.0)
    if isinstance(step, bool) or not isinstance(step, int | float) or not math.isfinite(step):
        raise ValueError("step_hours must be a number")
    state = body.get("state", "active")
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    prefix = body.get("name_prefix", "batch")
    if not isinstance(prefix, str):
        raise ValueError("name_prefix must be a string")
    rows = body.get("row_count", 100)
    if not is_int(rows) or rows < 0:
        raise ValueError("row_count must be an integer >= 0")
    start = body.get("start")
    if start is not None and not isinstance(start, str):
        raise ValueError("start must be an ISO-8601 timestamp")
    try:
        first = parse_iso("start", start) if start is not None else time.time()
    except MammothError as exc:
        raise ValueError(exc.detail) from None
    workspace_id, project_id, dataset_id = body["workspace_id"], body["project_id"], body["dataset_id"]
    with mm.lock:
        mm.settle()
        if mm.projects.get(project_id, workspace_id) != workspace_id:
            raise ValueError(f"project {project_id} belongs to workspace {mm.projects[project_id]}")
        dataset = mm.datasets.get(dataset_id)
        if dataset is not None and (dataset.workspace_id, dataset.project_id) != (workspace_id, project_id):
            raise ValueError(f"dataset {dataset_id} belongs to workspace {dataset.workspace_id} "
                             f"project {dataset.project_id}")
        if dataset is None:
            columns = check_columns(body.get("columns", [dict(c) for c in SEED_COLUMNS]))
            name = body.get("dataset_name", f"dataset_{dataset_id}")
            dataset = mm.add_dataset(dataset_id, workspace_id, project_id, str(name), columns)
        step_seconds = float(step) * 3600
        ids = [mm.new_batch(dataset, f"{prefix}-{n + 1}", state, first + n * step_seconds, rows).id
               for n in range(count)]
        return {"ids": ids, "count": len(ids), "total": len(dataset.batches)}

def raw(mm: MammothState, workspace_id: int, project_id: int, dataset_id: int) -> JsonDict:
    """A dataset and every batch of it in full (``GET /_sim/mammoth/batches``)."""
    mm.settle()
    with mm.lock:
        dataset = mm.dataset(workspace_id, project_id, dataset_id)
        return {
            "workspace_id": dataset.workspace_id,
            "project_id": dataset.project_id,
            "dataset_id": dataset.id,
            "name": dataset.name,
            "columns": [dict(c) for c in dataset.columns],
            "rows": dataset.rows(),
            "batches": [b.view(FULL_FIELDS, dataset.columns) for b in dataset.batches.values()],
        }


router = APIRouter(prefix=SIM_PREFIX)


@router.post("/batches")
async def add_batches_route(request: Request, mm: Account) -> Response:
    """Add ``count`` batches to a dataset (created if missing); answers ``{ids, count, total}``.

    Body: ``workspace_id``, ``project_id``, ``dataset_id``, ``count``; optional ``start`` (ISO, default
    now), ``step_hours`` (1.0), ``state`` (``active``), ``name_prefix`` (``batch``; names are
    ``<prefix>-<n>``), ``row_count`` (100), and for a new dataset ``columns`` and ``dataset_name``.
    """
    try:
        added = add_batches(mm, await json_body(request))
    except ValueError as exc:
        return error(400, str(exc))
    return JSONResponse(added, status_code=201)


@router.get("/batches")
async def raw_batches(request: Request, mm: Account) -> Response:
    """The raw store of one dataset: ``?workspace_id=&project_id=&dataset_id=``."""
    values: dict[str, int] = {}
    for name in ("workspace_id", "project_id", "dataset_id"):
        text = request.query_params.get(name, "")
        if not text.isascii() or not text.isdigit():
            return error(400, f"{name} must be an integer")
        values[name] = int(text)
    try:
        return JSONResponse(raw(mm, **values))
    except MammothError as exc:
        return error(exc.status, exc.detail)


@router.get("/jobs")
async def all_jobs(mm: Account) -> Response:
    """Every job (``JobSchema``), oldest first, outcomes applied."""
    return JSONResponse(mm.job_list(None))
