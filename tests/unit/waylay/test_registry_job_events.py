"""WaylayRegistryJobEventTrigger without a server: its filter, its memory and its catch-up.

The shared stream is fed by hand (the items :func:`reconnecting` yields); the catch-up's listing
calls are answered by a fake ``arun`` that drives the real reader with canned bodies.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_batchops.core import events as core_events
from airflow_provider_batchops.core.errors import InputError, TransientApiError
from airflow_provider_batchops.core.events import Reported, reconnecting
from airflow_provider_batchops.core.sse import ServerSentEvent
from airflow_provider_batchops.core.waiting import PollSchedule
from airflow_provider_batchops.hooks.waylay import WaylayHook, jobs_since_reader
from airflow_provider_batchops.triggers.waylay_events import WaylayRegistryJobEventTrigger

PLUG = {"functionType": "plugs", "name": "myPlug", "version": "1.0.1"}


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(state: str, job_id: str, *, job_type: str = "deploy", function: dict | None = None,
          at: float | None = None) -> dict[str, Any]:
    data = {"job": {"type": job_type, "id": job_id}, "timestamp": iso(at or time.time()),
            "data": {"prev": "active"}, "function": function or PLUG, "_links": {}}
    if state == "failed":
        data["data"]["failedReason"] = "not healthy"
    return {"kind": "event", "event": state, "data": json.dumps(data)}


def ready() -> dict[str, Any]:
    return {"kind": "ready", "at": time.time(), "connection": 1}


def listed(job_id: str, state: str, finished: float, *, job_type: str = "deploy") -> dict[str, Any]:
    return {"type": job_type, "id": job_id, "state": state, "operation": "create", "createdBy": "u",
            "createdAt": iso(finished - 5), "processedAt": iso(finished - 4), "finishedAt": iso(finished),
            "function": PLUG}


class FakeListing:
    """Answers the catch-up's ``GET /registry/v2/jobs/`` calls with ``pages`` (one per call), in order;
    an exception in ``pages`` is raised instead."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *pages: Any) -> None:
        self.pages = list(pages)
        self.calls: list[list[tuple[str, str]]] = []
        monkeypatch.setattr(WaylayHook, "arun", self.arun)

    async def arun(self, reader):
        call = next(reader)
        while True:
            self.calls.append(call.query_items())
            page = self.pages.pop(0) if self.pages else {"jobs": []}
            if isinstance(page, Exception):
                raise page
            try:
                call = reader.send(page)
            except StopIteration as stop:
                return stop.value


async def feed(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item
        await asyncio.sleep(0)


async def fired(trigger: WaylayRegistryJobEventTrigger, *items: Any) -> list[dict[str, Any]]:
    """The payloads the trigger fires for ``items`` (then the stream ends)."""
    out = []
    async for trigger_event in trigger.filter_shared_stream(feed(*items)):
        out.append(trigger_event.payload)
    return out


def watcher(**kwargs: Any) -> WaylayRegistryJobEventTrigger:
    return WaylayRegistryJobEventTrigger(**{"job_types": ["deploy"], "function_name": "myPlug", **kwargs})


async def test_a_matching_event_fires_with_the_job_in_its_payload(monkeypatch):
    FakeListing(monkeypatch)
    payloads = await fired(watcher(), ready(), event("completed", "j1"))
    assert len(payloads) == 1
    payload = payloads[0]
    assert payload["job_type"] == "deploy" and payload["job_id"] == "j1" and payload["state"] == "completed"
    assert payload["function"] == PLUG and payload["previous_state"] == "active"
    assert payload["timestamp"].endswith("Z") and payload["seen_in"] == "event"
    json.dumps(payload)  # lands in the asset event's extra: plain JSON


async def test_events_outside_the_filter_do_not_fire(monkeypatch):
    FakeListing(monkeypatch)
    other_plug = {**PLUG, "name": "otherPlug"}
    payloads = await fired(
        watcher(), ready(),
        event("active", "j1"),  # not a state it watches
        event("completed", "j2", job_type="build"),  # not a type it watches
        event("completed", "j3", function=other_plug),  # another function
        {"kind": "event", "event": "completed", "data": "not json"},
        {"kind": "event", "event": "completed", "data": json.dumps({"job": "x"})},
        {"kind": "quiet"},
        event("failed", "j4"),
    )
    assert [(p["job_id"], p["state"]) for p in payloads] == [("j4", "failed")]
    assert payloads[0]["failed_reason"] == "not healthy"


async def test_the_same_transition_fires_once(monkeypatch):
    FakeListing(monkeypatch)
    payloads = await fired(watcher(states=["active", "completed"]), ready(), event("active", "j1"),
                           event("active", "j1"), event("completed", "j1"), event("completed", "j1"))
    assert [p["state"] for p in payloads] == ["active", "completed"]


async def test_a_standing_state_never_fires(monkeypatch):
    """Jobs that finished before the watcher started are listed by its first catch-up and ignored."""
    before = time.time() - 30
    listing = FakeListing(monkeypatch, {"jobs": [listed("old", "completed", before)]})
    assert await fired(watcher(), ready()) == []
    assert len(listing.calls) == 1


async def test_a_reconnect_catches_up_the_gap_and_fires_nothing_twice(monkeypatch):
    start = time.time()
    seen, missed = listed("seen", "completed", start + 1), listed("missed", "completed", start + 2)
    other = listed("other", "completed", start + 2, job_type="build")
    listing = FakeListing(monkeypatch, {"jobs": []}, {"jobs": [missed, seen, other]})
    payloads = await fired(watcher(), ready(), event("completed", "seen", at=start + 1), ready())
    assert [(p["job_id"], p["seen_in"]) for p in payloads] == [("seen", "event"), ("missed", "catch-up")]
    assert payloads[1]["finished_at"] == missed["finishedAt"]
    assert len(listing.calls) == 2  # one catch-up per time the stream became ready


async def test_the_listing_gets_the_watchers_filters(monkeypatch):
    listing = FakeListing(monkeypatch)
    await fired(watcher(), ready())
    params = listing.calls[0]
    assert {("type", "deploy"), ("state", "completed"), ("state", "failed"), ("limit", "1000")} <= set(params)
    created_after = dict(params)["createdAfter"]
    # one day (the default window) before the watcher started
    started = datetime.strptime(created_after, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    assert abs(time.time() - 86_400 - started) < 5


async def test_a_failed_catch_up_is_tried_again_on_the_next_item(monkeypatch):
    start = time.time()
    missed = listed("missed", "failed", start + 1)
    failure = TransientApiError("GET", "/registry/v2/jobs/", 503)
    listing = FakeListing(monkeypatch, failure, {"jobs": [missed]})
    payloads = await fired(watcher(), ready(), {"kind": "quiet"})
    assert [p["job_id"] for p in payloads] == ["missed"]
    assert len(listing.calls) == 2


async def test_catch_up_walks_back_while_pages_come_back_full():
    def job(n: int) -> dict[str, Any]:
        return {"type": "build", "id": f"j{n}", "state": "completed", "createdAt": f"2026-01-01T00:00:{n:02d}Z"}

    reader = jobs_since_reader({"job_type": None, "states": ["completed"], "limit": 2}, "2026-01-01T00:00:00Z", 5)
    calls = [dict(next(reader).query_items())]  # one value per key here
    calls.append(dict(reader.send({"jobs": [job(9), job(8)]}).query_items()))
    calls.append(dict(reader.send({"jobs": [job(8), job(7)]}).query_items()))
    with pytest.raises(StopIteration) as stop:
        reader.send({"jobs": [job(6)]})
    jobs, complete = stop.value.value
    assert complete and [j["id"] for j in jobs] == ["j9", "j8", "j7", "j6"]
    assert "createdBefore" not in calls[0]
    assert calls[1]["createdBefore"] == "2026-01-01T00:00:08Z" and calls[2]["createdBefore"] == "2026-01-01T00:00:07Z"


def test_a_walk_that_hits_its_page_bound_says_it_may_be_incomplete():
    reader = jobs_since_reader({"limit": 1}, "2026-01-01T00:00:00Z", 2)
    next(reader)
    reader.send({"jobs": [{"type": "build", "id": "a", "createdAt": "2026-01-01T00:00:09Z"}]})
    with pytest.raises(StopIteration) as stop:
        reader.send({"jobs": [{"type": "build", "id": "b", "createdAt": "2026-01-01T00:00:08Z"}]})
    assert stop.value.value[1] is False


def test_serialize_rebuilds_the_same_trigger():
    trigger = watcher(states="completed", catch_up_window=3600)
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {"job_types": ["deploy"], "function_name": "myPlug", "states": ["completed"],
                      "catch_up_window": 3600.0, "waylay_conn_id": "waylay_default"}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"job_types": ["compile"]}, "job_types"),
        ({"states": ["prioritized"]}, "states"),
        ({"states": []}, "states"),
        ({"states": None}, "states"),
        ({"function_name": " "}, "function_name"),
        ({"catch_up_window": 1}, "catch_up_window"),
        ({"waylay_conn_id": ""}, "waylay_conn_id"),
    ],
)
def test_bad_input_names_the_field(bad, field):
    with pytest.raises(InputError) as info:
        WaylayRegistryJobEventTrigger(**bad)
    assert info.value.field == field


def test_watchers_on_one_connection_share_one_stream_key():
    a = watcher(function_name="a", states=["failed"])
    b = WaylayRegistryJobEventTrigger(job_types=["build"])
    other = WaylayRegistryJobEventTrigger(waylay_conn_id="waylay_other")
    assert a.shared_stream_key() == b.shared_stream_key() != other.shared_stream_key()


def test_reported_is_bounded_and_keeps_its_watermark():
    reported = Reported(since=100.0, limit=3)
    assert reported.add("a", 150.0) and not reported.add("a", 150.0)
    for key in ("b", "c", "d"):
        reported.add(key, None)
    assert "a" not in reported and len(reported) == 3
    assert reported.watermark == 150.0
    assert reported.catch_up_from(60.0) == 100.0  # never before the watcher started
    reported.seen_up_to(400.0)
    assert reported.catch_up_from(60.0) == 340.0


async def test_reconnecting_reconnects_after_failures_and_ends(monkeypatch):
    attempts = []

    @asynccontextmanager
    async def open_stream():
        attempts.append(1)
        if len(attempts) == 1:
            raise TransientApiError("GET", "/events", None, reason="ClientConnectorError")

        async def events():
            yield ServerSentEvent("ack", "ready")
            yield ServerSentEvent("keep-alive", "")
            yield ServerSentEvent("completed", "{}")

        yield events()

    items = []
    stream = reconnecting(open_stream, ready_event="ack", quiet_events=("keep-alive",),
                          schedule=PollSchedule(interval=0.01, max_interval=0.02))
    async for item in stream:
        items.append(item)
        if len(items) == 6:
            break
    await stream.aclose()
    assert [i["kind"] for i in items] == ["ready", "quiet", "event", "ready", "quiet", "event"]
    assert [i["connection"] for i in items if i["kind"] == "ready"] == [1, 2]
    assert len(attempts) == 3
    assert core_events.RECONNECT_SCHEDULE.max_interval == 60.0
