"""Event-driven scheduling from Waylay registry job events: a trigger for ``AssetWatcher``.

::

    from airflow.sdk import DAG, Asset, AssetWatcher
    from airflow_provider_batchops.triggers.waylay_events import WaylayRegistryJobEventTrigger

    deployed = Asset("waylay-deploy-myPlug", watchers=[AssetWatcher(
        name="myPlug-deploys",
        trigger=WaylayRegistryJobEventTrigger(job_types=["deploy"], function_name="myPlug",
                                              states=["completed"]),
    )])

    with DAG("verify_myPlug", schedule=[deployed]): ...

The trigger follows ``GET /registry/v2/jobs/events`` (the whole tenant) and fires one ``TriggerEvent``
per job that *enters* a state its filter names; the payload lands in the asset event's ``extra``
(under ``payload``). A job already in that state when the watcher starts does not fire.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Hashable
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_batchops.core.errors import BatchOpsError, InputError
from airflow_provider_batchops.core.events import RECONNECT_SCHEDULE, Reported, reconnecting
from airflow_provider_batchops.core.hook import check_conn_id
from airflow_provider_batchops.core.http import shared_session
from airflow_provider_batchops.core.validation import check_choices
from airflow_provider_batchops.core.waiting import seconds
from airflow_provider_batchops.hooks.waylay import WaylayHook, jobs_since_reader
from airflow_provider_batchops.models.waylay_registry import (
    EVENT_STATES,
    JOB_TYPES,
    LISTABLE_JOB_TYPES,
    job_event_payload,
    listed_job_payload,
    moment_of,
    transition_key,
)

log = logging.getLogger(__name__)

#: The first part of :meth:`WaylayRegistryJobEventTrigger.shared_stream_key`.
SHARED_STREAM = "waylay-registry-job-events"
DEFAULT_STATES = ("completed", "failed")
#: A catch-up starts this long before the watermark: events may arrive a little out of order.
ORDER_SLACK = 60.0
#: Jobs per listing page, and pages per catch-up (walked back with ``createdBefore``).
CATCH_UP_LIMIT = 1000
CATCH_UP_PAGES = 10


class WaylayRegistryJobEventTrigger(BaseEventTrigger):
    """Fire once per registry job that enters one of ``states``, for ``AssetWatcher``.

    Only transitions fire, each once: the stream's events, and after every (re)connection a
    catch-up that lists the jobs (``GET /registry/v2/jobs/``) changed since the watcher last saw
    the stream, as events are not replayed. What it already fired for is remembered, so a job seen
    both ways fires once. On Airflow 3.3+ the watchers of one connection share one event stream
    (:meth:`shared_stream_key`); before 3.3 each watcher opens its own.

    :param job_types: job types to fire for (``build``, ``deploy``, ``verify``, ...); ``None`` = all.
    :param function_name: fire only for jobs of this plug, webscript or model name.
    :param states: states whose entry fires (default ``completed`` and ``failed``): ``active``,
        ``completed``, ``failed``, ``delayed``, ``waiting``, ``waiting-children``.
    :param catch_up_window: how far back, in seconds before the last moment seen, the catch-up
        lists jobs by creation time (the listing filters on ``createdAfter`` only): a job created
        earlier than that which changes while the stream is down is not found. Default one day.
    :param waylay_conn_id: the Airflow connection id.
    """

    #: Longest silence on the stream before it is taken as dropped (the server sends keep-alives).
    stream_read_timeout = 60.0
    #: Delays before reconnecting: growing while attempts fail, from the start once a stream is ready.
    reconnect_schedule = RECONNECT_SCHEDULE

    def __init__(
        self,
        *,
        job_types: list[str] | str | None = None,
        function_name: str | None = None,
        states: list[str] | tuple[str, ...] | str | None = DEFAULT_STATES,
        catch_up_window: float = 86_400.0,
        waylay_conn_id: str = WaylayHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.job_types = check_choices(job_types, "job_types", JOB_TYPES)
        if function_name is not None and (not isinstance(function_name, str) or not function_name.strip()):
            raise InputError("function_name", f"expected a plug, webscript or model name, got {function_name!r}")
        self.function_name = function_name
        chosen = check_choices(states, "states", EVENT_STATES)
        if chosen is None:
            raise InputError("states", f"name one or more of {', '.join(EVENT_STATES)}")
        self.states = chosen
        window = seconds(catch_up_window, "catch_up_window", minimum=60.0)
        assert window is not None
        self.catch_up_window = window
        self.waylay_conn_id = check_conn_id(waylay_conn_id, "waylay_conn_id", WaylayHook.default_conn_name)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "job_types": self.job_types,
                "function_name": self.function_name,
                "states": self.states,
                "catch_up_window": self.catch_up_window,
                "waylay_conn_id": self.waylay_conn_id,
            },
        )

    # -- one stream per connection (Airflow 3.3+ shares it between watchers) -----------------------
    def shared_stream_key(self) -> Hashable | None:
        """Watchers on the same connection share one event stream; each filters it itself."""
        return (SHARED_STREAM, self.waylay_conn_id)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The tenant's job event stream as plain items (see :func:`~..core.events.reconnecting`);
        reconnects forever. Uses only ``waylay_conn_id``, the field of the key."""
        hook = WaylayHook(kwargs["waylay_conn_id"])
        async with shared_session():
            async for item in reconnecting(
                lambda: hook.job_events(read_timeout=cls.stream_read_timeout),
                ready_event="ack",
                quiet_events=("keep-alive",),
                schedule=cls.reconnect_schedule,
                what=f"registry job event stream of {hook.conn_id}",
            ):
                yield item

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events: the matching transitions of the stream and of each catch-up."""
        reported = Reported(since=time.time())
        hook = WaylayHook(self.waylay_conn_id)
        catch_up_due = False
        ready_at = 0.0
        async with shared_session():
            async for item in shared_stream:
                kind = item.get("kind") if isinstance(item, dict) else None
                if kind == "ready":
                    catch_up_due, ready_at = True, float(item["at"])
                elif kind == "event":
                    payload = job_event_payload(item["event"], item["data"])
                    if payload is not None and self.matches(payload) and reported.add(
                        transition_key(payload), moment_of(payload["timestamp"])
                    ):
                        yield TriggerEvent(payload)
                if catch_up_due:
                    try:
                        found = await self._catch_up(hook, reported.catch_up_from(ORDER_SLACK))
                    except BatchOpsError as exc:  # tried again on the next item (an event or keep-alive)
                        log.warning("Catching up on registry jobs failed (%s); trying again", exc)
                        continue
                    catch_up_due = False
                    for payload in found:
                        if reported.add(transition_key(payload), moment_of(payload["timestamp"])):
                            yield TriggerEvent(payload)
                    reported.seen_up_to(ready_at)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The watcher with its own stream (Airflow before 3.3, or no shared-stream manager)."""
        kwargs = self.serialize()[1]
        async for event in self.filter_shared_stream(type(self).open_shared_stream(kwargs)):
            yield event

    # -- the filter --------------------------------------------------------------------------------
    def matches(self, payload: dict[str, Any]) -> bool:
        """Whether a job event or listed job is one this watcher fires for."""
        return (
            payload["state"] in self.states
            and (self.job_types is None or payload["job_type"] in self.job_types)
            and (self.function_name is None or payload["function"].get("name") == self.function_name)
        )

    async def _catch_up(self, hook: WaylayHook, since: float) -> list[dict[str, Any]]:
        """The matching transitions after ``since`` that a listing shows (oldest first)."""
        created_after = datetime.fromtimestamp(since - self.catch_up_window, timezone.utc)
        listable = None if self.job_types is None else [t for t in self.job_types if t in LISTABLE_JOB_TYPES]
        if listable == []:
            return []  # only ``cleanup`` jobs, which the listing cannot filter on or show
        filters = {"job_type": listable, "states": self.states, "limit": CATCH_UP_LIMIT}
        jobs, complete = await hook.arun(jobs_since_reader(filters, created_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                           CATCH_UP_PAGES))
        if not complete:
            log.warning("The catch-up listed %d jobs and stopped; older changes may be missed", len(jobs))
        found = []
        for job in jobs:
            payload = listed_job_payload(job)
            moment = moment_of(payload["timestamp"]) if payload is not None else None
            if payload is not None and moment is not None and moment > since and self.matches(payload):
                found.append((moment, payload))
        found.sort(key=lambda pair: pair[0])
        return [payload for _, payload in found]
