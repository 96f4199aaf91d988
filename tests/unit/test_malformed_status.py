"""Malformed status answers through the real hooks, operators, sensors and triggers (issue 12, item 4).

Every unreadable 2xx status body is the provider's own :class:`MalformedResponseError`, naming method,
path, status and what was wrong, never a raw pydantic error. A wait counts it as a failed read: a few
in a row are tolerated, then the wait ends with an error naming the path. Input that cannot be sent
(non-JSON parameters, an absurd connection timeout) is refused before any request.
"""

from __future__ import annotations

import asyncio
import json
import time
from unittest.mock import MagicMock

import pytest
from aiohttp import web
from airflow.sdk import PokeReturnValue
from pydantic import ValidationError

from airflow_provider_batchops.core.errors import (
    BatchOpsError,
    ConnectionConfigError,
    InputError,
    MalformedResponseError,
    TransientApiError,
)
from airflow_provider_batchops.core.waiting import DEFAULT_MAX_TRANSIENT_FAILURES
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator, RulesBatchOperator
from airflow_provider_batchops.sensors.waylay import WaylayBatchSensor
from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger
from tests.support.helpers import GATEWAY, serve_waylay, set_connection

RUNNING = {"id": "b-1", "user": "users/u", "operation": {"entity": "task", "action": "delete"}, "queueTime": 1}
DONE = {**RUNNING, "finishedTime": 9, "results": {"success": {"t1": {"statusCode": 200}}, "failure": {}}}
ACCEPTED = {"statusCode": 202, "uri": "/rules/v1/batch/b-1", "entity": RUNNING}
BATCH_PATH = "/rules/v1/batch/b-1"
STATUS_URL = f"{GATEWAY}{BATCH_PATH}"
#: An answer whose JSON is fine but whose shape is not: ``results.success`` is a list.
SUCCESS_AS_LIST = {"json": {**DONE, "results": {"success": ["t1"], "failure": {}}}}
MAMMOTH_API = "https://mammoth.test/api/v2"
SO_TENANT = "https://sod.superoffice.test/Cust12345"
SO_API = f"{SO_TENANT}/api/v1"


def ctx():
    return {"ti": MagicMock(start_date=None, task_id="t")}


def check_malformed(exc: BaseException, method: str, path: str, status: int, problem: str) -> None:
    """The provider's own error, naming the call and what was wrong, with no pydantic error behind it."""
    assert isinstance(exc, MalformedResponseError) and isinstance(exc, TransientApiError), repr(exc)
    assert not isinstance(exc, ValidationError)
    assert (exc.method, exc.path, exc.status) == (method, path, status)
    text = str(exc)
    assert f"{method} {path} answered HTTP {status}" in text, text
    assert problem in text, text
    assert exc.__cause__ is None and exc.__suppress_context__  # no pydantic traceback shown to the user


def causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    while exc is not None and len(found) < 10:
        found.append(exc)
        exc = exc.__cause__
    return found


@pytest.fixture
def waylay(waylay_conn, token_endpoint, requests_mock):
    requests_mock.post(f"{GATEWAY}/rules/v1/batch", status_code=202, json=ACCEPTED)
    return requests_mock


def status_reads(api) -> int:
    return sum(1 for r in api.request_history if r.method == "GET" and r.path == BATCH_PATH)


def starts(api) -> int:
    return sum(1 for r in api.request_history if r.method == "POST" and r.path == "/rules/v1/batch")


# -- one provider error per malformed answer --------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "status", "problem"),
    [
        pytest.param(SUCCESS_AS_LIST, 200, "results.success: Input should be a valid dictionary",
                     id="results.success as a list"),
        pytest.param({"json": {**DONE, "results": {"success": {}, "failure": {"t2": {"error": "gone"}}}}}, 200,
                     "results.failure.t2.statusCode: Field required", id="failure item without statusCode"),
        pytest.param({"status_code": 204, "content": b""}, 204, "body: Input should be a valid dictionary",
                     id="204 with no body"),
        pytest.param({"text": "null"}, 200, "body: Input should be a valid dictionary", id="JSON null"),
        pytest.param({"json": [DONE]}, 200, "body: Input should be a valid dictionary", id="JSON list"),
    ],
)
def test_a_malformed_waylay_batch_status_names_the_call_and_the_problem(waylay, answer, status, problem):
    waylay.get(STATUS_URL, **answer)
    with pytest.raises(MalformedResponseError) as err:
        WaylayHook().get_batch_report("rules", "b-1")
    check_malformed(err.value, "GET", BATCH_PATH, status, problem)
    assert status_reads(waylay) == 1  # readable JSON: the client does not retry, the wait decides


def test_the_error_of_a_body_that_is_there_shows_it(waylay):
    waylay.get(STATUS_URL, **SUCCESS_AS_LIST)
    with pytest.raises(MalformedResponseError) as err:
        WaylayHook().get_batch_report("rules", "b-1")
    assert err.value.body == SUCCESS_AS_LIST["json"]
    assert '"success": ["t1"]' in str(err.value)


def test_a_registry_job_answer_without_job_is_malformed(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/registry/v2/jobs/build/j1", json={"_links": {"self": "x"}})
    with pytest.raises(MalformedResponseError) as err:
        WaylayHook().get_job_report("build", "j1")
    check_malformed(err.value, "GET", "/registry/v2/jobs/build/j1", 200, "The registry answered without a job")


def test_a_mammoth_job_list_that_is_not_a_list_is_malformed(monkeypatch, requests_mock):
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=MAMMOTH_API, login="key",
                   password="mammoth-secret-value")
    reads = requests_mock.get(f"{MAMMOTH_API}/jobs", json={"jobs": "x"})
    with pytest.raises(MalformedResponseError) as err:
        MammothHook().get_jobs_report([7])
    check_malformed(err.value, "GET", "/jobs", 200, "Mammoth answered without a job list")
    assert '{"jobs": "x"}' in str(err.value)
    assert reads.call_count == 1 and reads.last_request.qs == {"job_ids": ["7"]}


@pytest.fixture
def so_conn(monkeypatch):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=SO_TENANT, password="token")


def test_a_superoffice_task_answered_with_a_list_is_malformed(so_conn, requests_mock):
    requests_mock.get(f"{SO_API}/BatchTask/1", json=[{"Id": 1, "State": "Started"}])
    with pytest.raises(MalformedResponseError) as err:
        SuperOfficeHook().get_task_report(1)
    check_malformed(err.value, "GET", "/BatchTask/1", 200, "no State")


# -- a wait tolerates a few malformed reads, then fails naming the path -----------------------------------
def rules_delete(**kwargs) -> RulesBatchDeleteOperator:
    return RulesBatchDeleteOperator(task_id="t", ids=["t1"], deferrable=False, poll_interval=0.05, durable=False,
                                    **kwargs)


@pytest.mark.parametrize("malformed", [1, 2, DEFAULT_MAX_TRANSIENT_FAILURES])
def test_an_operator_reads_past_malformed_answers_and_succeeds(waylay, no_sleep, malformed):
    waylay.get(STATUS_URL, [{"json": RUNNING}, *[SUCCESS_AS_LIST] * malformed, {"json": DONE}])
    summary = rules_delete().execute(ctx())
    assert summary["state"] == "succeeded" and summary["batch_id"] == "b-1"
    assert status_reads(waylay) == malformed + 2 and starts(waylay) == 1
    assert len(no_sleep) == malformed + 1  # one poll interval before each read after the first


def test_six_malformed_answers_in_a_row_fail_the_operator_naming_the_path(waylay, no_sleep):
    waylay.get(STATUS_URL, [{"json": RUNNING}, *[SUCCESS_AS_LIST] * (DEFAULT_MAX_TRANSIENT_FAILURES + 1)])
    with pytest.raises(BatchOpsError) as err:
        rules_delete().execute(ctx())
    text = str(err.value)
    assert f"GET {BATCH_PATH} answered HTTP 200" in text and "results.success" in text, text
    assert not any(isinstance(e, ValidationError) for e in causes(err.value))
    assert status_reads(waylay) == DEFAULT_MAX_TRANSIENT_FAILURES + 2 and starts(waylay) == 1  # never re-started


@pytest.mark.parametrize("action", ["delete", "stop"])
def test_an_operator_reads_past_malformed_answers_right_after_the_start(waylay, no_sleep, action):
    waylay.get(STATUS_URL, [SUCCESS_AS_LIST, SUCCESS_AS_LIST, {"json": DONE}])
    operator = RulesBatchOperator(task_id="t", action=action, ids=["t1"], deferrable=False, poll_interval=0.05,
                                  durable=False)
    assert operator.execute(ctx())["state"] == "succeeded"


def test_a_sensor_pokes_past_malformed_answers(waylay):
    waylay.get(STATUS_URL, [SUCCESS_AS_LIST, {"status_code": 204, "content": b""}, {"json": DONE}])
    sensor = WaylayBatchSensor(task_id="s", batch_id="b-1", poke_interval=0.05)
    assert sensor.poke(ctx()) is False
    assert sensor.poke(ctx()) is False
    done = sensor.poke(ctx())
    assert isinstance(done, PokeReturnValue) and done.is_done and done.xcom_value["state"] == "succeeded"


def test_a_sensor_fails_on_the_sixth_malformed_answer_in_a_row(waylay):
    waylay.get(STATUS_URL, **SUCCESS_AS_LIST)
    sensor = WaylayBatchSensor(task_id="s", batch_id="b-1", poke_interval=0.05)
    for _ in range(DEFAULT_MAX_TRANSIENT_FAILURES):
        assert sensor.poke(ctx()) is False
    with pytest.raises(MalformedResponseError) as err:
        sensor.poke(ctx())
    check_malformed(err.value, "GET", BATCH_PATH, 200, "results.success")


async def run_trigger(monkeypatch, answers: list[tuple[int, bytes]]) -> tuple[dict, int]:
    """Run a WaylayBatchTrigger against a local server giving ``answers`` in turn (the last one repeats)."""
    served = 0

    async def batch(request: web.Request) -> web.Response:
        nonlocal served
        status, body = answers[min(served, len(answers) - 1)]
        served += 1
        return web.Response(status=status, body=body, content_type="application/json")

    async with serve_waylay(monkeypatch, {BATCH_PATH: batch}):
        trigger = WaylayBatchTrigger(service="rules", batch_id="b-1", poll_interval=0.05, max_poll_interval=0.05,
                                     deadline=time.time() + 20)
        events = trigger.run()
        try:
            event = await asyncio.wait_for(anext(events), 15)
        finally:
            await events.aclose()
    return event.payload, served


MALFORMED = (200, json.dumps(SUCCESS_AS_LIST["json"]).encode())


async def test_a_trigger_reads_past_malformed_answers(monkeypatch):
    payload, served = await run_trigger(monkeypatch, [MALFORMED, (204, b""), (200, b"null"), (200, b"[]"),
                                                      (200, json.dumps(DONE).encode())])
    assert payload["status"] == "success", payload
    assert payload["report"]["summary"]["batch_id"] == "b-1" and served == 5


async def test_a_trigger_ends_with_an_error_event_naming_the_path(monkeypatch):
    payload, served = await run_trigger(monkeypatch, [MALFORMED])
    assert payload["status"] == "error", payload
    assert f"GET {BATCH_PATH} answered HTTP 200" in payload["message"] and "results.success" in payload["message"]
    assert served == DEFAULT_MAX_TRANSIENT_FAILURES + 1


# -- refused before anything is sent ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param({"d": object()}, id="object"),
        pytest.param({"x": float("nan")}, id="nan"),
        pytest.param({"x": float("inf")}, id="inf"),
        pytest.param({"nested": [{"s": {1, 2}}]}, id="set deep inside"),
    ],
)
def test_superoffice_parameters_that_are_not_json_are_refused_before_sending(so_conn, requests_mock, parameters):
    operator = SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts", parameters=parameters,
                                            deferrable=False, durable=False)
    with pytest.raises(InputError) as err:
        operator.execute(ctx())
    assert err.value.field == "parameters" and "'parameters'" in str(err.value)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("conn_type", "fields", "read"),
    [
        pytest.param("waylay", {"host": GATEWAY, "login": "key", "password": "secret"},
                     lambda: WaylayHook().get_batch_report("rules", "b-1"), id="waylay"),
        pytest.param("mammoth", {"host": MAMMOTH_API, "login": "key", "password": "secret"},
                     lambda: MammothHook().get_jobs_report([7]), id="mammoth"),
        pytest.param("superoffice", {"host": SO_TENANT, "password": "token"},
                     lambda: SuperOfficeHook().get_task_report(1), id="superoffice"),
    ],
)
def test_an_absurd_connection_timeout_is_refused_before_any_request(monkeypatch, requests_mock, conn_type, fields,
                                                                    read):
    set_connection(monkeypatch, f"{conn_type}_default", conn_type=conn_type, extra={"timeout": 1e12}, **fields)
    with pytest.raises(ConnectionConfigError) as err:
        read()
    assert err.value.field == "extra.timeout" and "'extra.timeout'" in str(err.value)
    assert f"Connection '{conn_type}_default'" in str(err.value)
    assert requests_mock.call_count == 0


def test_an_operator_refuses_an_absurd_connection_timeout_before_starting(monkeypatch, requests_mock):
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=SO_TENANT, password="token",
                   extra={"timeout": 1e12})
    operator = SuperOfficeBatchTaskOperator(task_id="t", name="ExportContacts", deferrable=False, durable=False)
    with pytest.raises(ConnectionConfigError) as err:
        operator.execute(ctx())
    assert err.value.field == "extra.timeout"
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("task_id", ["\u00b2", "1\u00b2", "9" * 5000])
def test_a_task_id_of_other_digits_is_refused_with_input_error(so_conn, requests_mock, task_id):
    with pytest.raises(InputError) as err:
        SuperOfficeHook().get_task_report(task_id)
    assert err.value.field == "batch_task_id"
    assert requests_mock.call_count == 0

