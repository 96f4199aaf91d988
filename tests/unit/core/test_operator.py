"""StartAndWaitOperator and RemoteWorkMixin (core/operator.py) on the made-up Widgets service."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import (
    BatchOpsError,
    InputError,
    RemoteWorkFailedError,
    StartAcceptedError,
    WaitTimeoutError,
)
from tests.support.durable_store import FakeStore
from tests.support.fake_service import StoppableWidgetJobTrigger, WidgetApi, WidgetJobOperator, job


def operator(**kwargs: Any) -> WidgetJobOperator:
    return WidgetJobOperator(task_id="t", size=kwargs.pop("size", 3), poll_interval=1, **kwargs)


def context(store: FakeStore | None = None, events: list[Any] | None = None) -> dict[str, Any]:
    ti = MagicMock(start_date=None, task_id="t")
    if events is not None:
        ti.xcom_push.side_effect = lambda key, value: events.append(("xcom", key, value))
    ctx: dict[str, Any] = {"ti": ti}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


class RecordingStore(FakeStore):
    def __init__(self, events: list[Any]) -> None:
        super().__init__()
        self.events = events

    def set(self, key: str, value: Any) -> None:
        self.events.append(("store", key, value))
        super().set(key, value)


def test_the_start_is_recorded_before_the_first_status_read(requests_mock, monkeypatch, no_sleep):
    api = WidgetApi().script("w-1", job("w-1", "running"), job("w-1", "done")).mock(requests_mock, monkeypatch)
    events: list[Any] = []
    store = RecordingStore(events)
    real_answer = api.answer
    api.answer = lambda job_id, headers=None: (events.append(("read", job_id)), real_answer(job_id, headers))[1]

    result = operator().execute(context(store, events))

    assert result["job_id"] == "w-1" and result["status"] == "done"
    assert api.started == [{"size": 3}]
    first_read = events.index(("read", "w-1"))
    assert events.index(("store", "job_id", "w-1")) < first_read
    assert events.index(("xcom", "job_id", "w-1")) < first_read
    assert store.data == {}  # forgotten once the job finished
    assert len(no_sleep) == 1 and 0.9 <= no_sleep[0] <= 1.1  # one sleep of poll_interval (+/- jitter)


def test_a_retry_resumes_the_recorded_job_instead_of_starting_again(requests_mock, monkeypatch, no_sleep):
    api = WidgetApi(next_id="w-2").script("w-1", job("w-1", "running"), job("w-1", "done"))
    api.mock(requests_mock, monkeypatch)
    store = FakeStore()
    store.data["job_id"] = "w-1"  # an earlier try started w-1, then its worker died

    result = operator().execute(context(store))

    assert api.started == [] and result["job_id"] == "w-1"


def test_a_retry_after_the_job_failed_starts_afresh(requests_mock, monkeypatch, no_sleep):
    api = WidgetApi(next_id="w-2").script("w-1", job("w-1", "failed", failed=2)).script("w-2", job("w-2", "done"))
    api.mock(requests_mock, monkeypatch)
    store = FakeStore()
    store.data["job_id"] = "w-1"

    result = operator().execute(context(store))

    assert api.started == [{"size": 3}] and result["job_id"] == "w-2"


def test_a_failed_job_fails_the_task_with_its_summary(requests_mock, monkeypatch, no_sleep):
    WidgetApi().script("w-1", job("w-1", "failed", failed=4)).mock(requests_mock, monkeypatch)
    with pytest.raises(RemoteWorkFailedError, match="failed: job w-1 is failed") as info:
        operator().execute(context(FakeStore()))
    assert info.value.summary["failed"] == 4


def test_item_failures_only_warn_when_asked(requests_mock, monkeypatch, no_sleep):
    WidgetApi().script("w-1", job("w-1", "failed", failed=4)).mock(requests_mock, monkeypatch)
    assert operator(on_item_failure="warn").execute(context())["failed"] == 4


def test_wait_for_completion_false_returns_the_id_without_reading(requests_mock, monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch)
    assert operator(wait_for_completion=False).execute(context(FakeStore())) == "w-1"
    assert api.reads == {}


def test_bad_input_names_the_field_and_sends_nothing(requests_mock, monkeypatch):
    api = WidgetApi().mock(requests_mock, monkeypatch)
    for kwargs, field in [({"size": "many"}, "size"), ({"size": 0}, "size"), ({"poll_interval": -1}, "poll_interval"),
                          ({"timeout": "soon"}, "timeout"), ({"on_item_failure": "ignore"}, "on_item_failure"),
                          ({"deferrable": "false"}, "deferrable"), ({"unknown_state_reads": 0}, "unknown_state_reads")]:
        with pytest.raises(InputError) as info:
            WidgetJobOperator(task_id="t", **{"size": 3, "poll_interval": 1, **kwargs}).execute(context())
        assert info.value.field == field, kwargs
    assert requests_mock.call_count == 0 and api.started == []


def test_deferrable_defers_to_the_trigger_with_the_wait_settings(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch)
    with pytest.raises(TaskDeferred) as info:
        operator(deferrable=True, max_poll_interval=30, timeout=600).execute(context(FakeStore()))
    trigger = info.value.trigger
    assert isinstance(trigger, StoppableWidgetJobTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["job_id"] == "w-1" and kwargs["widgets_conn_id"] == "widgets_default"
    assert kwargs["poll_interval"] == 1 and kwargs["max_poll_interval"] == 30 and kwargs["deadline"] is not None
    assert info.value.method_name == "execute_complete"


def test_a_deferrable_operator_does_not_defer_work_already_finished(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "done")).mock(requests_mock, monkeypatch)
    assert operator(deferrable=True).execute(context())["status"] == "done"


def test_execute_complete_turns_events_into_results_or_errors(requests_mock, monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch)
    done = {"state": "succeeded", "summary": {"job_id": "w-1"}, "message": "ok", "item_failures": 0}
    failed = {**done, "state": "failed", "message": "job w-1 is failed"}
    op = operator()
    assert op.execute_complete(context(), {"status": "success", "remote_id": "w-1", "report": done}) == {"job_id": "w-1"}
    with pytest.raises(RemoteWorkFailedError, match="job w-1 is failed"):
        op.execute_complete(context(), {"status": "failed", "remote_id": "w-1", "report": failed})
    with pytest.raises(BatchOpsError, match="no usable event"):
        op.execute_complete(context(), None)
    with pytest.raises(BatchOpsError, match="Waiting for w-1 failed: boom"):
        op.execute_complete(context(), {"status": "error", "remote_id": "w-1", "report": None, "message": "boom"})
    assert api.stopped == []
    with pytest.raises(WaitTimeoutError, match="late; it was stopped"):
        op.execute_complete(context(), {"status": "timeout", "remote_id": "w-1", "report": None, "message": "late"})
    assert api.stopped == ["w-1"]  # a timeout stops the remote work through the operator's cancel()


def test_a_worker_timeout_stops_the_job(requests_mock, monkeypatch, no_sleep):
    api = WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch)
    clock = iter(range(1_000_000, 2_000_000, 100))
    monkeypatch.setattr("time.time", lambda: next(clock))
    with pytest.raises(WaitTimeoutError, match="did not finish before the deadline.*it was stopped"):
        operator(timeout=250).execute(context(FakeStore()))
    assert api.stopped == ["w-1"]


def test_a_timeout_leaves_a_job_that_ended_meanwhile(requests_mock, monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "done")).mock(requests_mock, monkeypatch)
    assert operator().cancel("w-1") == "it had already ended (succeeded)"
    assert api.stopped == []


def test_a_wait_that_fails_without_a_record_does_not_retry_the_start(requests_mock, monkeypatch, no_sleep):
    api = WidgetApi().script("w-1", (500, {"reason": "down"})).mock(requests_mock, monkeypatch)
    with pytest.raises(StartAcceptedError, match="job_id w-1 was started, then the wait failed"):
        operator(durable=False).execute(context())
    assert len(api.started) == 1


def test_a_recorded_start_leaves_the_failed_wait_to_airflow_retries(requests_mock, monkeypatch, no_sleep):
    WidgetApi().script("w-1", (500, {"reason": "down"})).mock(requests_mock, monkeypatch)
    store = FakeStore()
    with pytest.raises(BatchOpsError, match="down") as info:
        operator().execute(context(store))
    assert not isinstance(info.value, StartAcceptedError)
    assert store.data["job_id"] == "w-1"  # kept: the retry resumes it
