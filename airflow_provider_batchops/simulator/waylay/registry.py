"""Waylay registry service: the jobs API (``/registry/v2/jobs/...``) and its event stream."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import QueryParams

from ..faults import CUT_SCOPE_KEY
from ..sse import CUT, EventStreamResponse, SSEWriter
from .auth import Authorized, WaylayError
from .registry_jobs import (
    FUNCTION_TYPES,
    JOB_STATES,
    JOB_TYPES,
    LISTABLE_TYPES,
    Job,
    JobEvent,
    job_response,
    summary_view,
)

if TYPE_CHECKING:
    from .registry_state import JobRegistry

#: The route of the event stream (it takes ``cut`` faults).
EVENTS_ROUTE = "GET /registry/v2/jobs/events"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_DURATION = re.compile(r"(\d+)([ybwdhms]?)")
_PERIOD = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
_DAY = 86_400.0
_UNITS = {"": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": _DAY, "w": 7 * _DAY, "b": 30 * _DAY, "y": 365 * _DAY}
_PERIOD_UNITS = (365 * _DAY, 30 * _DAY, 7 * _DAY, _DAY, 3600.0, 60.0, 1.0)


def parse_timestamp(value: str, now: float) -> float:
    """A ``TimestampSpec`` as epoch seconds: an age (``PT2H``, ``90m``, ``3d``, ms) or an ISO date(-time)."""
    text = value.strip()
    duration = _DURATION.fullmatch(text)
    if duration:
        return now - int(duration.group(1)) * _UNITS[duration.group(2)]
    period = _PERIOD.fullmatch(text)
    if period and any(period.groups()) and not text.endswith("T"):
        return now - sum(float(g or 0) * unit for g, unit in zip(period.groups(), _PERIOD_UNITS, strict=True))
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(
            f"invalid timestamp {value!r}: expected an ISO-8601 date, date-time or period, or a duration like 90m"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _choices(params: QueryParams, name: str, allowed: tuple[str, ...]) -> set[str] | None:
    values = [v.strip() for raw in params.getlist(name) for v in raw.split(",") if v.strip()]
    for value in values:
        if value not in allowed:
            raise ValueError(f"invalid {name} {value!r}: use {', '.join(allowed)}")
    return set(values) or None


@dataclass(frozen=True)
class JobFilter:
    """The query of ``GET /registry/v2/jobs/``."""

    limit: int = DEFAULT_LIMIT
    types: set[str] | None = None
    states: set[str] | None = None
    function_types: set[str] | None = None
    created_before: float | None = None
    created_after: float | None = None

    @classmethod
    def parse(cls, params: QueryParams, now: float) -> JobFilter:
        """Validate the query; raise ``ValueError`` naming the bad parameter."""
        limit = DEFAULT_LIMIT
        if params.get("limit") not in (None, ""):
            try:
                number = float(params["limit"])
            except ValueError:
                number = -1.0
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"invalid limit {params['limit']!r}: expected a number >= 0")
            limit = min(int(number), MAX_LIMIT)
        stamps: dict[str, float | None] = {}
        for name in ("createdBefore", "createdAfter"):
            raw = params.get(name)
            stamps[name] = parse_timestamp(raw, now) if raw else None
        return cls(
            limit=limit,
            types=_choices(params, "type", LISTABLE_TYPES),
            states=_choices(params, "state", JOB_STATES),
            function_types=_choices(params, "functionType", FUNCTION_TYPES),
            created_before=stamps["createdBefore"],
            created_after=stamps["createdAfter"],
        )

    def matches(self, job: Job) -> bool:
        """Whether ``job`` passes every filter."""
        return (
            (self.types is None or job.type in self.types)
            and (self.states is None or job.reported_state in self.states)
            and (self.function_types is None or job.function_type in self.function_types)
            and (self.created_before is None or job.created_at < self.created_before)
            and (self.created_after is None or job.created_at > self.created_after)
        )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


router = APIRouter()


@router.get("/registry/v2/jobs/")
async def list_jobs(request: Request, waylay: Authorized) -> Response:
    """Jobs matching the query, newest first, at most ``limit``."""
    try:
        query = JobFilter.parse(request.query_params, time.time())
    except ValueError as exc:
        raise WaylayError(400, str(exc)) from None
    jobs = [job for job in waylay.registry.all_jobs() if query.matches(job)][: query.limit]
    base = _base(request)
    return JSONResponse({"limit": query.limit, "jobs": [summary_view(job, base) for job in jobs]})


@router.get("/registry/v2/jobs/events")
async def job_events(request: Request, waylay: Authorized) -> Response:
    """Server-sent events of the jobs matching ``type``, ``id`` and ``children``."""
    params = request.query_params
    job_type = params.get("type") or None
    if job_type is not None and job_type not in JOB_TYPES:
        raise WaylayError(400, f"invalid type {job_type!r}: use {', '.join(JOB_TYPES)}")
    children = params.get("children", "false").lower()
    if children not in ("true", "false"):
        raise WaylayError(400, f"invalid children {params['children']!r}: use true or false")
    config = waylay.config
    stream = EventStream(
        registry=waylay.registry,
        base=_base(request),
        job_type=job_type,
        job_id=params.get("id") or None,
        children=children == "true",
        writer=SSEWriter(crlf=config.sse_crlf, multiline=config.sse_multiline),
        keepalive=lambda: float(waylay.config.sse_keepalive),
        cut_after=request.scope.get(CUT_SCOPE_KEY),
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventStreamResponse(stream.run(), headers=headers)


@router.get("/registry/v2/jobs/{type}/{id:path}")
async def get_job(request: Request, waylay: Authorized) -> Response:
    """One job's status."""
    job = waylay.registry.find(request.path_params["type"], request.path_params["id"])
    if job is None:
        raise WaylayError(404, "Job not found")
    return JSONResponse(job_response(job, _base(request)))


@dataclass
class EventStream:
    """One connection to the event stream."""

    registry: JobRegistry
    base: str
    job_type: str | None
    job_id: str | None
    children: bool
    writer: SSEWriter
    keepalive: Callable[[], float]
    cut_after: int | None = None

    def ack_text(self) -> str:
        """What the ``ack`` event says will be forwarded."""
        if self.job_id is None:
            return f"forwarding events for all {self.job_type} jobs" if self.job_type else "forwarding all job events"
        text = f"forwarding events for {self.job_type or 'the'} job {self.job_id}"
        return text + " and its children" if self.children else text

    def _cut(self) -> bool:
        return self.cut_after is not None and self.writer.events >= self.cut_after

    async def run(self) -> AsyncIterator[bytes]:
        """The stream: ``ack``, matching job events and keep-alives, then ``close`` if filtered on an id."""
        sub, finished = self.registry.subscribe(self.job_type, self.job_id, self.children)
        writer = self.writer
        try:
            yield writer.event("ack", self.ack_text())
            if self._cut():
                yield CUT
                return
            if finished is not None:
                yield writer.event("close", f"job {finished}")
                return
            while True:
                event: JobEvent | None = None
                try:
                    event = await asyncio.wait_for(sub.queue.get(), self.keepalive())
                except TimeoutError:
                    yield writer.keep_alive()
                else:
                    message = writer.json_event(event.name, event.render(self.base))
                    self.registry.count_sent()
                    yield message
                if self._cut():
                    yield CUT
                    return
                if event is not None and sub.closes_on(event):
                    yield writer.event("close", f"job {event.name}")
                    return
        finally:
            self.registry.unsubscribe(sub)
