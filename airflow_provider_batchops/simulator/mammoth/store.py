"""The Mammoth store: workspaces, projects, datasets with their batches, and jobs that finish when due.

Every change a request asks for runs as a job on the shared :class:`~..timeline.DueQueue`: it stays
``processing`` until ``mammoth_job_delay`` seconds after it was started, and its outcome
(:mod:`.outcomes`) is applied lazily, in due order, on the next request that touches the store.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any
from urllib.parse import quote, urlencode

from ..timeline import DueQueue
from .bodies import CreateSpec
from .outcomes import finish_create, finish_delete, finish_patch, mapping_problem
from .params import parse_bounded_int, parse_created_at, parse_fields, parse_int_list, parse_sort, parse_states
from .wire import (
    DEFAULT_LIMIT,
    FIRST_BATCH_ID,
    FIRST_JOB_ID,
    MAX_LIMIT,
    SEED_BATCHES,
    SEED_COLUMNS,
    SEED_DAYS,
    SEED_PROJECT_ID,
    SEED_WORKSPACE_ID,
    SOURCE_DATASET_ID,
    TARGET_DATASET_ID,
    JsonDict,
    MammothError,
    iso,
)


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
        self._pending: DueQueue[int] = DueQueue()
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
            self._pending.clear()
            self._batch_ids = itertools.count(FIRST_BATCH_ID)
            self._job_ids = itertools.count(FIRST_JOB_ID)
            columns = [dict(c) for c in SEED_COLUMNS]
            target = self.add_dataset(TARGET_DATASET_ID, SEED_WORKSPACE_ID, SEED_PROJECT_ID, "orders", columns)
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
                self.new_batch(target, f"orders_{day:%Y_%m_%d}_{number:02d}.csv", state, created,
                                rng.randint(50, 5000))
            source = self.add_dataset(SOURCE_DATASET_ID, SEED_WORKSPACE_ID, SEED_PROJECT_ID, "orders_feed",
                                       [dict(c) for c in SEED_COLUMNS])
            for number in (1, 2):
                created = now - rng.uniform(0, 86400) - (2 - number) * 86400
                self.new_batch(source, f"orders_feed_{number:02d}.csv", "active", created, rng.randint(100, 900))

    def add_dataset(self, dataset_id: int, workspace_id: int, project_id: int, name: str,
                     columns: list[dict[str, str]]) -> Dataset:
        self.workspaces.add(workspace_id)
        self.projects.setdefault(project_id, workspace_id)
        dataset = Dataset(dataset_id, workspace_id, project_id, name, columns)
        self.datasets[dataset_id] = dataset
        return dataset

    def new_batch(self, dataset: Dataset, name: str, state: str, created: float, rows: int,
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
        self._pending.push(job.due, job.id)
        return job

    def settle(self) -> None:
        """Reach the outcome of every job whose delay has passed, in due order."""
        now = time.time()
        with self.lock:
            for due, job_id in self._pending.pop_due(now):
                job = self.jobs.get(job_id)
                if job is not None and job.status == "processing":
                    job.status, job.response = FINISH[job.kind](self, job)
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
                problem = mapping_problem(self, dataset, spec)
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


#: What a due job does, by its kind.
FINISH: dict[str, Callable[[MammothState, Job], tuple[str, Any]]] = {
    "create": finish_create,
    "delete": finish_delete,
    "patch": finish_patch,
}
