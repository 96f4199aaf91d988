"""StatusTrigger (core/trigger.py) on the made-up Widgets service, served on loopback by aiohttp."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_batchops.core.state import BatchState
from airflow_provider_batchops.core.trigger import event_payload, still_deferred, through_cancels
from airflow_provider_batchops.core.waiting import Decision
from tests.support.fake_service import StoppableWidgetJobTrigger, WidgetApi, WidgetJobTrigger, job, job_report
from tests.support.triggers import run_rebuilt


def trigger(job_id: str = "w-1", **kwargs) -> WidgetJobTrigger:
    return WidgetJobTrigger(job_id=job_id, **{"poll_interval": 0.05, "max_poll_interval": 0.05, **kwargs})


async def all_events(t: WidgetJobTrigger, limit: float = 10.0) -> list[dict]:
    """Every event the trigger yields, until its generator ends (bounded in time)."""

    async def collect() -> list[dict]:
        return [event.payload async for event in t.run()]

    return await asyncio.wait_for(collect(), timeout=limit)


def test_serialize_names_the_class_and_carries_identity_and_settings_as_json():
    classpath, kwargs = trigger(deadline=123.0, unknown_state_reads=None).serialize()
    assert classpath == "tests.support.fake_service.WidgetJobTrigger"
    assert kwargs == {"job_id": "w-1", "widgets_conn_id": "widgets_default", "poll_interval": 0.05,
                      "max_poll_interval": 0.05, "deadline": 123.0, "max_transient_failures": 5,
                      "unknown_state_reads": None}
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_bad_settings_name_the_field():
    from airflow_provider_batchops.core.errors import InputError

    for kwargs, field in [({"poll_interval": 0}, "poll_interval"), ({"max_poll_interval": 0.01}, "max_poll_interval"),
                          ({"unknown_state_reads": 0}, "unknown_state_reads"), ({"job_id": " w"}, "job_id")]:
        with pytest.raises(InputError) as info:
            trigger(**kwargs)
        assert info.value.field == field


async def test_a_rebuilt_trigger_follows_the_job_and_yields_one_success_event(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "pending"), job("w-1", "running", progress="50%"),
                             job("w-1", "done", progress="100%"))
    async with api.serve(monkeypatch):
        event = await run_rebuilt(trigger())
    assert event["status"] == "success" and event["remote_id"] == "w-1"
    assert event["report"]["state"] == "succeeded" and event["report"]["summary"]["progress"] == "100%"
    assert api.reads == {"w-1": 3}
    assert {h.get("X-Widget-Key") for h in api.headers} == {"widget-key"}


async def test_the_trigger_yields_exactly_one_event_then_ends(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "failed", failed=2))
    async with api.serve(monkeypatch):
        events = await all_events(trigger())
    assert len(events) == 1
    assert events[0]["status"] == "failed" and events[0]["report"]["item_failures"] == 2
    json.dumps(events[0])  # the event is JSON


async def test_a_deadline_ends_the_wait_with_a_timeout_event(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "running"))
    async with api.serve(monkeypatch):
        [event] = await all_events(trigger(deadline=time.time() + 0.3))
    assert event["status"] == "timeout"
    assert event["message"] == "w-1 did not finish before the deadline (last state: running)"
    assert api.reads["w-1"] >= 2


async def test_failed_reads_are_tolerated_then_end_with_an_error_event(monkeypatch):
    # a body the reader chokes on (no "id") is a failed read, as a read that failed after the
    # client's own retries is
    api = WidgetApi().script("w-1", {"status": "running"}, (200, "[]"), job("w-1", "done"))
    async with api.serve(monkeypatch):
        [event] = await all_events(trigger())
    assert event["status"] == "success"
    api = WidgetApi().script("w-1", {"status": "running"})
    async with api.serve(monkeypatch):
        [event] = await all_events(trigger(max_transient_failures=2))
    assert event["status"] == "error" and "GET /jobs/w-1" in event["message"]
    assert api.reads["w-1"] == 3  # two failed reads tolerated, the third ends the wait


async def test_an_unknown_state_ends_the_wait_after_its_grace(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "paused"))
    async with api.serve(monkeypatch):
        [event] = await all_events(trigger(unknown_state_reads=3))
    assert event["status"] == "error" and "'paused'" in event["message"]
    assert api.reads["w-1"] == 3


async def test_a_client_error_is_an_error_event_with_the_services_wording(monkeypatch):
    api = WidgetApi()  # no script: 404 {"reason": "no job w-9"}
    async with api.serve(monkeypatch):
        [event] = await all_events(trigger("w-9"))
    assert event["status"] == "error" and "no job w-9" in event["message"]


async def test_a_missing_connection_fails_the_trigger_naming_it():
    # Not a BatchOpsError: the triggerer fails the task with Airflow's own error
    with pytest.raises(Exception, match="nowhere"):
        await all_events(trigger(widgets_conn_id="nowhere"))


async def test_on_kill_runs_the_stop_reader(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "running"))
    t = StoppableWidgetJobTrigger(job_id="w-1")
    async with api.serve(monkeypatch):
        assert await still_deferred(t) is None  # no task instance: not known, so a kill is a kill
        await t.on_kill()
    assert api.stopped == ["w-1"] and t.stopped == "it was stopped"


async def test_on_kill_does_not_stop_a_finished_job(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "done"))
    t = StoppableWidgetJobTrigger(job_id="w-1")
    async with api.serve(monkeypatch):
        await t.on_kill()
    assert api.stopped == [] and t.stopped == "it had already ended (succeeded)"


async def test_through_cancels_finishes_the_work_although_cancelled_again_and_again():
    finished = []

    async def work() -> None:
        await asyncio.sleep(0.3)
        finished.append(True)

    killer = asyncio.ensure_future(through_cancels(work, bound=5))
    for _ in range(5):  # the triggerer cancels on_kill about every second; here every 50 ms
        await asyncio.sleep(0.05)
        killer.cancel()
    await asyncio.wait_for(killer, timeout=5)
    assert finished == [True]


async def test_through_cancels_is_bounded():
    started = time.monotonic()

    async def forever() -> None:
        await asyncio.sleep(3600)

    await asyncio.wait_for(through_cancels(forever, bound=0.2), timeout=5)
    assert time.monotonic() - started < 2


def test_event_payload_of_each_decision():
    report = job_report(job("w-1", "done"))
    assert event_payload("w-1", Decision("done", report))["status"] == "success"
    failed = job_report(job("w-1", "failed"))
    assert event_payload("w-1", Decision("done", failed))["status"] == "failed"
    assert event_payload("w-1", Decision("timeout", None))["message"].endswith("(last state: unknown)")
    error = event_payload("w-1", Decision("error", None, error=ValueError("x")))
    assert error == {"status": "error", "remote_id": "w-1", "report": None, "message": "x"}
    assert event_payload("w-1", Decision("done", report))["report"]["state"] == BatchState.SUCCEEDED.value
