"""RulesBatchOperator / RulesBatchDeleteOperator / WaylayBatchSensor flows (requests-mock, no Airflow DB)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import (
    BatchOpsError,
    InputError,
    RemoteWorkFailedError,
    WaitTimeoutError,
)
from airflow_provider_batchops.core.state import BatchState, StatusReport
from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator, RulesBatchOperator
from airflow_provider_batchops.sensors.waylay import WaylayBatchSensor
from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger
from tests.support.helpers import GATEWAY

RUNNING = {"id": "b-1", "user": "user/u", "operation": {"entity": "task", "action": "delete"}, "queueTime": 1}
ACCEPTED = {"statusCode": 202, "uri": "/rules/v1/batch/b-1", "entity": RUNNING}
DONE = {**RUNNING, "finishedTime": 9, "results": {"success": {"t1": {"statusCode": 200}}, "failure": {}}}
PARTIAL = {**RUNNING, "finishedTime": 9, "results": {"success": {"t1": {"statusCode": 200}},
                                                      "failure": {"t2": {"statusCode": 404, "error": "No task t2"}}}}
STATUS_URL = f"{GATEWAY}/rules/v1/batch/b-1"


def context():
    ti = MagicMock()
    ti.start_date = None
    return {"ti": ti}


@pytest.fixture
def api(waylay_conn, token_endpoint, requests_mock):
    requests_mock.post(f"{GATEWAY}/rules/v1/batch", status_code=202, json=ACCEPTED)
    requests_mock.get(f"{GATEWAY}/rules/v1/tasks", json=[], headers={"X-Count": "1"})  # the max_tasks count
    return requests_mock


def starts(api) -> int:
    return sum(1 for r in api.request_history if r.method == "POST" and r.path == "/rules/v1/batch")


def test_waits_in_the_worker_and_returns_the_summary(api, no_sleep):
    api.get(STATUS_URL, [{"json": RUNNING}, {"json": RUNNING}, {"json": DONE}])
    ctx = context()
    op = RulesBatchDeleteOperator(task_id="t", query={"status": "stopped"}, deferrable=False, poll_interval=2)
    summary = op.execute(ctx)
    ctx["ti"].xcom_push.assert_called_once_with(key="batch_id", value="b-1")
    assert summary["batch_id"] == "b-1" and summary["succeeded"] == 1 and summary["failed"] == 0
    assert starts(api) == 1
    assert len(no_sleep) == 2 and 1.8 <= no_sleep[0] <= 2.2  # poll_interval, with jitter
    json.dumps(summary)  # the XCom return value is JSON


def test_defers_with_the_shared_trigger_after_pushing_the_id(api):
    api.get(STATUS_URL, json=RUNNING)
    ctx = context()
    op = RulesBatchOperator(task_id="t", action="stop", ids=["t1"], deferrable=True, poll_interval=3,
                            max_poll_interval=30, timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx)
    ctx["ti"].xcom_push.assert_called_once_with(key="batch_id", value="b-1")
    trigger = deferred.value.trigger
    assert isinstance(trigger, WaylayBatchTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_batchops.triggers.waylay.WaylayBatchTrigger"
    assert kwargs["batch_id"] == "b-1" and kwargs["service"] == "rules"
    assert kwargs["poll_interval"] == 3 and kwargs["max_poll_interval"] == 30
    assert time.time() + 590 < kwargs["deadline"] <= time.time() + 600  # wall clock
    assert deferred.value.method_name == "execute_complete"
    assert starts(api) == 1


def test_does_not_defer_when_already_finished(api):
    api.get(STATUS_URL, json=DONE)
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"], deferrable=True)
    assert op.execute(context())["state"] == "succeeded"


def test_wait_for_completion_false_returns_the_id_at_once(api):
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"], wait_for_completion=False)
    assert op.execute(context()) == "b-1"
    assert [r.method for r in api.request_history if r.path.startswith("/rules")] == ["POST"]


def test_partial_failure_fails_by_default(api, no_sleep):
    api.get(STATUS_URL, json=PARTIAL)
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1", "t2"])
    with pytest.raises(RemoteWorkFailedError, match="No task t2") as err:
        op.execute(context())
    assert err.value.summary["failures"] == {"t2": {"statusCode": 404, "error": "No task t2"}}


def test_partial_failure_only_warns_when_asked(api, no_sleep):
    api.get(STATUS_URL, json=PARTIAL)
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1", "t2"], on_item_failure="warn")
    assert op.execute(context())["failed"] == 1


def test_worker_wait_times_out_and_says_the_batch_goes_on(api, monkeypatch):
    api.get(STATUS_URL, json=RUNNING)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"], timeout=timedelta(seconds=0.1), poll_interval=0.05)
    with pytest.raises(WaitTimeoutError, match="cannot be cancelled"):
        op.execute(context())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"action": "strt", "ids": ["t"]}, "action"),
        ({"action": "delete"}, "query"),
        ({"action": "delete", "ids": ["t"], "query": {"status": "stopped"}}, "query"),
        ({"action": "delete", "query": {"status": "gone"}}, "query.status"),
        ({"action": "delete", "ids": ["t"], "timeout": -1}, "timeout"),
        ({"action": "delete", "ids": ["t"], "poll_interval": 0}, "poll_interval"),
        ({"action": "delete", "ids": ["t"], "poll_interval": 10, "max_poll_interval": 5}, "max_poll_interval"),
        ({"action": "delete", "ids": ["t"], "on_item_failure": "ignore"}, "on_item_failure"),
    ],
)
def test_bad_input_fails_naming_the_field_and_sends_nothing(waylay_conn, requests_mock, kwargs, field):
    op = RulesBatchOperator(task_id="t", **kwargs)
    with pytest.raises(InputError) as err:
        op.execute(context())
    assert err.value.field == field
    assert requests_mock.call_count == 0


# -- execute_complete: what the trigger sends back --------------------------------------------------
def _event(status, state=None, item_failures=0, message="m"):
    report = None if state is None else StatusReport(state, {"batch_id": "b-1", "state": state.value}, message,
                                                     item_failures).to_json()
    return {"status": status, "remote_id": "b-1", "report": report, "message": message}


def test_execute_complete_success_returns_the_summary():
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"])
    assert op.execute_complete(context(), _event("success", BatchState.SUCCEEDED)) == {
        "batch_id": "b-1", "state": "succeeded"}


def test_execute_complete_partial_failure_follows_the_policy():
    event = _event("failed", BatchState.PARTIALLY_FAILED, item_failures=2, message="2 failed")
    with pytest.raises(RemoteWorkFailedError, match="2 failed"):
        RulesBatchDeleteOperator(task_id="t", ids=["t1"]).execute_complete(context(), event)
    warn = RulesBatchDeleteOperator(task_id="t", ids=["t1"], on_item_failure="warn")
    assert warn.execute_complete(context(), event)["state"] == "partially_failed"


def test_execute_complete_error_and_timeout_and_missing_event():
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"])
    with pytest.raises(BatchOpsError, match="returned HTTP 404"):
        op.execute_complete(context(), _event("error", message="GET /rules/v1/batch/b-1 returned HTTP 404"))
    with pytest.raises(WaitTimeoutError, match="deadline.*cannot be cancelled"):
        op.execute_complete(context(), _event("timeout", BatchState.RUNNING, message="b-1 passed the deadline"))
    with pytest.raises(BatchOpsError, match="no usable event"):
        op.execute_complete(context(), None)


# -- the sensor -------------------------------------------------------------------------------------
def test_sensor_pokes_until_finished(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(STATUS_URL, [{"json": RUNNING}, {"json": DONE}])
    sensor = WaylayBatchSensor(task_id="s", batch_id="b-1", deferrable=False)
    assert sensor.poke(context()) is False
    result = sensor.poke(context())
    assert result.is_done and result.xcom_value["succeeded"] == 1


def test_deferrable_sensor_uses_the_same_trigger_with_a_padded_framework_timeout(
    waylay_conn, token_endpoint, requests_mock
):
    requests_mock.get(STATUS_URL, json=RUNNING)
    sensor = WaylayBatchSensor(task_id="s", batch_id="b-1", deferrable=True, timeout=120)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    assert isinstance(deferred.value.trigger, WaylayBatchTrigger)
    assert deferred.value.timeout > timedelta(seconds=120)  # the trigger's own timeout event comes first
    assert deferred.value.trigger.deadline <= time.time() + 120


@pytest.mark.parametrize(("kwargs", "field"), [({"service": "alarms"}, "service"), ({"batch_id": ""}, "batch_id")])
def test_sensor_bad_input(waylay_conn, requests_mock, kwargs, field):
    sensor = WaylayBatchSensor(task_id="s", **{"batch_id": "b-1", **kwargs}, deferrable=True)
    with pytest.raises(InputError) as err:
        sensor.execute(context())
    assert err.value.field == field
    assert requests_mock.call_count == 0
