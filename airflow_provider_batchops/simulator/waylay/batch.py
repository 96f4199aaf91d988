"""Waylay batch operations, shared by the rules and the resources services.

A batch is queued with a fixed list of item ids and finishes, all at once, ``batch_delay`` seconds
later: the first request after that moment settles it (batches settle in queue order). What
differs per service is a :class:`BatchKind`: its URI prefix, its timestamp format and the function
applied to each item.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..http import json_body
from ..timeline import DueQueue
from .auth import Authorized, WaylayError

JsonDict = dict[str, Any]
#: What applying a batch to one item gives: its status code and, for a failure, the error text.
ItemResult = tuple[int, "str | None"]


class SpecError(ValueError):
    """A request body that does not follow the spec; the message names the field (``/a/b <- why``)."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer} <- {message}")


@dataclass(frozen=True)
class BatchKind:
    """The service-specific parts of a batch operation."""

    #: First path segment: ``rules`` or ``resources``.
    service: str
    #: Seconds since the epoch -> the wire timestamp (epoch ms for rules, ISO-8601 for resources).
    stamp: Callable[[float], Any]
    #: ``apply(batch, item_id, at)`` does the work for one item when the batch finishes.
    apply: Callable[[Batch, str, float], ItemResult]
    #: Optional processing order of the items (e.g. children before parents); a permutation.
    order: Callable[[Batch], Iterable[str]] | None = None

    def uri(self, batch_id: str) -> str:
        """Relative URI of a batch's status."""
        return f"/{self.service}/v1/batch/{batch_id}"


@dataclass(eq=False)
class Batch:
    """One batch operation; ``results`` is set once it has finished."""

    kind: BatchKind
    id: str
    user: str
    entity: str
    action: str
    description: str
    queued_at: float
    due: float
    item_ids: list[str]
    params: JsonDict | None = None
    finished_at: float | None = None
    results: JsonDict | None = None
    #: Scratch space for the apply function while the batch finishes (e.g. lookup tables).
    context: JsonDict = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        """The running operation; once finished also ``finishedTime`` and ``results``."""
        body: JsonDict = {
            "id": self.id,
            "user": self.user,
            "operation": {"entity": self.entity, "action": self.action, "description": self.description},
            "queueTime": self.kind.stamp(self.queued_at),
        }
        if self.results is not None and self.finished_at is not None:
            body["finishedTime"] = self.kind.stamp(self.finished_at)
            body["results"] = self.results
        return body


class BatchQueue:
    """Batches of every service, finished in queue order once their delay has passed."""

    def __init__(self, lock: threading.RLock, delay: Callable[[], float]) -> None:
        self.lock = lock
        self._delay = delay
        self.batches: dict[str, Batch] = {}
        self._pending: DueQueue[str] = DueQueue()

    def start(
        self,
        kind: BatchKind,
        *,
        user: str,
        entity: str,
        action: str,
        description: str,
        item_ids: list[str],
        params: JsonDict | None = None,
    ) -> Batch:
        """Queue a batch; the item list is fixed now."""
        self.settle()
        now = time.time()
        with self.lock:
            batch = Batch(
                kind=kind,
                id=str(uuid.uuid4()),
                user=user,
                entity=entity,
                action=action,
                description=description,
                queued_at=now,
                due=now + self._delay(),
                item_ids=item_ids,
                params=params,
            )
            self.batches[batch.id] = batch
            self._pending.push(batch.due, batch.id)
        return batch

    def get(self, kind: BatchKind, batch_id: str) -> Batch | None:
        """The batch of this service with ``batch_id`` (finished if due), or ``None``."""
        self.settle()
        batch = self.batches.get(batch_id)
        return batch if batch is not None and batch.kind.service == kind.service else None

    def settle(self) -> None:
        """Finish, in queue order, every batch whose delay has passed."""
        now = time.time()
        with self.lock:
            for _, batch_id in self._pending.pop_due(now):
                batch = self.batches.get(batch_id)
                if batch is not None and batch.results is None:
                    self._finish(batch, max(now, batch.queued_at))

    def clear(self, service: str | None = None) -> None:
        """Forget the batches of one service, or of all."""
        with self.lock:
            if service is None:
                self.batches.clear()
                self._pending.clear()
                return
            for batch_id in [b.id for b in self.batches.values() if b.kind.service == service]:
                del self.batches[batch_id]

    @staticmethod
    def _finish(batch: Batch, at: float) -> None:
        kind = batch.kind
        order = list(kind.order(batch)) if kind.order is not None else batch.item_ids
        outcomes = {item_id: kind.apply(batch, item_id, at) for item_id in order}
        success: JsonDict = {}
        failure: JsonDict = {}
        for item_id in batch.item_ids:
            status, message = outcomes[item_id]
            if message is None:
                success[item_id] = {"statusCode": status}
            else:
                failure[item_id] = {"statusCode": status, "error": message}
        batch.context.clear()
        batch.finished_at = at
        batch.results = {"success": success, "failure": failure}


def accepted(batch: Batch) -> JSONResponse:
    """The ``202`` answer to a started batch: ``Location`` header and ``{statusCode, uri, entity}``."""
    uri = batch.kind.uri(batch.id)
    body = {"statusCode": 202, "uri": uri, "entity": batch.to_json()}
    return JSONResponse(body, status_code=202, headers={"Location": uri})


def batch_routes(
    path: str,
    service: Callable[[Any], Any],
    parse: Callable[[object], Any],
    not_found: str,
    what: str,
) -> APIRouter:
    """``POST {path}`` and ``GET {path}/{batchId}`` for one batch service.

    ``service`` picks the service (with ``start_batch(spec)`` and ``get_batch(id)``) from the Waylay
    state; ``parse`` turns the body into its spec or raises :class:`SpecError`; ``not_found`` is the
    404 message with a ``{batch_id}`` placeholder; ``what`` names the operation in the route docs.
    """
    router = APIRouter()

    async def start_batch(request: Request, waylay: Authorized) -> Response:
        body = await json_body(request)
        if body is None:
            raise WaylayError(400, "/ <- request body is not a JSON object")
        try:
            spec = parse(body)
        except SpecError as exc:
            raise WaylayError(400, str(exc)) from None
        return accepted(service(waylay).start_batch(spec))

    async def get_batch(request: Request, waylay: Authorized) -> Response:
        batch_id = request.path_params["batchId"]
        batch = service(waylay).get_batch(batch_id)
        if batch is None:
            raise WaylayError(404, not_found.format(batch_id=batch_id))
        return JSONResponse(batch.to_json())

    start_batch.__doc__ = f"Start a {what}."
    get_batch.__doc__ = f"Status, and once finished the results, of a {what}."
    router.add_api_route(path, start_batch, methods=["POST"])
    router.add_api_route(path + "/{batchId:path}", get_batch, methods=["GET"])
    return router
