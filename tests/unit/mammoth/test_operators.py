"""Mammoth operators: create, update, delete and clean-up flows, and the conformance of what they send."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import (
    BatchOpsError,
    InputError,
    RemoteWorkFailedError,
)
from airflow_provider_batchops.models.mammoth import (
    jobs_report,
)
from airflow_provider_batchops.operators.mammoth import (
    MammothBatchCleanupOperator,
    MammothCreateBatchOperator,
    MammothDeleteBatchesOperator,
    MammothUpdateBatchesOperator,
)
from airflow_provider_batchops.triggers.mammoth import MammothJobTrigger
from tests.support.conformance import (
    MAMMOTH,
    MAMMOTH_BATCHES,
    validate_request_body,
    validate_response,
)
from tests.unit.mammoth.common import API, DS, SECRET, WHERE, ctx, job, query


# -- operators ----------------------------------------------------------------------------------------
def test_create_waits_for_the_job_and_pushes_its_id(mm_conn, requests_mock, no_sleep):
    requests_mock.post(DS, json={"status_code": 200, "job_id": 5821, "failure_reason": None})
    requests_mock.get(f"{API}/jobs", [{"json": {"jobs": [job(5821, "processing")]}},
                                      {"json": {"jobs": [job(5821, "success", {"batch_id": 99})]}}])
    context = ctx()
    summary = MammothCreateBatchOperator(
        task_id="t", **WHERE, source_id=3460, poll_interval=1,
        mapping=[{"source_c_name": "a", "destination_c_name": "a", "expected_destination_c_type": "TEXT"}],
    ).execute(context)
    context["ti"].xcom_push.assert_any_call(key="job_ids", value=[5821])
    assert summary["state"] == "succeeded" and summary["jobs"][0]["response"] == {"batch_id": 99}
    assert summary["operation"] == "create" and summary["dataset_id"] == 3453


def test_an_ack_without_job_is_the_result(mm_conn, requests_mock):
    requests_mock.post(DS, json={"status_code": 200, "job_id": None, "failure_reason": None})
    summary = MammothCreateBatchOperator(
        task_id="t", **WHERE, source_id=3460, validate_only=True,
        mapping=[{"source_c_name": "a", "destination_c_name": "a", "expected_destination_c_type": "TEXT"}],
    ).execute(ctx())
    assert summary["result"]["job_id"] is None and summary["validate_only"] is True
    assert requests_mock.call_count == 1


def test_a_failed_job_fails_the_task_with_its_reason(mm_conn, requests_mock, no_sleep):
    requests_mock.patch(DS, status_code=202, json={"status_code": 202, "job_id": 8})
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(8, "error", {"response": {"detail": "Batch 17 is locked"}})]})
    with pytest.raises(RemoteWorkFailedError, match="Batch 17 is locked"):
        MammothUpdateBatchesOperator(task_id="t", **WHERE, suspend=[17]).execute(ctx())
    assert requests_mock.request_history[0].json()["patch"]["value"] == {"suspend": [17], "restore": None}


def test_delete_defers_with_every_job(mm_conn, requests_mock):
    requests_mock.delete(DS, [{"json": {"job_id": n}, "status_code": 202} for n in (1, 2)])
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(1, "processing"), job(2, "processing")]})
    with pytest.raises(TaskDeferred) as deferred:
        MammothDeleteBatchesOperator(task_id="t", **WHERE, batch_ids=list(range(100_000, 101_000)),
                                     deferrable=True).execute(ctx())
    trigger = deferred.value.trigger
    assert isinstance(trigger, MammothJobTrigger) and trigger.serialize()[1]["job_ids"] == [1, 2]
    assert SECRET not in str(trigger.serialize())


@pytest.mark.parametrize(
    ("operator", "kwargs", "field"),
    [(MammothDeleteBatchesOperator, {"batch_ids": []}, "batch_ids"),
     (MammothDeleteBatchesOperator, {"batch_ids": ["../x"]}, "batch_ids[0]"),
     (MammothDeleteBatchesOperator, {"batch_ids": [1], "workspace_id": 0}, "workspace_id"),
     (MammothDeleteBatchesOperator, {"batch_ids": [1], "dataset_id": "abc"}, "dataset_id"),
     (MammothUpdateBatchesOperator, {}, "suspend"),
     (MammothBatchCleanupOperator, {"states": ["deleted"]}, "states"),
     (MammothBatchCleanupOperator, {"older_than": timedelta(days=-1)}, "older_than"),
     (MammothBatchCleanupOperator, {"older_than": 3, "created_before": "2024-01-01"}, "older_than"),
     (MammothBatchCleanupOperator, {"keep_latest": -2}, "keep_latest"),
     (MammothBatchCleanupOperator, {"max_delete": "lots"}, "max_delete"),
     (MammothBatchCleanupOperator, {"dry_run": "no"}, "dry_run"),
     (MammothBatchCleanupOperator, {"poll_interval": 0}, "poll_interval")],
)
def test_bad_operator_input_names_the_field_and_sends_nothing(mm_conn, requests_mock, operator, kwargs, field):
    args = {**WHERE, **kwargs}
    with pytest.raises(InputError) as err:
        operator(task_id="t", **args).execute(ctx())
    assert err.value.field == field
    assert requests_mock.call_count == 0


def batches(*rows):
    return {"batches": [dict(zip(("id", "name", "state", "created_at"), r, strict=True)) for r in rows],
            "next": "", "offset": 0, "limit": 100}


OLD, NEW = "2020-01-01T00:00:00Z", "2999-01-01T00:00:00Z"


def test_cleanup_keeps_the_newest_skips_deleting_and_deletes_the_rest(mm_conn, requests_mock, no_sleep):
    def listing(request, context):
        if query(request).get("sort") == "(created_at:desc),(id:desc)":
            return batches((9, "n9", "active", NEW), (3, "o3", "active", OLD))
        return batches((1, "o1", "active", OLD), (2, "o2", "deleting", OLD), (3, "o3", "active", OLD),
                       (4, "o4", "suspended", OLD))

    requests_mock.get(DS, json=listing)
    requests_mock.delete(DS, status_code=202, json={"job_id": 70})
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(70, "success")]})
    summary = MammothBatchCleanupOperator(task_id="t", **WHERE, keep_latest=2).execute(ctx())
    delete = next(r for r in requests_mock.request_history if r.method == "DELETE")
    assert query(delete)["ids"] == "1,4"
    assert [b["id"] for b in summary["deleted"]] == [1, 4] and summary["deleted_count"] == 2
    listed = [query(r) for r in requests_mock.request_history if r.method == "GET" and "created_at" in query(r)]
    assert listed[0]["created_at"].startswith("(from:'1970-01-01T00:00:00Z',to:'")


def test_cleanup_dry_run_deletes_nothing(mm_conn, requests_mock):
    requests_mock.get(DS, json=batches((1, "o1", "active", OLD)))
    summary = MammothBatchCleanupOperator(task_id="t", **WHERE, dry_run=True).execute(ctx())
    assert summary["would_delete"][0]["id"] == 1 and summary["dry_run"] is True
    assert all(r.method == "GET" for r in requests_mock.request_history)


def test_cleanup_refuses_more_than_max_delete(mm_conn, requests_mock):
    requests_mock.get(DS, json=batches(*[(i, f"b{i}", "active", OLD) for i in range(1, 6)]))
    with pytest.raises(BatchOpsError, match="5 batches match, more than max_delete=4; nothing was deleted"):
        MammothBatchCleanupOperator(task_id="t", **WHERE, max_delete=4).execute(ctx())
    assert all(r.method == "GET" for r in requests_mock.request_history)


def test_cleanup_retried_after_finishing_neither_lists_nor_deletes_again(mm_conn, requests_mock, no_sleep):
    """A try lost after its delete job succeeded (before Airflow stored the success) is retried in the
    same series of tries: the retry reports the first try's selection and job, and sends nothing."""
    from tests.support.durable_store import FakeStore

    store = FakeStore()
    requests_mock.get(DS, json=batches((1, "o1", "active", OLD)))
    requests_mock.delete(DS, status_code=202, json={"job_id": 70})
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(70, "success")]})

    def run(max_tries: int) -> dict:
        context = {**ctx(), "task_state_store": store}
        context["ti"].max_tries = max_tries
        return MammothBatchCleanupOperator(task_id="t", **WHERE).execute(context)

    first = run(0)
    requests_mock.get(DS, json=batches((5, "o5", "active", OLD)))  # another old batch since
    retry = run(0)
    assert retry["deleted"] == first["deleted"] and retry["job_ids"] == [70]
    deletes = [r for r in requests_mock.request_history if r.method == "DELETE"]
    assert len(deletes) == 1
    cleared = run(1)  # a clear starts a new series: list and delete afresh
    assert [b["id"] for b in cleared["deleted"]] == [5]
    assert [query(r)["ids"] for r in requests_mock.request_history if r.method == "DELETE"] == ["1", "5"]


def test_cleanup_resumes_with_the_selection_from_xcom(mm_conn):
    context = ctx()
    context["ti"].xcom_pull.return_value = [{"id": 1, "name": "o1", "state": "active", "created_at": OLD}]
    event = {"status": "success", "remote_id": "70", "report": jobs_report([job(70, "success")], [70]).to_json()}
    summary = MammothBatchCleanupOperator(task_id="t", **WHERE).execute_complete(context, event)
    assert summary["deleted"][0]["id"] == 1 and summary["job_ids"] == [70]


# -- conformance of the bodies sent and the answers read ---------------------------------------------
@pytest.mark.parametrize(
    ("operator", "kwargs"),
    [
        (MammothCreateBatchOperator, {"source_id": 3460, "mapping": [
            {"source_c_name": "a", "destination_c_name": "a", "expected_destination_c_type": "TEXT"}]}),
        (MammothCreateBatchOperator, {"source_id": 3460, "validate_only": True, "delete_source_ds": True,
                                      "new_ds_details": {"name": "combined"}, "mapping": [
            {"source_c_id": "c_a", "destination_c_id": "c_b", "expected_destination_c_type": "NUMERIC"}]}),
        (MammothUpdateBatchesOperator, {"suspend": [17]}),
        (MammothUpdateBatchesOperator, {"suspend": [17, 18], "restore": [12]}),
        (MammothUpdateBatchesOperator, {"restore": [12]}),
    ],
)
def test_create_and_patch_bodies_conform(mm_conn, requests_mock, operator, kwargs):
    ack = {"status_code": 202, "job_id": None, "failure_reason": None}
    requests_mock.post(DS, json=ack)
    requests_mock.patch(DS, status_code=202, json=ack)
    operator(task_id="t", **WHERE, **kwargs).execute(ctx())
    sent = requests_mock.request_history[0]
    validate_request_body(MAMMOTH, sent.method, MAMMOTH_BATCHES, sent.json())


def test_the_job_bodies_read_in_these_tests_conform():
    ack = {"status_code": 200, "job_id": 5821, "failure_reason": None}
    validate_response(MAMMOTH, "POST", MAMMOTH_BATCHES, 200, ack)
    for status in ("processing", "success", "failure", "error"):
        validate_response(MAMMOTH, "GET", "/jobs/{job_id}", 200, {"job": job(1, status)})
    validate_response(MAMMOTH, "GET", "/jobs", 200, {"jobs": [job(1, "processing"), job(2, "success", {"a": 1})]})
