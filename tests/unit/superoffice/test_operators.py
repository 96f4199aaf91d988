"""SuperOfficeBatchTaskOperator: wait, fail, defer, timeout and kill."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import (
    RemoteWorkFailedError,
    WaitTimeoutError,
)
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger
from tests.unit.superoffice.common import API, TOKEN, ctx, info


# -- operator and sensor ------------------------------------------------------------------------------
def test_operator_waits_logs_progress_and_returns_the_file_name(so_conn, requests_mock, no_sleep, caplog):
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", [
        {"json": info("Aquired")},
        {"json": info("Started", ProgressPercent=40, ProgressDescription="Exporting contacts")},
        {"json": info("Started", ProgressPercent=40, ProgressDescription="Exporting contacts")},
        {"json": info("Succeeded", Result="OK", Response="5000 rows", FileName="export-2026.csv", ProgressPercent=100)},
    ])
    context = ctx()
    with caplog.at_level("INFO"):
        summary = SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts", poll_interval=1).execute(context)
    context["ti"].xcom_push.assert_called_once_with(key="batch_task_id", value=1234)
    assert summary["file_name"] == "export-2026.csv" and summary["state"] == "Succeeded"
    assert summary["result"] == "OK" and summary["response"] == "5000 rows"
    progress_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress:")]
    assert progress_lines == ["Progress: 0%", "Progress: 40% Exporting contacts", "Progress: 100%"]  # once per change


def test_operator_fails_with_result_and_response(so_conn, requests_mock, no_sleep):
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Failed", Result="Error", Response="Disk full"))
    with pytest.raises(RemoteWorkFailedError, match="Error Disk full"):
        SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts").execute(ctx())


def test_operator_defers_with_its_trigger(so_conn, requests_mock):
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("New"))
    with pytest.raises(TaskDeferred) as deferred:
        SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts", deferrable=True).execute(ctx())
    trigger = deferred.value.trigger
    assert isinstance(trigger, SuperOfficeBatchTaskTrigger)
    assert trigger.serialize()[1]["batch_task_id"] == 1234
    assert TOKEN not in str(trigger.serialize())


def test_timeout_stops_a_cancellable_task(so_conn, requests_mock, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Started"))
    stop = requests_mock.post(f"{API}/BatchTask/1234/Stop", json=True)
    op = SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts", timeout=0.1, poll_interval=0.05)
    with pytest.raises(WaitTimeoutError, match="it was stopped"):
        op.execute(ctx())
    assert stop.call_count == 1


def test_timeout_leaves_a_task_that_cannot_be_cancelled(so_conn, requests_mock):
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Started", CancellationBehaviour="CannotCancel"))
    stop = requests_mock.post(f"{API}/BatchTask/1234/Stop", json=True)
    op = SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts")
    event = {"status": "timeout", "remote_id": "1234", "report": None, "message": "1234 did not finish"}
    with pytest.raises(WaitTimeoutError, match="CannotCancel"):
        op.execute_complete(ctx(), event)
    assert stop.call_count == 0


def test_on_kill_stops_the_started_task(so_conn, requests_mock):
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Started"))
    stop = requests_mock.post(f"{API}/BatchTask/1234/Stop", json=True)
    op = SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts")
    op._started = 1234
    op.on_kill()
    assert stop.call_count == 1


# -- nothing is stopped on an unknown state ---------------------------------------------------------
def task_info(state: Any) -> dict[str, Any]:
    return {"Id": 9, "Name": "Export", "State": state, "CancellationBehaviour": "CanCancel"}


@pytest.mark.parametrize("final", ["succeeded", 4, "Paused"])
def test_a_timeout_never_stops_a_task_whose_state_is_not_plainly_running(superoffice_api, requests_mock, no_sleep,
                                                                         final):
    requests_mock.post(f"{superoffice_api}/BatchTask", json=9)
    requests_mock.get(f"{superoffice_api}/BatchTask/9", [{"json": task_info("Started")}] * 2 + [{"json": task_info(final)}])
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

    reads = requests_mock.get(f"{superoffice_api}/BatchTask/9", [{"json": task_info("Paused")}, {"json": task_info("Paused")}])
    stop = requests_mock.post(f"{superoffice_api}/BatchTask/9/Stop", json=True)
    outcome = SuperOfficeHook().stop_if_allowed(9)
    assert reads.call_count == 2 and stop.call_count == 0 and "'Paused' is not known" in outcome
