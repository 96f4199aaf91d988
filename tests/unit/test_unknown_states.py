"""No wait without an end, no state read silently (issue 12, class 3).

Vendors' states are mapped as documented (any case, documented numeric forms); a state the provider
does not know is logged once as a warning and ends the wait after a bounded grace; nothing is ever
stopped on the strength of an unknown state; the registry event stream does not replace polling.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from aiohttp import web

from airflow_provider_batchops.core.errors import UnknownStateError
from airflow_provider_batchops.core.state import BatchState, StatusReport
from airflow_provider_batchops.core.waiting import PollSchedule, WaitLoop
from airflow_provider_batchops.models.mammoth import job_report
from airflow_provider_batchops.models.superoffice import task_report
from airflow_provider_batchops.models.waylay_registry import job_report as registry_job_report
from airflow_provider_batchops.models.waylay_registry import jobs_report
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.sensors.mammoth import MammothJobSensor
from airflow_provider_batchops.triggers.waylay import WaylayRegistryJobTrigger


@pytest.mark.parametrize(
    ("status", "state", "unknown"),
    [
        ("success", BatchState.SUCCEEDED, None),
        ("SUCCESS", BatchState.SUCCEEDED, None),
        ("Failure", BatchState.FAILED, None),
        ("ERROR", BatchState.FAILED, None),
        ("processing", BatchState.RUNNING, None),
        ("queued", BatchState.UNKNOWN, "queued"),
        (None, BatchState.UNKNOWN, "<missing>"),
    ],
)
def test_mammoth_job_statuses(status, state, unknown):
    report = job_report({"id": 1, "status": status, "response": {}})
    assert (report.state, report.unknown_state) == (state, unknown)


@pytest.mark.parametrize(
    ("wire", "state", "unknown"),
    [
        ("Succeeded", BatchState.SUCCEEDED, None),
        ("succeeded", BatchState.SUCCEEDED, None),
        (4, BatchState.SUCCEEDED, None),
        ("4", BatchState.SUCCEEDED, None),
        (6, BatchState.SUCCEEDED, None),
        ("FAILED", BatchState.FAILED, None),
        (5, BatchState.FAILED, None),
        ("Aquired", BatchState.QUEUED, None),
        (3, BatchState.RUNNING, None),
        ("Unknown", BatchState.UNKNOWN, "Unknown"),
        (0, BatchState.UNKNOWN, "Unknown"),
        ("Paused", BatchState.UNKNOWN, "Paused"),
        (42, BatchState.UNKNOWN, "42"),
    ],
)
def test_superoffice_states_by_name_any_case_and_number(wire, state, unknown):
    report = task_report({"Id": 1, "State": wire})
    assert (report.state, report.unknown_state) == (state, unknown)


@pytest.mark.parametrize(
    ("job", "unknown"),
    [({"state": "completed"}, None), ({"state": "Completed"}, None), ({"state": "unknown"}, "unknown"),
     ({}, "<missing>"), ({"state": "paused"}, "paused")],
)
def test_registry_job_states(job, unknown):
    report = registry_job_report({"job": {"type": "build", "job": {"id": "j"}, **job}})
    assert report.unknown_state == unknown
    assert report.state.is_terminal is (unknown is None)


def test_a_listed_job_in_an_unknown_state_marks_the_list_report():
    report = jobs_report([{"type": "build", "id": "a", "state": "completed"},
                          {"type": "build", "id": "b", "state": "mystery"}], None, 100)
    assert report.state is BatchState.RUNNING and report.unknown_state == "mystery"


# -- the wait loop ---------------------------------------------------------------------------------
def unknown(raw: str = "Paused") -> StatusReport:
    return StatusReport(BatchState.UNKNOWN, {}, "task 1 is " + raw, unknown_state=raw)


def test_an_unknown_state_is_warned_once_and_ends_the_wait_after_the_grace(caplog):
    loop = WaitLoop(PollSchedule(0.05, 0.05), None, unknown_state_reads=3)
    with caplog.at_level(logging.WARNING):
        decisions = [loop.decide(unknown()) for _ in range(3)]
    assert [d.kind for d in decisions] == ["sleep", "sleep", "error"]
    assert isinstance(decisions[-1].error, UnknownStateError) and "'Paused'" in str(decisions[-1].error)
    assert sum("does not know" in r.getMessage() and "Paused" in r.getMessage() for r in caplog.records) == 1


def test_a_known_state_in_between_restarts_the_grace():
    loop = WaitLoop(PollSchedule(0.05, 0.05), None, unknown_state_reads=2)
    running = StatusReport(BatchState.RUNNING)
    kinds = [loop.decide(r).kind for r in (unknown(), running, unknown(), running, unknown())]
    assert kinds == ["sleep"] * 5


def test_the_user_can_widen_the_grace_to_no_limit():
    loop = WaitLoop(PollSchedule(0.05, 0.05), None, unknown_state_reads=None)
    assert all(loop.decide(unknown()).kind == "sleep" for _ in range(50))


def test_a_sensor_fails_on_a_lasting_unknown_state_with_its_value(mammoth_api, requests_mock, no_sleep):
    requests_mock.get(f"{mammoth_api}/jobs", json={"jobs": [{"id": 7, "status": "queued", "response": {}}]})
    sensor = MammothJobSensor(task_id="s", job_id=7, poke_interval=0.05, timeout=60, mode="poke",
                              unknown_state_reads=4)
    with pytest.raises(UnknownStateError, match="'7: queued'"):
        for _ in range(10):
            assert sensor.poke({}) is False
    assert requests_mock.call_count == 4


# -- nothing is stopped on an unknown state ---------------------------------------------------------
def info(state: Any) -> dict[str, Any]:
    return {"Id": 9, "Name": "Export", "State": state, "CancellationBehaviour": "CanCancel"}


@pytest.mark.parametrize("final", ["succeeded", 4, "Paused"])
def test_a_timeout_never_stops_a_task_whose_state_is_not_plainly_running(superoffice_api, requests_mock, no_sleep,
                                                                         final):
    requests_mock.post(f"{superoffice_api}/BatchTask", json=9)
    requests_mock.get(f"{superoffice_api}/BatchTask/9", [{"json": info("Started")}] * 2 + [{"json": info(final)}])
    stop = requests_mock.post(f"{superoffice_api}/BatchTask/9/Stop", json=True)
    op = SuperOfficeBatchTaskOperator(task_id="t", name="Export", poll_interval=0.05, timeout=0.2,
                                      deferrable=False, durable=False)
    try:
        op.execute({"ti": _ti()})
    except Exception as exc:  # the wait fails (timeout or unknown state): the point is the Stop count
        assert "stopped" not in str(exc) or "not stopped" in str(exc) or "ended" in str(exc)
    assert stop.call_count == 0


def _ti() -> Any:
    from unittest.mock import MagicMock

    return MagicMock(start_date=None, task_id="t")


def test_stop_reads_an_unknown_state_once_more_before_deciding(superoffice_api, requests_mock):
    from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook

    reads = requests_mock.get(f"{superoffice_api}/BatchTask/9", [{"json": info("Paused")}, {"json": info("Paused")}])
    stop = requests_mock.post(f"{superoffice_api}/BatchTask/9/Stop", json=True)
    outcome = SuperOfficeHook().stop_if_allowed(9)
    assert reads.call_count == 2 and stop.call_count == 0 and "'Paused' is not known" in outcome


# -- the registry stream is a fast path, not the only one --------------------------------------------
async def test_a_silent_event_stream_does_not_hide_a_finished_job(monkeypatch):
    """The stream sends only keep-alives; the job finishes at 0.4 s and is seen on the poll schedule."""
    finished_at = time.time() + 0.4

    async def job(request: web.Request) -> web.Response:
        state = "completed" if time.time() >= finished_at else "active"
        return web.json_response({"job": {"type": "build", "state": state, "job": {"id": "j1"}}})

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: ack\ndata: {}\n\n")
        for _ in range(100):  # keep-alives only, for at most 10 s
            await asyncio.sleep(0.1)
            await response.write(b": keep-alive\n\n")
        return response

    from tests.support.helpers import serve_waylay

    async with serve_waylay(monkeypatch, {"/registry/v2/jobs/build/j1": job, "/registry/v2/jobs/events": events}):
        trigger = WaylayRegistryJobTrigger(job_type="build", job_id="j1", poll_interval=0.1, max_poll_interval=0.2,
                                           deadline=time.time() + 8)
        started = time.monotonic()
        event = await asyncio.wait_for(anext(trigger.run()), 10)
    assert event.payload["status"] == "success", json.dumps(event.payload)
    assert time.monotonic() - started < 2.0  # not the 8 s deadline
