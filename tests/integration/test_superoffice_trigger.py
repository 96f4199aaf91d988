"""SuperOfficeBatchTaskTrigger and SuperOfficeHook against the live simulator."""

from __future__ import annotations

import time

import pytest

from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.models.superoffice import batch_task_info
from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN, SO_APP_TOKEN, SO_TICKET
from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger
from tests.support.helpers import set_connection
from tests.support.triggers import run_rebuilt


@pytest.fixture
def so_sim(sim, monkeypatch):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_ACCESS_TOKEN)
    sim.client.configure(so_step_delay=0.1)
    return sim


def start(name: str, **kwargs) -> int:
    return SuperOfficeHook().start_task(batch_task_info(name, **kwargs))


async def test_an_export_is_followed_to_its_file(so_sim):
    task_id = start("ExportContacts", parameters={"FromDate": "2026-11-01"})
    event = await run_rebuilt(SuperOfficeBatchTaskTrigger(batch_task_id=task_id, poll_interval=0.05))
    assert event["status"] == "success"
    assert event["report"]["summary"]["file_name"] == f"exportcontacts-{task_id}.csv"


async def test_a_failed_task_reports_result_and_response(so_sim):
    event = await run_rebuilt(SuperOfficeBatchTaskTrigger(batch_task_id=start("FailingExport"), poll_interval=0.05))
    assert event["status"] == "failed"
    assert "Disk full" in event["message"]


async def test_on_kill_stops_a_cancellable_task(so_sim):
    so_sim.client.configure(so_step_delay=5)
    task_id = start("ExportContacts")
    await SuperOfficeBatchTaskTrigger(batch_task_id=task_id).on_kill()
    info = SuperOfficeHook().get_task(task_id)
    assert (info["State"], info["Result"]) == ("Failed", "Stopped")


async def test_on_kill_leaves_a_task_that_cannot_be_cancelled(so_sim):
    so_sim.client.configure(so_step_delay=5)
    task_id = start("LockedImport")
    await SuperOfficeBatchTaskTrigger(batch_task_id=task_id).on_kill()
    assert SuperOfficeHook().get_task(task_id)["State"] in ("New", "Aquired", "Started")
    assert so_sim.client.counters()["requests"].get("POST /{tenant}/api/v1/BatchTask/{task_id}/Stop", 0) == 0


async def test_the_deadline_gives_a_timeout_event(so_sim):
    so_sim.client.configure(so_step_delay=5)
    trigger = SuperOfficeBatchTaskTrigger(batch_task_id=start("ExportContacts"), poll_interval=1,
                                          deadline=time.time() + 0.3)
    event = await run_rebuilt(trigger)
    assert event["status"] == "timeout"


def test_soticket_with_app_token_and_missing_app_token(sim, monkeypatch):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_TICKET, extra={"auth": "soticket", "app_token": SO_APP_TOKEN})
    ok, message = SuperOfficeHook().test_connection()
    assert ok, message
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_TICKET, extra={"auth": "soticket"})
    ok, message = SuperOfficeHook().test_connection()
    assert not ok and "SO-AppToken" in message


def test_unknown_definition_is_a_400_with_the_superoffice_error(so_sim):
    from airflow_provider_batchops.core.errors import ApiError

    with pytest.raises(ApiError, match="ArgumentException: Unknown batch task definition 'Nope'"):
        start("Nope")


class _Comms:
    """The triggerer's supervisor channel (Airflow 3.3), answering ``GetTaskStates`` with one state."""

    def __init__(self, state: str) -> None:
        self.state = state

    async def asend(self, message):
        from types import SimpleNamespace

        return SimpleNamespace(task_states={message.run_ids[0]: {message.task_ids[0]: self.state}})


def _placed(trigger: SuperOfficeBatchTaskTrigger, monkeypatch, state: str) -> SuperOfficeBatchTaskTrigger:
    """The trigger as the triggerer runs it: with its task instance, and a supervisor to ask."""
    from types import SimpleNamespace

    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", _Comms(state), raising=False)
    trigger.task_instance = SimpleNamespace(dag_id="d", run_id="r", task_id="export", map_index=-1)
    return trigger


@pytest.mark.parametrize(("state", "stopped"), [("deferred", False), ("failed", True), ("success", True)])
async def test_on_kill_stops_only_a_task_a_user_killed(so_sim, monkeypatch, state, stopped):
    """Airflow 3.3 also calls on_kill when a trigger moves to another triggerer (apache/airflow#73454)."""
    so_sim.client.configure(so_step_delay=5)
    task_id = start("ExportContacts")
    await _placed(SuperOfficeBatchTaskTrigger(batch_task_id=task_id), monkeypatch, state).on_kill()
    assert (SuperOfficeHook().get_task(task_id)["Result"] == "Stopped") is stopped


async def test_on_kill_finishes_its_stop_through_the_triggerers_repeated_cancels(so_sim, monkeypatch):
    import asyncio

    so_sim.client.configure(so_step_delay=5)
    task_id = start("ExportContacts")
    original = SuperOfficeHook.arun

    async def slow_run(self, reader):
        await asyncio.sleep(0.3)
        return await original(self, reader)

    monkeypatch.setattr(SuperOfficeHook, "arun", slow_run)
    kill = asyncio.ensure_future(_placed(SuperOfficeBatchTaskTrigger(batch_task_id=task_id), monkeypatch,
                                         "failed").on_kill())
    for _ in range(5):  # the triggerer cancels on_kill again while it runs
        await asyncio.sleep(0.1)
        kill.cancel()
    await asyncio.wait({kill}, timeout=10)
    assert SuperOfficeHook().get_task(task_id)["Result"] == "Stopped"
