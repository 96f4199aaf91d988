"""Resuming after a retry: the started id is kept in the task state store until the work is finished."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.durable import VariableStore, resume_store
from airflow_provider_batchops.core.errors import BatchOpsError, RemoteWorkFailedError
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from tests.support.durable_store import FakeStore
from tests.support.helpers import set_connection

TENANT = "https://sod.superoffice.test/Cust12345"
API = f"{TENANT}/api/v1"


def info(state: str, **extra: Any) -> dict[str, Any]:
    return {"Id": 1234, "Name": "ExportContacts", "State": state, "Result": "", "Response": "", "FileName": "f.csv",
            "ProgressPercent": 0, "ProgressDescription": "", "CancellationBehaviour": "CanCancel", **extra}


@pytest.fixture
def so_conn(monkeypatch):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=TENANT, password="token")


def context(store: FakeStore) -> dict[str, Any]:
    return {"ti": MagicMock(start_date=None), "task_state_store": store}


def operator(**kwargs: Any) -> SuperOfficeBatchTaskOperator:
    return SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts", poll_interval=1, **kwargs)


def starts(requests_mock) -> int:
    return sum(r.method == "POST" and r.url.endswith("/BatchTask") for r in requests_mock.request_history)


def test_a_retry_after_the_worker_died_resumes_the_same_task(so_conn, requests_mock, no_sleep):
    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", json=1234)
    # The first try starts the task, then dies while waiting (here: reads that keep failing).
    requests_mock.get(f"{API}/BatchTask/1234", status_code=500, json={"ErrorMessage": "down"})
    with pytest.raises(BatchOpsError, match="Waiting for 1234 failed: GET /BatchTask/1234 returned HTTP 500"):
        operator().execute(context(store))
    assert store.data == {"batch_task_id": 1234}
    # The retry finds the id, sees the task still running, and waits for it without a second start.
    requests_mock.get(f"{API}/BatchTask/1234", [{"json": info("Started")}, {"json": info("Started")},
                                                {"json": info("Succeeded", Result="OK")}])
    summary = operator().execute(context(store))
    assert summary["batch_task_id"] == 1234 and summary["state"] == "Succeeded"
    assert starts(requests_mock) == 1
    assert store.data == {}  # finished: nothing left for a later run


def test_a_retry_after_the_work_failed_starts_afresh(so_conn, requests_mock, no_sleep):
    store = FakeStore()
    store.data["batch_task_id"] = 1111
    requests_mock.get(f"{API}/BatchTask/1111", json=info("Failed", Id=1111, Result="Error"))
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Succeeded"))
    operator().execute(context(store))
    assert starts(requests_mock) == 1 and store.data == {}


def test_the_id_is_forgotten_when_the_work_fails(so_conn, requests_mock, no_sleep):
    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Failed", Result="Error", Response="Disk full"))
    with pytest.raises(RemoteWorkFailedError):
        operator().execute(context(store))
    assert store.writes == 1 and store.data == {}


def test_a_deferred_wait_keeps_the_id_until_the_trigger_event(so_conn, requests_mock):
    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Started"))
    with pytest.raises(TaskDeferred):
        operator(deferrable=True).execute(context(store))
    assert store.data == {"batch_task_id": 1234}
    event = {"status": "success", "remote_id": "1234",
             "report": {"state": "succeeded", "summary": {"batch_task_id": 1234}, "message": "done"}}
    assert operator(deferrable=True).execute_complete(context(store), event) == {"batch_task_id": 1234}
    assert store.data == {}


def test_durable_false_never_touches_the_store(so_conn, requests_mock, no_sleep):
    store = FakeStore()
    store.data["batch_task_id"] = 1111
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Succeeded"))
    operator(durable=False).execute(context(store))
    assert starts(requests_mock) == 1 and store.data == {"batch_task_id": 1111} and store.writes == 0


def test_an_unreadable_earlier_id_starts_afresh(so_conn, requests_mock, no_sleep):
    store = FakeStore()
    store.data["batch_task_id"] = 1111
    requests_mock.get(f"{API}/BatchTask/1111", status_code=404, json={"ErrorType": "SoNotFoundException"})
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Succeeded"))
    operator().execute(context(store))
    assert starts(requests_mock) == 1


def test_a_store_that_cannot_be_read_costs_only_the_resume(so_conn, requests_mock, no_sleep):
    unreadable = MagicMock(**{"get.side_effect": RuntimeError("no comms")})
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Succeeded"))
    assert operator().execute({"ti": MagicMock(start_date=None), "task_state_store": unreadable})["state"] == "Succeeded"


def test_a_store_that_cannot_record_a_started_id_fails_the_task_unretried(so_conn, requests_mock, no_sleep):
    """The start was accepted but could not be recorded: a retry would start it again, so no retry."""
    from airflow_provider_batchops.core.compat import AirflowFailException
    from airflow_provider_batchops.core.errors import StartAcceptedError

    broken = MagicMock(**{"get.return_value": None, "set.side_effect": RuntimeError("no comms")})
    requests_mock.post(f"{API}/BatchTask", json=1234)
    with pytest.raises(StartAcceptedError, match="1234.*may be running remotely") as err:
        operator(retries=3).execute({"ti": MagicMock(start_date=None), "task_state_store": broken})
    assert isinstance(err.value, AirflowFailException)
    assert starts(requests_mock) == 1


def test_the_variable_fallback_is_named_after_the_task_instance():
    ti = MagicMock(dag_id="d", run_id="manual__1", task_id="t", map_index=3)
    store = resume_store({"ti": ti})
    assert store is not None and isinstance(store.store, VariableStore)
    assert store.store.prefix == "batchops.resume.d.manual__1.t.3"
    assert resume_store({"ti": MagicMock()}) is None  # no usable task instance: no resume


def test_a_lost_start_fails_the_task_without_airflow_retries(so_conn, requests_mock):
    from airflow_provider_batchops.core.compat import AirflowFailException
    from airflow_provider_batchops.core.errors import StartOutcomeUnknownError

    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", text="<html>proxy error page</html>")  # accepted? nobody knows
    with pytest.raises(StartOutcomeUnknownError) as err:
        operator(retries=3).execute(context(store))
    assert isinstance(err.value, AirflowFailException)  # Airflow skips the task's retries
    assert store.data == {} and starts(requests_mock) == 1


def series_context(store: FakeStore, max_tries: int) -> dict[str, Any]:
    """A context whose task instance is in the series of tries ``max_tries`` (a clear raises it)."""
    return {"ti": MagicMock(start_date=None, max_tries=max_tries), "task_state_store": store}


def test_a_retry_of_a_try_lost_after_the_work_finished_does_not_start_it_again(so_conn, requests_mock, no_sleep):
    """The worker died after the wait ended, before Airflow stored the success: Airflow retries."""
    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Succeeded", Result="OK"))
    operator(retries=2).execute(series_context(store, 2))
    assert store.data == {"finished": {"id": 1234, "series": 2}}  # the running-work record is gone

    summary = operator(retries=2).execute(series_context(store, 2))  # the retry: same series of tries

    assert summary["batch_task_id"] == 1234 and summary["state"] == "Succeeded"
    assert starts(requests_mock) == 1


def test_a_cleared_task_starts_afresh_after_its_work_finished(so_conn, requests_mock, no_sleep):
    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", [{"json": 1234}, {"json": 5678}])
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Succeeded"))
    requests_mock.get(f"{API}/BatchTask/5678", json=info("Succeeded", Id=5678))
    operator().execute(series_context(store, 0))

    summary = operator().execute(series_context(store, 1))  # cleared: Airflow raised max_tries

    assert summary["batch_task_id"] == 5678 and starts(requests_mock) == 2
    assert store.data == {"finished": {"id": 5678, "series": 1}}


def test_a_deferred_wait_leaves_a_finished_entry_for_its_series(so_conn, requests_mock):
    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Started"))
    with pytest.raises(TaskDeferred):
        operator(deferrable=True).execute(series_context(store, 0))
    event = {"status": "success", "remote_id": "1234",
             "report": {"state": "succeeded", "summary": {"batch_task_id": 1234}, "message": "done"}}
    operator(deferrable=True).execute_complete(series_context(store, 0), event)
    assert store.data == {"finished": {"id": 1234, "series": 0}}  # the typed id, not the event's text


def test_a_failed_wait_leaves_no_finished_entry(so_conn, requests_mock, no_sleep):
    store = FakeStore()
    requests_mock.post(f"{API}/BatchTask", json=1234)
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Failed", Result="Error"))
    with pytest.raises(RemoteWorkFailedError):
        operator().execute(series_context(store, 0))
    assert store.data == {}


def test_the_variable_fallback_keeps_no_finished_entries():
    """One Variable per finished task instance would pile up: the fallback forgets instead."""
    ti = MagicMock(dag_id="d", run_id="r", task_id="t", map_index=-1)
    store = resume_store({"ti": ti})
    assert store is not None and store.keeps_finished is False
    assert resume_store({"ti": ti, "task_state_store": FakeStore()}).keeps_finished is True  # type: ignore[union-attr]
