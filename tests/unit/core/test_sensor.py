"""StatusSensor (core/sensor.py) on the made-up Widgets service: poke, defer, fail clearly."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import InputError, RemoteWorkFailedError, UnknownStateError
from airflow_provider_batchops.core.sensor import DEFER_TIMEOUT_PADDING
from tests.support.fake_service import WidgetApi, WidgetJobSensor, WidgetJobTrigger, job


def ctx() -> dict:
    return {"ti": MagicMock(start_date=None, task_id="s")}


def test_pokes_until_the_job_is_done_and_returns_its_summary(requests_mock, monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "pending"), job("w-1", "running"), job("w-1", "done"))
    api.mock(requests_mock, monkeypatch)
    sensor = WidgetJobSensor(task_id="s", job_id="w-1", poke_interval=1)
    assert sensor.poke(ctx()) is False and sensor.poke(ctx()) is False
    result = sensor.poke(ctx())
    assert result.is_done and result.xcom_value["status"] == "done" and api.reads == {"w-1": 3}


def test_a_failed_job_fails_the_poke_unless_item_failures_only_warn(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "failed", failed=2)).mock(requests_mock, monkeypatch)
    with pytest.raises(RemoteWorkFailedError, match="job w-1 is failed"):
        WidgetJobSensor(task_id="s", job_id="w-1").poke(ctx())
    result = WidgetJobSensor(task_id="s", job_id="w-1", on_item_failure="warn").poke(ctx())
    assert result.is_done and result.xcom_value["failed"] == 2


def test_pokes_tolerate_a_few_failed_reads_then_fail(requests_mock, monkeypatch):
    WidgetApi().script("w-1", {"status": "running"}).mock(requests_mock, monkeypatch)  # no id: unreadable
    sensor = WidgetJobSensor(task_id="s", job_id="w-1")
    assert [sensor.poke(ctx()) for _ in range(5)] == [False] * 5
    with pytest.raises(Exception, match="GET /jobs/w-1"):
        sensor.poke(ctx())


def test_a_lasting_unknown_state_fails_the_sensor_with_its_value(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "paused")).mock(requests_mock, monkeypatch)
    sensor = WidgetJobSensor(task_id="s", job_id="w-1", unknown_state_reads=2)
    assert sensor.poke(ctx()) is False
    with pytest.raises(UnknownStateError, match="'paused'"):
        sensor.poke(ctx())


def test_deferrable_defers_to_the_trigger_with_a_padded_framework_timeout(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch)
    sensor = WidgetJobSensor(task_id="s", job_id="w-1", deferrable=True, timeout=100, max_poll_interval=20)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(ctx())
    trigger = info.value.trigger
    assert type(trigger) is WidgetJobTrigger and trigger.job_id == "w-1"
    assert trigger.schedule.interval == 5.0 and trigger.schedule.max_interval == 20  # deferrable default poke
    assert info.value.timeout == timedelta(seconds=100 + DEFER_TIMEOUT_PADDING)


def test_deferrable_returns_at_once_when_already_done(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "done")).mock(requests_mock, monkeypatch)
    assert WidgetJobSensor(task_id="s", job_id="w-1", deferrable=True).execute(ctx())["status"] == "done"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"job_id": ""}, "job_id"), ({"job_id": "None"}, "job_id"), ({"deferrable": "yes"}, "deferrable"),
    ({"on_item_failure": "ignore"}, "on_item_failure"), ({"unknown_state_reads": 0}, "unknown_state_reads"),
    ({"max_poll_interval": 1}, "max_poll_interval"),
])
def test_bad_input_names_the_field_and_sends_nothing(requests_mock, monkeypatch, kwargs, field):
    WidgetApi().mock(requests_mock, monkeypatch)
    sensor = WidgetJobSensor(task_id="s", **{"job_id": "w-1", "poke_interval": 10, **kwargs})
    with pytest.raises(InputError) as info:
        sensor.execute(ctx())
    assert info.value.field == field and requests_mock.call_count == 0
