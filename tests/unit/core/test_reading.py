"""Readers (core/reading.py): one status read written once, driven sync (requests) or async (aiohttp)."""

from __future__ import annotations

import pytest

from airflow_provider_batchops.core.errors import InputError, MalformedResponseError
from airflow_provider_batchops.core.http import Call, shared_session
from airflow_provider_batchops.core.reading import Reader, one
from airflow_provider_batchops.core.state import BatchState, StatusReport
from tests.support.fake_service import WidgetApi, WidgetHook, job, job_reader, job_report


def status_call(job_id: str) -> Call:
    return Call("GET", "/jobs/{id}", path_params={"id": job_id})


def both_reader(first: str, second: str) -> Reader[list[StatusReport]]:
    """Two steps: one call, then two calls sent together."""
    body = yield status_call(first)
    pair = yield [status_call(second), status_call(first)]
    return [job_report(body), *map(job_report, pair)]


def choking_reader() -> Reader[StatusReport]:
    body = yield status_call("w-1")
    return job_report(body["nested"])  # a body without "nested": the reader fails on it


def refusing_reader() -> Reader[StatusReport]:
    yield status_call("w-1")
    raise InputError("job_id", "refused by the reader")


def test_a_reader_runs_with_blocking_requests(requests_mock, monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "done")).mock(requests_mock, monkeypatch)
    report = WidgetHook().run(job_reader("w-1"))
    assert report.state is BatchState.SUCCEEDED and report.summary["job_id"] == "w-1"
    assert api.reads == {"w-1": 1}


def test_steps_of_several_calls_get_their_bodies_in_order(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "running")).script("w-2", job("w-2", "done")).mock(requests_mock, monkeypatch)
    reports = WidgetHook().run(both_reader("w-1", "w-2"))
    assert [(r.summary["job_id"], r.state) for r in reports] == [
        ("w-1", BatchState.RUNNING), ("w-2", BatchState.SUCCEEDED), ("w-1", BatchState.RUNNING)]


async def test_the_same_reader_runs_on_the_event_loop(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "running")).script("w-2", job("w-2", "done"))
    async with api.serve(monkeypatch), shared_session():
        hook = WidgetHook()
        reports = await hook.arun(both_reader("w-1", "w-2"))
        again = await hook.arun(job_reader("w-2"))  # the client is built once, then reused
    assert [(r.summary["job_id"], r.state) for r in reports] == [
        ("w-1", BatchState.RUNNING), ("w-2", BatchState.SUCCEEDED), ("w-1", BatchState.RUNNING)]
    assert again.state is BatchState.SUCCEEDED and api.reads == {"w-1": 2, "w-2": 2}


def test_a_reader_that_chokes_on_a_body_is_a_malformed_answer_naming_the_call(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch)
    with pytest.raises(MalformedResponseError) as info:
        WidgetHook().run(choking_reader())
    text = str(info.value)
    assert "GET /jobs/w-1" in text and "KeyError" in text and "200" in text


async def test_the_async_driver_words_a_choking_reader_the_same(monkeypatch):
    api = WidgetApi().script("w-1", job("w-1", "running"))
    async with api.serve(monkeypatch), shared_session():
        with pytest.raises(MalformedResponseError, match=r"GET /jobs/w-1.*KeyError"):
            await WidgetHook().arun(choking_reader())


def test_a_body_that_is_not_json_is_malformed(requests_mock, monkeypatch, no_sleep):
    WidgetApi().script("w-1", (200, "<html>")).mock(requests_mock, monkeypatch)
    with pytest.raises(MalformedResponseError, match="GET /jobs/w-1"):
        WidgetHook().run(job_reader("w-1"))


def test_input_errors_of_a_reader_pass_unchanged(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "running")).mock(requests_mock, monkeypatch)
    with pytest.raises(InputError) as info:
        WidgetHook().run(refusing_reader())
    assert info.value.field == "job_id"


def test_one_returns_the_body_as_it_is(requests_mock, monkeypatch):
    WidgetApi().script("w-1", job("w-1", "running", extra=[1, 2])).mock(requests_mock, monkeypatch)
    assert WidgetHook().run(one(status_call("w-1"))) == {"id": "w-1", "status": "running", "extra": [1, 2]}
