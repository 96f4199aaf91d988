"""Mammoth Analytics emulation: the batches and jobs API under ``/api/v2``.

A connection's host is ``http://127.0.0.1:<port>/api/v2``. Every request needs the headers
``X-API-KEY: MAMMOTH_API_KEY`` and ``X-API-SECRET: MAMMOTH_API_SECRET`` (else 401);
``X-WORKSPACE-ID`` is optional but must be an integer when sent (else 400). A request whose URL
(path and query) is longer than :data:`MAX_URL_BYTES` gets 414, as from a real proxy. Errors have
Mammoth's body ``{"status_code", "detail"}``, plus ``extra`` (``{"field": ...}``) on a 400.

Store: workspaces -> projects -> datasets (with columns ``{c_id, c_name, c_type}``) -> batches.
Batch and job ids are global and increasing. Seeded from the simulator seed: workspace
:data:`SEED_WORKSPACE_ID`, project :data:`SEED_PROJECT_ID`, target dataset :data:`TARGET_DATASET_ID`
(40 batches over the last 200 days, mostly ``active``, four ``suspended``, two ``sync_pending``) and
source dataset :data:`SOURCE_DATASET_ID` (two active batches; same column ids, names and types).

Create, delete and suspend/restore answer an ack ``{status_code, job_id, failure_reason}`` and run
as jobs: ``processing`` until ``mammoth_job_delay`` seconds after creation, then their outcome,
applied lazily (in due order) on the next request that touches the Mammoth store:

- create (``POST .../batches``): fails (``failure``, ``{"error": "Column type mismatch: ..."}``) when
  ``expected_destination_c_type`` differs from the destination column's type, and with
  ``{"error": "Column not found: ..."}`` / ``"Source dataset N not found"``; otherwise appends an
  ``active`` batch whose ``row_count`` is the sum of the source's active batches and answers
  ``{"batch_id": N}``; ``delete_source_ds`` then removes the source dataset; ``new_ds_details`` is
  validated and otherwise ignored. ``validate_only`` checks
  the mapping at once: ``{"status_code": 200, "job_id": null, "failure_reason": null}``, or
  ``status_code`` 400 with the reason in ``failure_reason``; nothing is created.
- delete (``DELETE .../batches?ids=..`` and ``DELETE .../batches/{id}``): the batches are
  ``deleting`` at once and still listed; the job removes them (``{"deleted_ids": [...]}``). Ids not in
  the dataset make the job fail (``{"error", "failed_ids"}``) and nothing is marked or deleted; a
  batch whose name contains ``locked`` ends the job in ``error`` with
  ``{"response": {"detail": "Batch N is locked"}}``, nothing deleted and the states restored.
- suspend/restore (``PATCH .../batches``): ``suspended`` / ``active`` (``{"suspended", "restored"}``);
  unknown ids or batches being deleted make the job fail and nothing changes.

The list's ``next`` is the relative URI of the next page (``api/v2/...?limit=L&offset=O&<other
params>``) and ``""`` on the last page (also when ``limit`` is 0). Control routes live under
``/_sim/mammoth``: bulk add of batches, the raw store of a dataset and every job.
"""

from __future__ import annotations

import heapq
import hmac
import itertools
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import attrgetter
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from .control import CONTROL_PREFIX
from .http import error, json_body

MAMMOTH_API_KEY = "mammoth-sim-key-7c41e2d9a05b"
MAMMOTH_API_SECRET = "mammoth-sim-secret-3f9b6a18d2c4e075"

API_PREFIX = "/api/v2"
SIM_PREFIX = CONTROL_PREFIX + "/mammoth"
#: Longest accepted request URL (path and query, in bytes); longer ones get 414.
MAX_URL_BYTES = 8000

SEED_WORKSPACE_ID = 4
SEED_PROJECT_ID = 1020
TARGET_DATASET_ID = 3453
SOURCE_DATASET_ID = 3460
#: Columns of both seeded datasets (the source's match the target's by id, name and type).
SEED_COLUMNS: tuple[dict[str, str], ...] = (
    {"c_id": "c_order_id", "c_name": "order_id", "c_type": "text"},
    {"c_id": "c_amount", "c_name": "amount", "c_type": "numeric"},
    {"c_id": "c_ordered_on", "c_name": "ordered_on", "c_type": "date"},
    {"c_id": "c_region", "c_name": "region", "c_type": "text"},
)
SEED_BATCHES = 40
SEED_DAYS = 200
FIRST_BATCH_ID = 101
FIRST_JOB_ID = 5001

STATES = ("active", "sync_pending", "suspended", "deleting")
JOB_STATUSES = ("success", "failure", "processing", "error")
COLUMN_TYPES = ("text", "numeric", "date")
EXPECTED_TYPES = ("TEXT", "NUMERIC", "DATE")
PATCH_OPS = ("replace", "add", "remove", "command")
MIN_FIELDS = ("id", "name", "state", "created_at")
STANDARD_FIELDS = (*MIN_FIELDS, "description", "row_count", "column_count", "source")
FULL_FIELDS = (*STANDARD_FIELDS, "data_schema")
FIELD_PRESETS = {"__min": MIN_FIELDS, "__standard": STANDARD_FIELDS, "__full": FULL_FIELDS}
SORT_FIELDS = ("id", "name", "state", "created_at", "row_count", "column_count")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_BULK = 100_000

JsonDict = dict[str, Any]


class MammothError(Exception):
    """An API error answered with Mammoth's body ``{"status_code", "detail"[, "extra"]}``."""

    def __init__(self, status: int, detail: str, extra: JsonDict | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def bad_request(name: str, message: str) -> MammothError:
    """A 400 naming the field (``"<name>: <message>"``, ``extra.field``)."""
    return MammothError(400, f"{name}: {message}", {"field": name})


def mammoth_error(status: int, detail: str, extra: JsonDict | None = None) -> JSONResponse:
    """Mammoth's error body."""
    body: JsonDict = {"status_code": status, "detail": detail}
    if extra is not None:
        body["extra"] = extra
    return JSONResponse(body, status_code=status)


async def mammoth_error_handler(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`MammothError`."""
    assert isinstance(exc, MammothError)
    return mammoth_error(exc.status, exc.detail, exc.extra)


def iso(seconds: float) -> str:
    """UTC ISO-8601 with microseconds and ``Z``, e.g. ``2024-02-04T14:44:41.532345Z``."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(name: str, text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp (naive means UTC); 400 naming ``name`` if invalid."""
    value = text.strip()
    if "T" in value:
        value = re.sub(r" (\d\d:?\d\d)$", r"+\1", value)  # a '+' that arrived as a space
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(name, f"invalid ISO-8601 timestamp '{text}'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- query parameters ------------------------------------------------------------------------

_CREATED_AT = re.compile(r"^\((.*)\)$", re.DOTALL)
_BOUND = re.compile(r"^\s*(from|to)\s*:\s*'([^']*)'\s*$")
_SORT = re.compile(r"\(\s*(\w+)\s*:\s*(asc|desc)\s*\)", re.IGNORECASE)


def parse_int_list(name: str, text: str | None) -> list[int] | None:
    """A comma list of non-negative integers, without duplicates; ``None`` when absent or empty."""
    if text is None:
        return None
    pieces = [piece.strip() for piece in text.split(",")]
    if not any(pieces):
        return None
    values: list[int] = []
    for piece in pieces:
        if not piece:
            continue
        if not piece.isdigit() or not piece.isascii():
            raise bad_request(name, f"expected a comma separated list of integers, got '{piece}'")
        values.append(int(piece))
    return list(dict.fromkeys(values))


def parse_bounded_int(name: str, text: str | None, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter within ``low..high``."""
    if text is None or text.strip() == "":
        return default
    value = text.strip()
    wanted = f"an integer >= {low}" if high is None else f"an integer between {low} and {high}"
    if not re.fullmatch(r"-?\d+", value) or int(value) < low or (high is not None and int(value) > high):
        raise bad_request(name, f"must be {wanted}, got '{text}'")
    return int(value)


def parse_fields(text: str | None) -> tuple[str, ...]:
    """Requested batch fields (comma list and/or presets), in the canonical order."""
    if text is None or text.strip() == "":
        return STANDARD_FIELDS
    wanted: set[str] = set()
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if piece in FIELD_PRESETS:
            wanted.update(FIELD_PRESETS[piece])
        elif piece in FULL_FIELDS:
            wanted.add(piece)
        else:
            known = ", ".join((*FULL_FIELDS, *FIELD_PRESETS))
            raise bad_request("fields", f"unknown field '{piece}', use {known}")
    return tuple(f for f in FULL_FIELDS if f in wanted) or STANDARD_FIELDS


def parse_created_at(text: str | None) -> tuple[float | None, float | None]:
    """``(from:'ISO',to:'ISO')`` with either bound optional -> (low, high) epoch seconds, inclusive."""
    if text is None or text.strip() == "":
        return None, None
    usage = "expected (from:'<ISO-8601>',to:'<ISO-8601>'), either bound may be left out"
    found = _CREATED_AT.match(text.strip())
    if not found or not found.group(1).strip():
        raise bad_request("created_at", usage)
    bounds: dict[str, float] = {}
    for part in found.group(1).split(","):
        bound = _BOUND.match(part)
        if bound is None or bound.group(1) in bounds:
            raise bad_request("created_at", usage)
        bounds[bound.group(1)] = parse_iso("created_at", bound.group(2))
    low, high = bounds.get("from"), bounds.get("to")
    if low is not None and high is not None and low > high:
        raise bad_request("created_at", "from is after to")
    return low, high


def parse_states(text: str | None) -> set[str] | None:
    """The ``status`` filter: a comma list of batch states."""
    if text is None:
        return None
    states = {piece.strip() for piece in text.split(",") if piece.strip()}
    unknown = sorted(states - set(STATES))
    if unknown:
        raise bad_request("status", f"unknown state '{unknown[0]}', use {', '.join(STATES)}")
    return states or None


def parse_sort(text: str | None) -> list[tuple[str, bool]]:
    """``(field:asc|desc)`` groups joined by commas -> ``[(field, descending)]``."""
    if text is None or text.strip() == "":
        return [("id", False)]
    value = text.strip()
    keys: list[tuple[str, bool]] = []
    position = 0
    while position < len(value):
        group = _SORT.match(value, position)
        if group is None:
            raise bad_request("sort", "expected (field:asc|desc) groups joined by commas, e.g. (id:asc),(state:desc)")
        name = group.group(1)
        if name not in SORT_FIELDS:
            raise bad_request("sort", f"cannot sort on '{name}', use {', '.join(SORT_FIELDS)}")
        keys.append((name, group.group(2).lower() == "desc"))
        position = group.end()
        if position < len(value):
            if value[position] != ",":
                raise bad_request("sort", "expected a comma between (field:dir) groups")
            position += 1
            if position == len(value):
                raise bad_request("sort", "trailing comma")
    return keys


# --- request bodies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """One mapping item; ``by`` is ``c_id`` or ``c_name``."""

    by: str
    source: str
    destination: str
    expected: str


@dataclass(frozen=True)
class CreateSpec:
    """A validated ``BatchesPostRequest``."""

    source_id: int
    mapping: tuple[ColumnMapping, ...]
    validate_only: bool
    delete_source_ds: bool
    new_ds_name: str | None = None


def parse_create(body: object) -> CreateSpec:
    """Validate a ``BatchesPostRequest``; raise a 400 naming the bad field."""
    if not isinstance(body, dict):
        raise bad_request("body", "expected a BatchesPostRequest JSON object")
    for name in ("source_id", "mapping", "validate_only", "delete_source_ds"):
        if name not in body:
            raise bad_request(name, "field required")
    if not _is_int(body["source_id"]) or body["source_id"] < 0:
        raise bad_request("source_id", "must be a non-negative integer")
    for name in ("validate_only", "delete_source_ds"):
        if not isinstance(body[name], bool):
            raise bad_request(name, "must be a boolean")
    mapping = body["mapping"]
    if not isinstance(mapping, list):
        raise bad_request("mapping", "must be a list of ColumnIdMapping or of ColumnNameMapping objects")
    if not mapping:
        raise bad_request("mapping", "must hold at least one column mapping")
    items: list[ColumnMapping] = []
    kind: str | None = None
    for index, item in enumerate(mapping):
        where = f"mapping[{index}]"
        if not isinstance(item, dict):
            raise bad_request(where, "expected a ColumnIdMapping or ColumnNameMapping object")
        if "source_c_id" in item or "destination_c_id" in item:
            this = "c_id"
        elif "source_c_name" in item or "destination_c_name" in item:
            this = "c_name"
        else:
            raise bad_request(where, "expected source_c_id/destination_c_id or source_c_name/destination_c_name")
        if kind is not None and this != kind:
            raise bad_request(where, "mixes ColumnIdMapping and ColumnNameMapping items; use one kind per list")
        kind = this
        for key in (f"source_{this}", f"destination_{this}"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise bad_request(f"{where}.{key}", "required non-empty string")
        expected = item.get("expected_destination_c_type")
        if expected not in EXPECTED_TYPES:
            raise bad_request(f"{where}.expected_destination_c_type", f"must be one of {', '.join(EXPECTED_TYPES)}")
        items.append(ColumnMapping(this, item[f"source_{this}"], item[f"destination_{this}"], str(expected)))
    details = body.get("new_ds_details")
    if details is not None and (not isinstance(details, dict) or not isinstance(details.get("name"), str)):
        raise bad_request("new_ds_details.name", "new_ds_details must be null or an object with a string name")
    return CreateSpec(
        source_id=body["source_id"],
        mapping=tuple(items),
        validate_only=body["validate_only"],
        delete_source_ds=body["delete_source_ds"],
        new_ds_name=details["name"] if details is not None else None,
    )


def parse_patch(body: object) -> tuple[list[int], list[int]]:
    """Validate a ``BatchesPatchRequest`` -> (suspend ids, restore ids); raise a 400 naming the field."""
    if not isinstance(body, dict):
        raise bad_request("body", "expected a BatchesPatchRequest JSON object")
    if "patch" not in body:
        raise bad_request("patch", "field required")
    patch = body["patch"]
    if not isinstance(patch, dict):
        raise bad_request("patch", "must be one BatchesPatchOperation object {op, path, value}")
    for name in ("op", "path", "value"):
        if name not in patch:
            raise bad_request(f"patch.{name}", "field required")
    if patch["op"] not in PATCH_OPS:
        raise bad_request("patch.op", f"must be one of {', '.join(PATCH_OPS)}")
    if patch["path"] != "batches":
        raise bad_request("patch.path", "must be batches")
    value = patch["value"]
    if not isinstance(value, dict):
        raise bad_request("patch.value", "must be an object with suspend and/or restore lists")
    lists: dict[str, list[int]] = {}
    for key in ("suspend", "restore"):
        ids = value.get(key)
        if ids is None:
            lists[key] = []
            continue
        if not isinstance(ids, list):
            raise bad_request(f"patch.value.{key}", "must be a list of integer batch ids or null")
        for index, item in enumerate(ids):
            if not _is_int(item):
                raise bad_request(f"patch.value.{key}[{index}]", "must be an integer batch id")
        lists[key] = list(dict.fromkeys(ids))
    both = sorted(set(lists["suspend"]) & set(lists["restore"]))
    if both:
        raise bad_request("patch.value", f"batch {both[0]} is both in suspend and restore")
    return lists["suspend"], lists["restore"]


# --- the store ---------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Batch:
    """One batch of a dataset."""

    id: int
    dataset_id: int
    name: str
    state: str
    created: float
    created_at: str
    row_count: int
    column_count: int
    source: JsonDict
    description: JsonDict

    def view(self, wanted: Iterable[str], columns: list[dict[str, str]]) -> JsonDict:
        """The ``BatchInfoSchema`` with only the ``wanted`` fields."""
        body: JsonDict = {}
        for name in wanted:
            if name == "data_schema":
                body[name] = [dict(column) for column in columns]
            elif name in ("source", "description"):
                body[name] = dict(getattr(self, name))
            else:
                body[name] = getattr(self, name)
        return body


@dataclass(eq=False)
class Dataset:
    """A dataset: its columns and its batches by id (in id order)."""

    id: int
    workspace_id: int
    project_id: int
    name: str
    columns: list[dict[str, str]]
    batches: dict[int, Batch] = field(default_factory=dict)

    def rows(self) -> int:
        """Rows of the dataset: the sum over its active batches."""
        return sum(b.row_count for b in self.batches.values() if b.state == "active")

    def column(self, by: str, key: str) -> dict[str, str] | None:
        """The column whose ``by`` (``c_id`` or ``c_name``) is ``key``."""
        return next((c for c in self.columns if c.get(by) == key), None)


@dataclass(eq=False)
class Job:
    """An asynchronous task; ``status`` stays ``processing`` until ``due``."""

    id: int
    kind: str
    operation: str
    path: str
    created: float
    due: float
    params: JsonDict
    status: str = "processing"
    response: Any = field(default_factory=dict)
    updated: float = 0.0

    def to_json(self) -> JsonDict:
        """``JobSchema``."""
        return {
            "id": self.id,
            "status": self.status,
            "response": self.response,
            "path": self.path,
            "operation": self.operation,
            "created_at": iso(self.created),
            "last_updated_at": iso(self.updated or self.created),
        }


def _check_columns(columns: object) -> list[dict[str, str]]:
    if not isinstance(columns, list) or not columns:
        raise ValueError("columns must be a non-empty list of {c_id, c_name, c_type}")
    checked: list[dict[str, str]] = []
    for column in columns:
        if not isinstance(column, dict) or not all(isinstance(column.get(k), str) for k in ("c_id", "c_name")):
            raise ValueError("every column needs string c_id and c_name")
        if column.get("c_type") not in COLUMN_TYPES:
            raise ValueError(f"c_type must be one of {', '.join(COLUMN_TYPES)}")
        checked.append({"c_id": column["c_id"], "c_name": column["c_name"], "c_type": column["c_type"]})
    return checked


class MammothState:
    """Workspaces, projects, datasets, batches and jobs of the emulated Mammoth account."""

    def __init__(self, seed: Callable[[], int], job_delay: Callable[[], float]) -> None:
        self._seed = seed
        self._job_delay = job_delay
        self.lock = threading.RLock()
        self.workspaces: set[int] = set()
        self.projects: dict[int, int] = {}
        self.datasets: dict[int, Dataset] = {}
        self.jobs: dict[int, Job] = {}
        self._pending: list[tuple[float, int]] = []
        self._batch_ids = itertools.count(FIRST_BATCH_ID)
        self._job_ids = itertools.count(FIRST_JOB_ID)
        self.reseed()

    # --- seeding and bookkeeping

    def reseed(self) -> None:
        """Regenerate the seeded store from the seed; forget every job and added dataset."""
        rng = random.Random(f"{self._seed()}-mammoth")
        now = time.time()
        with self.lock:
            self.workspaces = {SEED_WORKSPACE_ID}
            self.projects = {SEED_PROJECT_ID: SEED_WORKSPACE_ID}
            self.datasets = {}
            self.jobs = {}
            self._pending = []
            self._batch_ids = itertools.count(FIRST_BATCH_ID)
            self._job_ids = itertools.count(FIRST_JOB_ID)
            columns = [dict(c) for c in SEED_COLUMNS]
            target = self._add_dataset(TARGET_DATASET_ID, SEED_WORKSPACE_ID, SEED_PROJECT_ID, "orders", columns)
            ages = sorted((rng.uniform(0, SEED_DAYS * 86400) for _ in range(SEED_BATCHES)), reverse=True)
            special = rng.sample(range(SEED_BATCHES), 6)
            states = ["active"] * SEED_BATCHES
            for position in special[:4]:
                states[position] = "suspended"
            for position in special[4:]:
                states[position] = "sync_pending"
            for number, (age, state) in enumerate(zip(ages, states, strict=True), start=1):
                created = now - age
                day = datetime.fromtimestamp(created, tz=timezone.utc)
                self._new_batch(target, f"orders_{day:%Y_%m_%d}_{number:02d}.csv", state, created,
                                rng.randint(50, 5000))
            source = self._add_dataset(SOURCE_DATASET_ID, SEED_WORKSPACE_ID, SEED_PROJECT_ID, "orders_feed",
                                       [dict(c) for c in SEED_COLUMNS])
            for number in (1, 2):
                created = now - rng.uniform(0, 86400) - (2 - number) * 86400
                self._new_batch(source, f"orders_feed_{number:02d}.csv", "active", created, rng.randint(100, 900))

    def _add_dataset(self, dataset_id: int, workspace_id: int, project_id: int, name: str,
                     columns: list[dict[str, str]]) -> Dataset:
        self.workspaces.add(workspace_id)
        self.projects.setdefault(project_id, workspace_id)
        dataset = Dataset(dataset_id, workspace_id, project_id, name, columns)
        self.datasets[dataset_id] = dataset
        return dataset

    def _new_batch(self, dataset: Dataset, name: str, state: str, created: float, rows: int,
                   source: JsonDict | None = None) -> Batch:
        moment = datetime.fromtimestamp(created, tz=timezone.utc)  # whole microseconds, as on the wire
        batch = Batch(
            id=next(self._batch_ids),
            dataset_id=dataset.id,
            name=name,
            state=state,
            created=moment.timestamp(),
            created_at=moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            row_count=rows,
            column_count=len(dataset.columns),
            source=source if source is not None else {"type": "file"},
            description={"numeric_error_columns": [], "date_error_columns": []},
        )
        dataset.batches[batch.id] = batch
        return batch

    def dataset(self, workspace_id: int, project_id: int, dataset_id: int) -> Dataset:
        """The dataset at this path, or a 404 naming the first unknown part."""
        if workspace_id not in self.workspaces:
            raise MammothError(404, f"Workspace {workspace_id} not found")
        if self.projects.get(project_id) != workspace_id:
            raise MammothError(404, f"Project {project_id} not found in workspace {workspace_id}")
        dataset = self.datasets.get(dataset_id)
        if dataset is None or dataset.project_id != project_id or dataset.workspace_id != workspace_id:
            raise MammothError(404, f"Dataset {dataset_id} not found in project {project_id}")
        return dataset

    # --- jobs

    @property
    def job_delay(self) -> float:
        """Seconds a job stays ``processing`` (the ``mammoth_job_delay`` setting)."""
        return self._job_delay()

    def _start_job(self, kind: str, operation: str, path: str, params: JsonDict) -> Job:
        now = time.time()
        job = Job(next(self._job_ids), kind, operation, path, now, now + self.job_delay, params)
        self.jobs[job.id] = job
        heapq.heappush(self._pending, (job.due, job.id))
        return job

    def settle(self) -> None:
        """Reach the outcome of every job whose delay has passed, in due order."""
        now = time.time()
        with self.lock:
            while self._pending and self._pending[0][0] <= now:
                due, job_id = heapq.heappop(self._pending)
                job = self.jobs.get(job_id)
                if job is not None and job.status == "processing":
                    finish = {"create": self._finish_create, "delete": self._finish_delete,
                              "patch": self._finish_patch}[job.kind]
                    job.status, job.response = finish(job)
                    job.updated = due

    def job(self, job_id: int) -> Job:
        """The job with ``job_id`` or a 404."""
        self.settle()
        job = self.jobs.get(job_id)
        if job is None:
            raise MammothError(404, f"Job {job_id} not found")
        return job

    def job_list(self, ids: list[int] | None) -> list[JsonDict]:
        """``JobSchema`` of the known ``ids`` (unknown ids left out); every job when ``ids`` is None."""
        self.settle()
        with self.lock:
            if ids is None:
                return [job.to_json() for job in self.jobs.values()]
            return [self.jobs[i].to_json() for i in ids if i in self.jobs]

    # --- batches

    def list_batches(self, dataset: Dataset, query: Any, path: str) -> JsonDict:
        """A ``BatchesList`` page for the query parameters (a Starlette ``QueryParams``)."""
        wanted = parse_fields(query.get("fields"))
        ids = parse_int_list("id", query.get("id"))
        low, high = parse_created_at(query.get("created_at"))
        states = parse_states(query.get("status"))
        rows = parse_int_list("row_count", query.get("row_count"))
        keys = parse_sort(query.get("sort"))
        limit = parse_bounded_int("limit", query.get("limit"), DEFAULT_LIMIT, 0, MAX_LIMIT)
        offset = parse_bounded_int("offset", query.get("offset"), 0, 0)
        with self.lock:
            if ids is not None:
                items = [dataset.batches[i] for i in sorted(ids) if i in dataset.batches]
            else:
                items = list(dataset.batches.values())
            if states is not None:
                items = [b for b in items if b.state in states]
            if rows is not None:
                row_set = set(rows)
                items = [b for b in items if b.row_count in row_set]
            if low is not None:
                items = [b for b in items if b.created >= low]
            if high is not None:
                items = [b for b in items if b.created <= high]
            if keys != [("id", False)]:
                for name, descending in reversed(keys):
                    items.sort(key=attrgetter("created" if name == "created_at" else name), reverse=descending)
            page = [b.view(wanted, dataset.columns) for b in items[offset:offset + limit]]
            total = len(items)
        following = ""
        if limit > 0 and offset + limit < total:
            others = [(k, v) for k, v in query.multi_items() if k not in ("limit", "offset")]
            pairs = [("limit", str(limit)), ("offset", str(offset + limit)), *others]
            following = path.lstrip("/") + "?" + urlencode(pairs, quote_via=quote, safe="(),:'")
        return {"batches": page, "next": following, "offset": offset, "limit": limit, "pending_batches": []}

    def get_batch(self, dataset: Dataset, batch_id: int) -> Batch:
        """A batch of ``dataset`` or a 404."""
        batch = dataset.batches.get(batch_id)
        if batch is None:
            raise MammothError(404, f"Batch {batch_id} not found in dataset {dataset.id}")
        return batch

    def create(self, dataset: Dataset, spec: CreateSpec, path: str) -> JsonDict:
        """Start a create job, or with ``validate_only`` check the mapping now; the ack."""
        with self.lock:
            if spec.validate_only:
                problem = self._mapping_problem(dataset, spec)
                return {"status_code": 400 if problem else 200, "job_id": None, "failure_reason": problem}
            job = self._start_job("create", "create_batch", path, {"dataset_id": dataset.id, "spec": spec})
        return {"status_code": 200, "job_id": job.id, "failure_reason": None}

    def delete(self, dataset: Dataset, ids: list[int], path: str, operation: str) -> JsonDict:
        """Start a delete job; known batches are ``deleting`` at once (none if any id is unknown)."""
        with self.lock:
            previous: dict[int, str] = {}
            if all(i in dataset.batches for i in ids):
                for batch_id in ids:
                    batch = dataset.batches[batch_id]
                    previous[batch_id] = batch.state
                    batch.state = "deleting"
            params = {"dataset_id": dataset.id, "ids": ids, "previous": previous}
            job = self._start_job("delete", operation, path, params)
        return {"status_code": 202, "job_id": job.id, "failure_reason": None}

    def patch(self, dataset: Dataset, suspend: list[int], restore: list[int], path: str) -> JsonDict:
        """Start a suspend/restore job."""
        with self.lock:
            params = {"dataset_id": dataset.id, "suspend": suspend, "restore": restore}
            job = self._start_job("patch", "update_batches", path, params)
        return {"status_code": 202, "job_id": job.id, "failure_reason": None}

    def _mapping_problem(self, target: Dataset, spec: CreateSpec) -> str | None:
        source = self.datasets.get(spec.source_id)
        if source is None:
            return f"Source dataset {spec.source_id} not found"
        if source is target:
            return f"Source dataset {source.id} is the destination dataset"
        for item in spec.mapping:
            if source.column(item.by, item.source) is None:
                return f"Column not found: source column {item.source} ({item.by}) in dataset {source.id}"
            column = target.column(item.by, item.destination)
            if column is None:
                return f"Column not found: destination column {item.destination} ({item.by}) in dataset {target.id}"
            if column["c_type"].upper() != item.expected:
                return (f"Column type mismatch: destination column {item.destination} is "
                        f"{column['c_type'].upper()}, expected {item.expected}")
        return None

    def _finish_create(self, job: Job) -> tuple[str, Any]:
        spec: CreateSpec = job.params["spec"]
        target = self.datasets.get(job.params["dataset_id"])
        if target is None:
            return "failure", {"error": f"Dataset {job.params['dataset_id']} not found"}
        problem = self._mapping_problem(target, spec)
        if problem is not None:
            return "failure", {"error": problem}
        source = self.datasets[spec.source_id]
        origin = {"type": "datasource", "dataset_id": source.id, "dataset_name": source.name,
                  "resource_path": f"/workspace:{source.workspace_id}/project:{source.project_id}"
                                   f"/datasource:{source.name}:{source.id}"}
        batch = self._new_batch(target, source.name, "active", job.due, source.rows(), origin)
        if spec.delete_source_ds:
            del self.datasets[source.id]
        return "success", {"batch_id": batch.id}

    def _restore(self, dataset: Dataset | None, previous: dict[int, str]) -> None:
        for batch_id, state in previous.items():
            batch = dataset.batches.get(batch_id) if dataset is not None else None
            if batch is not None and batch.state == "deleting":
                batch.state = state

    def _finish_delete(self, job: Job) -> tuple[str, Any]:
        ids: list[int] = job.params["ids"]
        dataset = self.datasets.get(job.params["dataset_id"])
        if dataset is None:
            return "failure", {"error": f"Dataset {job.params['dataset_id']} not found", "failed_ids": ids}
        missing = [i for i in ids if i not in dataset.batches]
        if missing:
            self._restore(dataset, job.params["previous"])
            shown = ", ".join(str(i) for i in missing[:20]) + (", ..." if len(missing) > 20 else "")
            return "failure", {"error": f"Batches not found in dataset {dataset.id}: {shown}", "failed_ids": missing}
        locked = next((i for i in ids if "locked" in dataset.batches[i].name), None)
        if locked is not None:
            self._restore(dataset, job.params["previous"])
            return "error", {"response": {"detail": f"Batch {locked} is locked"}}
        for batch_id in ids:
            del dataset.batches[batch_id]
        return "success", {"deleted_ids": ids}

    def _finish_patch(self, job: Job) -> tuple[str, Any]:
        suspend: list[int] = job.params["suspend"]
        restore: list[int] = job.params["restore"]
        dataset = self.datasets.get(job.params["dataset_id"])
        if dataset is None:
            return "failure", {"error": f"Dataset {job.params['dataset_id']} not found",
                               "failed_ids": suspend + restore}
        missing = [i for i in suspend + restore if i not in dataset.batches]
        if missing:
            return "failure", {"error": f"Batches not found in dataset {dataset.id}: "
                                        + ", ".join(str(i) for i in missing[:20]), "failed_ids": missing}
        busy = [i for i in suspend + restore if dataset.batches[i].state == "deleting"]
        if busy:
            return "failure", {"error": f"Batch {busy[0]} is being deleted", "failed_ids": busy}
        for batch_id in suspend:
            dataset.batches[batch_id].state = "suspended"
        for batch_id in restore:
            dataset.batches[batch_id].state = "active"
        return "success", {"suspended": suspend, "restored": restore}

    # --- control

    def add_batches(self, body: object) -> JsonDict:
        """Bulk add (``POST /_sim/mammoth/batches``); raise ``ValueError`` on a bad body."""
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object with workspace_id, project_id, dataset_id and count")
        known = {"workspace_id", "project_id", "dataset_id", "count", "start", "step_hours", "state",
                 "name_prefix", "row_count", "columns", "dataset_name"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        for name, low in (("workspace_id", 1), ("project_id", 1), ("dataset_id", 0)):
            if not _is_int(body.get(name)) or body[name] < low:
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
        if not _is_int(rows) or rows < 0:
            raise ValueError("row_count must be an integer >= 0")
        start = body.get("start")
        if start is not None and not isinstance(start, str):
            raise ValueError("start must be an ISO-8601 timestamp")
        try:
            first = parse_iso("start", start) if start is not None else time.time()
        except MammothError as exc:
            raise ValueError(exc.detail) from None
        workspace_id, project_id, dataset_id = body["workspace_id"], body["project_id"], body["dataset_id"]
        with self.lock:
            self.settle()
            if self.projects.get(project_id, workspace_id) != workspace_id:
                raise ValueError(f"project {project_id} belongs to workspace {self.projects[project_id]}")
            dataset = self.datasets.get(dataset_id)
            if dataset is not None and (dataset.workspace_id, dataset.project_id) != (workspace_id, project_id):
                raise ValueError(f"dataset {dataset_id} belongs to workspace {dataset.workspace_id} "
                                 f"project {dataset.project_id}")
            if dataset is None:
                columns = _check_columns(body.get("columns", [dict(c) for c in SEED_COLUMNS]))
                name = body.get("dataset_name", f"dataset_{dataset_id}")
                dataset = self._add_dataset(dataset_id, workspace_id, project_id, str(name), columns)
            step_seconds = float(step) * 3600
            ids = [self._new_batch(dataset, f"{prefix}-{n + 1}", state, first + n * step_seconds, rows).id
                   for n in range(count)]
            return {"ids": ids, "count": len(ids), "total": len(dataset.batches)}

    def raw(self, workspace_id: int, project_id: int, dataset_id: int) -> JsonDict:
        """A dataset and every batch of it in full (``GET /_sim/mammoth/batches``)."""
        self.settle()
        with self.lock:
            dataset = self.dataset(workspace_id, project_id, dataset_id)
            return {
                "workspace_id": dataset.workspace_id,
                "project_id": dataset.project_id,
                "dataset_id": dataset.id,
                "name": dataset.name,
                "columns": [dict(c) for c in dataset.columns],
                "rows": dataset.rows(),
                "batches": [b.view(FULL_FIELDS, dataset.columns) for b in dataset.batches.values()],
            }


# --- API routes ----------------------------------------------------------------------------------


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


def _authorized(request: Request) -> MammothState:
    _check_request(request)
    state: MammothState = request.app.state.sim.mammoth
    state.settle()
    return state


Authorized = Annotated[MammothState, Depends(_authorized)]
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


# --- control routes --------------------------------------------------------------------------------

control_router = APIRouter(prefix=SIM_PREFIX)


def _mammoth(request: Request) -> MammothState:
    state: MammothState = request.app.state.sim.mammoth
    return state


@control_router.post("/batches")
async def add_batches(request: Request) -> Response:
    """Add ``count`` batches to a dataset (created if missing); answers ``{ids, count, total}``.

    Body: ``workspace_id``, ``project_id``, ``dataset_id``, ``count``; optional ``start`` (ISO, default
    now), ``step_hours`` (1.0), ``state`` (``active``), ``name_prefix`` (``batch``; names are
    ``<prefix>-<n>``), ``row_count`` (100), and for a new dataset ``columns`` and ``dataset_name``.
    """
    try:
        added = _mammoth(request).add_batches(await json_body(request))
    except ValueError as exc:
        return error(400, str(exc))
    return JSONResponse(added, status_code=201)


@control_router.get("/batches")
async def raw_batches(request: Request) -> Response:
    """The raw store of one dataset: ``?workspace_id=&project_id=&dataset_id=``."""
    values: dict[str, int] = {}
    for name in ("workspace_id", "project_id", "dataset_id"):
        text = request.query_params.get(name, "")
        if not text.isascii() or not text.isdigit():
            return error(400, f"{name} must be an integer")
        values[name] = int(text)
    try:
        return JSONResponse(_mammoth(request).raw(**values))
    except MammothError as exc:
        return error(exc.status, exc.detail)


@control_router.get("/jobs")
async def all_jobs(request: Request) -> Response:
    """Every job (``JobSchema``), oldest first, outcomes applied."""
    return JSONResponse(_mammoth(request).job_list(None))
