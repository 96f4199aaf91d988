"""SuperOffice BatchTask: hook auth schemes and calls, the state mapping, operator and sensor flows."""

from __future__ import annotations

import base64
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import (
    ApiError,
    ConnectionConfigError,
    InputError,
    RemoteWorkFailedError,
    StartOutcomeUnknownError,
    WaitTimeoutError,
)
from airflow_provider_batchops.core.state import BatchState
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.models.superoffice import batch_task_info, task_report
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.sensors.superoffice import SuperOfficeBatchTaskSensor
from airflow_provider_batchops.triggers.superoffice import SuperOfficeBatchTaskTrigger
from tests.support.helpers import set_connection

TENANT = "https://sod.superoffice.test/Cust12345"
API = f"{TENANT}/api/v1"
TOKEN = "8A:Cust12345.secret-access-token"


def info(state, **extra):
    return {"Id": 1234, "Name": "ExportContacts", "State": state, "Result": "", "Response": "", "FileName": "",
            "ProgressPercent": 0, "ProgressDescription": "", "CancellationBehaviour": "CanCancel", **extra}


@pytest.fixture
def so_conn(monkeypatch):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=TENANT, password=TOKEN,
                   extra={"accept_language": "en", "so_timezone": "UTC"})


def ctx():
    return {"ti": MagicMock(start_date=None)}


# -- hook ---------------------------------------------------------------------------------------------
def test_bearer_auth_base_url_and_language_headers(so_conn, requests_mock):
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Started"))
    SuperOfficeHook().get_task(1234)
    headers = requests_mock.last_request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept-Language"] == "en" and headers["SO-TimeZone"] == "UTC"


def test_soticket_auth_sends_the_app_token(monkeypatch, requests_mock):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=TENANT, password="7T:ticket",
                   extra={"auth": "soticket", "app_token": "client-secret"})
    requests_mock.get(f"{API}/BatchTask/1234", json=info("Started"))
    SuperOfficeHook().get_task(1234)
    assert requests_mock.last_request.headers["Authorization"] == "SOTicket 7T:ticket"
    assert requests_mock.last_request.headers["SO-AppToken"] == "client-secret"


def test_basic_auth_for_onsite(monkeypatch, requests_mock):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host="https://crm.local/SuperOffice",
                   login="svc", password="pw", extra={"auth": "basic"})
    requests_mock.get("https://crm.local/SuperOffice/api/v1/BatchTask/1", json=info("New"))
    SuperOfficeHook().get_task(1)
    assert requests_mock.last_request.headers["Authorization"] == "Basic " + base64.b64encode(b"svc:pw").decode()


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"password": TOKEN}, "host"), ({"host": TENANT}, "password"),
     ({"host": TENANT, "password": TOKEN, "extra": {"auth": "oauth"}}, "extra.auth"),
     ({"host": TENANT, "password": "pw", "extra": {"auth": "basic"}}, "login")],
)
def test_bad_connections_name_the_field_and_send_nothing(monkeypatch, requests_mock, fields, field):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", **fields)
    with pytest.raises(ConnectionConfigError) as err:
        SuperOfficeHook().get_task(1)
    assert err.value.field == field
    assert requests_mock.call_count == 0


def test_start_returns_the_bare_integer_id_and_is_never_resent(so_conn, requests_mock, no_sleep):
    requests_mock.post(f"{API}/BatchTask", json=1234)
    body = batch_task_info("ExportContacts", {"FromDate": "2026-01-01"}, "Nightly export", "CanCancel")
    assert SuperOfficeHook().start_task(body) == 1234
    assert requests_mock.last_request.json() == {
        "Name": "ExportContacts", "IsSystemTask": False, "IsInternalTask": False, "Description": "Nightly export",
        "ParameterObject": {"FromDate": "2026-01-01"}, "CancellationBehaviour": "CanCancel"}
    requests_mock.post(f"{API}/BatchTask", status_code=502)
    with pytest.raises(ApiError):
        SuperOfficeHook().start_task(body)
    assert sum(r.method == "POST" for r in requests_mock.request_history) == 2  # one each, no re-send


def test_a_start_answered_with_garbage_is_an_unknown_outcome(so_conn, requests_mock):
    requests_mock.post(f"{API}/BatchTask", text="<html>oops</html>")
    with pytest.raises(StartOutcomeUnknownError):
        SuperOfficeHook().start_task(batch_task_info("X"))


def test_the_error_body_appears_in_the_exception(so_conn, requests_mock):
    requests_mock.get(f"{API}/BatchTask/99999", status_code=404, json={
        "Error": True, "ErrorType": "SoNotFoundException", "ErrorMessage": "BatchTask id 99999 not found",
        "ErrorSource": "SuperOffice.Services.Implementation"})
    with pytest.raises(ApiError, match="SoNotFoundException: BatchTask id 99999 not found"):
        SuperOfficeHook().get_task(99999)


def test_list_by_state_and_stop(so_conn, requests_mock):
    requests_mock.get(f"{API}/BatchTask/Aquired", json=[info("Aquired")])
    requests_mock.post(f"{API}/BatchTask/1234/Stop", json=True)
    assert SuperOfficeHook().list_tasks("Aquired")[0]["State"] == "Aquired"
    assert SuperOfficeHook().stop_task(1234) is True
    with pytest.raises(InputError, match="state"):
        SuperOfficeHook().list_tasks("Acquired")  # the API spells it Aquired


# -- model --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "mapped"),
    [("New", BatchState.QUEUED), ("Aquired", BatchState.QUEUED), ("Started", BatchState.RUNNING),
     ("Succeeded", BatchState.SUCCEEDED), ("SucceededManualCleanup", BatchState.SUCCEEDED),
     ("Failed", BatchState.FAILED), ("Unknown", BatchState.UNKNOWN)],
)
def test_states(state, mapped):
    assert task_report(info(state)).state is mapped


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"name": ""}, "name"), ({"name": "X", "parameters": "FromDate=1"}, "parameters"),
     ({"name": "X", "description": 5}, "description"), ({"name": "X", "cancellation_behaviour": "Never"},
                                                         "cancellation_behaviour")],
)
def test_bad_task_input_names_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        batch_task_info(**kwargs)
    assert err.value.field == field


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


@pytest.mark.parametrize("bad", ["", "abc", 0, -3, True])
def test_sensor_bad_ids_send_nothing(so_conn, requests_mock, bad):
    with pytest.raises(InputError, match="batch_task_id"):
        SuperOfficeBatchTaskSensor(task_id="s", batch_task_id=bad, deferrable=True).execute(ctx())
    assert requests_mock.call_count == 0


def test_sensor_accepts_a_templated_id(so_conn, requests_mock):
    requests_mock.get(f"{API}/BatchTask/1234", json=info("SucceededManualCleanup", FileName="x.csv"))
    result = SuperOfficeBatchTaskSensor(task_id="s", batch_task_id="1234").poke(ctx())
    assert result.is_done and result.xcom_value["file_name"] == "x.csv"
