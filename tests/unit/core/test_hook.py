"""The base hook (core/hook.py): connection -> client, the service's error wording, starts."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_batchops.core.errors import (
    ApiError,
    BatchOpsError,
    ConnectionConfigError,
    InputError,
    StartAcceptedError,
)
from airflow_provider_batchops.core.hook import check_conn_id, start_each
from airflow_provider_batchops.core.http import Call
from tests.support.fake_service import URL, WidgetApi, WidgetHook, job, job_reader
from tests.support.helpers import AIRFLOW_VERSION, set_connection

#: Airflow 3.1 refuses a connection whose extra is not a JSON object before the hook sees it.
AIRFLOW_31 = pytest.mark.skipif(AIRFLOW_VERSION < (3, 2), reason="Airflow 3.1 does not load such a connection")


def connect(monkeypatch, **fields: Any) -> None:
    set_connection(monkeypatch, "widgets_default", conn_type="widgets", **{"password": "k", **fields})


@pytest.mark.parametrize(("host", "extra", "url"), [
    ("widgets.test", None, "https://widgets.test"),
    ("https://widgets.test/api/", None, "https://widgets.test/api"),
    ("http://127.0.0.1", None, "http://127.0.0.1"),
])
def test_the_base_url_of_a_connection(monkeypatch, host, extra, url):
    connect(monkeypatch, host=host)
    assert WidgetHook().client.base_url == url


def test_a_port_and_a_schema_are_honoured(monkeypatch):
    connect(monkeypatch, host="widgets.test", port=8080, schema="http")
    assert WidgetHook().client.base_url == "http://widgets.test:8080"


@pytest.mark.parametrize(("fields", "field"), [
    ({"host": ""}, "'host'"),
    ({"host": "ftp://widgets.test"}, "'host'"),
    pytest.param({"host": URL, "extra": "[1]"}, "'extra'", marks=AIRFLOW_31),
    pytest.param({"host": URL, "extra": "{nope"}, "'extra'", marks=AIRFLOW_31),
    ({"host": URL, "extra": {"timeout": 0}}, "'extra.timeout'"),
    ({"host": URL, "extra": {"timeout": 7200}}, "'extra.timeout'"),
])
def test_bad_connections_name_the_field_and_send_nothing(monkeypatch, requests_mock, fields, field):
    connect(monkeypatch, **fields)
    with pytest.raises(ConnectionConfigError, match=field) as info:
        WidgetHook().run(job_reader("w-1"))
    assert "Connection 'widgets_default'" in str(info.value)
    assert requests_mock.call_count == 0


def test_the_connection_timeout_extra_sets_the_request_timeout(monkeypatch):
    connect(monkeypatch, host=URL, extra={"timeout": 2.5})
    timeouts = WidgetHook().client.timeouts
    assert timeouts.total == 2.5 and timeouts.connect <= 2.5


@pytest.mark.parametrize("conn_id", ["", " ", " w", 5])
def test_a_blank_connection_id_is_refused_not_replaced_by_the_default(conn_id):
    with pytest.raises(InputError) as info:
        WidgetHook(widgets_conn_id=conn_id)
    assert info.value.field == "widgets_conn_id"
    assert check_conn_id(None, "x", "the_default") == "the_default"


def test_errors_are_worded_as_the_service_words_them(requests_mock, monkeypatch):
    WidgetApi().mock(requests_mock, monkeypatch)  # nothing scripted: 404 {"reason": "no job w-9"}
    with pytest.raises(ApiError) as info:
        WidgetHook().run(job_reader("w-9"))
    assert info.value.status == 404 and info.value.api_message == "no job w-9"
    assert "no job w-9" in str(info.value)
    assert WidgetHook.error_message({"reason": "r", "message": "m"}) == "r"  # error_fields, in order


def test_the_connection_secret_is_masked(requests_mock, monkeypatch):
    masked: list[str] = []
    monkeypatch.setattr("airflow_provider_batchops.core.hook.mask", masked.append)
    WidgetApi().script("w-1", job("w-1", "done")).mock(requests_mock, monkeypatch, key="s3cr3t-key")
    WidgetHook().run(job_reader("w-1"))
    assert "s3cr3t-key" in masked


def test_a_start_returns_the_id_read_from_the_answer(requests_mock, monkeypatch):
    api = WidgetApi(next_id="w-7").mock(requests_mock, monkeypatch)
    started = WidgetHook().send_start(Call("POST", "/jobs", json_body={"size": 1}), lambda r: r.json()["id"])
    assert started == "w-7" and api.started == [{"size": 1}]


def test_an_accepted_start_with_an_unreadable_id_fails_without_retries(requests_mock, monkeypatch):
    WidgetApi().mock(requests_mock, monkeypatch)
    with pytest.raises(StartAcceptedError, match=r"POST /jobs was accepted \(HTTP 201\).*KeyError.*w-1"):
        WidgetHook().send_start(Call("POST", "/jobs", json_body={}), lambda r: r.json()["job"])


def test_several_starts_record_each_and_a_later_failure_names_those_accepted():
    recorded: list[tuple[list[Any], int]] = []

    def send(part: str) -> list[str]:
        if part == "bad":
            raise BatchOpsError("refused")
        return [f"id-{part}"]

    assert start_each(["a", "b"], send, key="job_id", recorded=lambda ids, n: recorded.append((list(ids), n))) == [
        "id-a", "id-b"]
    assert recorded == [(["id-a"], 1), (["id-a", "id-b"], 2)]
    with pytest.raises(StartAcceptedError, match=r"1 of 3 starts were accepted \(job_id: \['id-a'\]\), then start 2"):
        start_each(["a", "bad", "c"], send, key="job_id")
    with pytest.raises(BatchOpsError, match="refused") as info:
        start_each(["bad", "a"], send, key="job_id")  # nothing accepted yet: the error itself
    assert not isinstance(info.value, StartAcceptedError)
    assert start_each(["a", "b", "c"], send, key="job_id", accepted=["id-a"], first=1) == ["id-a", "id-b", "id-c"]
