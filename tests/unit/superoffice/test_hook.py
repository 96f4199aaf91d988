"""SuperOfficeHook: auth schemes, headers, connection checks, calls (requests-mock)."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_batchops.core.errors import (
    ApiError,
    ConnectionConfigError,
    InputError,
    StartOutcomeUnknownError,
)
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.models.superoffice import batch_task_info
from tests.support.helpers import set_connection
from tests.unit.superoffice.common import API, TENANT, TOKEN, info


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
