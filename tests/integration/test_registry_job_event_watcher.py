"""WaylayRegistryJobEventTrigger against the live simulator: real event streams, cuts and reconnects,
and one shared stream for many watchers (Airflow 3.3's shared-stream manager, run in this loop).

Every wait is bounded (``collect`` stops at a count or after a few seconds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from airflow_provider_batchops.core.waiting import PollSchedule
from airflow_provider_batchops.triggers.waylay_events import WaylayRegistryJobEventTrigger

EVENTS = "GET /registry/v2/jobs/events"
LIST = "GET /registry/v2/jobs/"


def plug(name: str) -> dict[str, str]:
    return {"functionType": "plugs", "name": name, "version": "1.0.0"}


@pytest.fixture
def quick_reconnect(monkeypatch):
    """Reconnect 1.5 s after a drop: long enough for a quick job to finish while the stream is down."""
    monkeypatch.setattr(WaylayRegistryJobEventTrigger, "reconnect_schedule",
                        PollSchedule(interval=1.5, max_interval=1.5, jitter=0.0))


class Collector:
    """Runs event streams in tasks and gathers their payloads."""

    def __init__(self) -> None:
        self.payloads: dict[str, list[dict[str, Any]]] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, events: AsyncIterator[Any]) -> None:
        self.payloads[name] = []

        async def drain() -> None:
            async for trigger_event in events:
                self.payloads[name].append(trigger_event.payload)

        self.tasks.append(asyncio.ensure_future(drain()))

    async def until(self, done, limit: float = 15.0) -> None:
        deadline = time.monotonic() + limit
        for _ in range(int(limit / 0.05) + 1):
            for task in self.tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if done() or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def wait_streams_open(sim, count: int, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    for _ in range(int(limit / 0.05) + 1):
        if sim.client.stream_stats()["open"] >= count or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def test_a_deployed_job_fires_its_watcher_once(sim_conn):
    sim_conn.client.configure(job_step_delay=0.1)
    collector = Collector()
    trigger = WaylayRegistryJobEventTrigger(job_types=["deploy"], function_name="watchedPlug")
    collector.start("w", trigger.run())
    try:
        await wait_streams_open(sim_conn, 1)
        job = sim_conn.client.create_job(type="deploy", function=plug("watchedPlug"))
        sim_conn.client.create_job(type="deploy", function=plug("otherPlug"))
        sim_conn.client.create_job(type="build", function=plug("watchedPlug"))
        await collector.until(lambda: collector.payloads["w"], 10)
        await asyncio.sleep(0.5)  # nothing else is coming
    finally:
        await collector.stop()
    payloads = collector.payloads["w"]
    assert [(p["job_type"], p["job_id"], p["state"]) for p in payloads] == [("deploy", job["id"], "completed")]
    assert payloads[0]["function"]["name"] == "watchedPlug" and payloads[0]["seen_in"] == "event"


async def test_a_stream_cut_loses_nothing_and_duplicates_nothing(sim_conn, quick_reconnect):
    """The stream is cut after a few events; jobs that finish while it is down are found by the
    catch-up, jobs already reported are not fired again, and the next stream carries on."""
    sim_conn.client.configure(job_step_delay=0.1, sse_keepalive=0.3)
    sim_conn.client.add_fault(route=EVENTS, kind="cut", after_events=3, times=2)
    collector = Collector()
    trigger = WaylayRegistryJobEventTrigger(function_name="cutPlug", states=["completed", "failed"])
    collector.start("w", trigger.run())
    created = []
    try:
        await wait_streams_open(sim_conn, 1)
        for n in range(6):
            outcome = "failed" if n % 3 == 2 else "completed"
            created.append(sim_conn.client.create_job(type="deploy", function=plug("cutPlug"), outcome=outcome)["id"])
            await asyncio.sleep(0.4)
        await collector.until(lambda: len(collector.payloads["w"]) >= len(created), 15)
        # Both cuts are spent once the third stream is open: the next job arrives on the stream.
        await collector.until(lambda: sim_conn.client.stream_stats()["opened"] >= 3, 10)
        last = sim_conn.client.create_job(type="deploy", function=plug("cutPlug"))["id"]
        created.append(last)
        await collector.until(lambda: len(collector.payloads["w"]) >= len(created), 10)
        await asyncio.sleep(1.0)  # a late duplicate would show here
    finally:
        await collector.stop()
    payloads = collector.payloads["w"]
    fired = [p["job_id"] for p in payloads]
    assert sorted(fired) == sorted(created), f"fired {fired}, created {created}"
    seen_in = {p["job_id"]: p["seen_in"] for p in payloads}
    assert "catch-up" in seen_in.values(), "the cuts should make the catch-up find some"
    assert seen_in[last] == "event"
    stats = sim_conn.client.stream_stats()
    assert stats["opened"] >= 3  # two cuts, two reconnects
    assert sim_conn.client.requests_to(LIST) >= 3  # a catch-up per time the stream became ready


async def test_an_unavailable_stream_is_retried_and_then_catches_up(sim_conn, quick_reconnect):
    sim_conn.client.configure(job_step_delay=0.1)
    sim_conn.client.add_fault(route=EVENTS, kind="status", status=503, times=2)
    collector = Collector()
    trigger = WaylayRegistryJobEventTrigger(function_name="latePlug")
    collector.start("w", trigger.run())
    try:
        await asyncio.sleep(0.2)
        job = sim_conn.client.create_job(type="build", function=plug("latePlug"))
        await collector.until(lambda: collector.payloads["w"], 15)
    finally:
        await collector.stop()
    assert [p["job_id"] for p in collector.payloads["w"]] == [job["id"]]
    assert collector.payloads["w"][0]["seen_in"] == "catch-up"


async def test_each_watcher_runs_its_own_stream_without_the_shared_manager(sim_conn):
    collector = Collector()
    for n in range(3):
        collector.start(f"w{n}", WaylayRegistryJobEventTrigger(function_name=f"own{n}").run())
    try:
        await wait_streams_open(sim_conn, 3)
        assert sim_conn.client.stream_stats()["open"] == 3
    finally:
        await collector.stop()


async def test_twenty_watchers_on_one_connection_share_one_stream(sim_conn):
    shared_stream = pytest.importorskip(
        "airflow.triggers.shared_stream", reason="Airflow 3.3+ shares streams between watchers; older runs one each"
    )
    sim_conn.client.configure(job_step_delay=0.1)
    manager = shared_stream.SharedStreamManager()
    collector = Collector()
    triggers = [WaylayRegistryJobEventTrigger(function_name=f"sharedPlug{n}") for n in range(20)]
    for trigger_id, trigger in enumerate(triggers, start=1):
        key = trigger.shared_stream_key()
        raw = manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        collector.start(trigger.function_name, trigger.filter_shared_stream(raw))
    try:
        await wait_streams_open(sim_conn, 1)
        jobs = {t.function_name: sim_conn.client.create_job(type="deploy", function=plug(t.function_name))["id"]
                for t in triggers}
        await collector.until(lambda: all(collector.payloads.values()), 15)
        await asyncio.sleep(0.5)
    finally:
        await collector.stop()
        await manager.stop_all()
    for name, job_id in jobs.items():
        assert [p["job_id"] for p in collector.payloads[name]] == [job_id], name
    stats = sim_conn.client.stream_stats()
    assert stats["opened"] == 1, stats
