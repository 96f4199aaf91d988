"""Mammoth Analytics: hook headers and calls, list paging, request bodies, job mapping, operators."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest.mock import MagicMock
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import (
    ApiError,
    BatchOpsError,
    ConnectionConfigError,
    InputError,
    RemoteWorkFailedError,
)
from airflow_provider_batchops.core.state import BatchState
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.models.mammoth import (
    ColumnNameMapping,
    create_batch_body,
    id_chunks,
    job_report,
    job_reports,
    jobs_report,
    list_params,
    patch_body,
)
from airflow_provider_batchops.operators.mammoth import (
    MammothBatchCleanupOperator,
    MammothCreateBatchOperator,
    MammothDeleteBatchesOperator,
    MammothUpdateBatchesOperator,
)
from airflow_provider_batchops.sensors.mammoth import MammothJobSensor
from airflow_provider_batchops.triggers.mammoth import MammothJobTrigger
from tests.support.conformance import (
    MAMMOTH,
    MAMMOTH_BATCHES,
    NO_MAMMOTH_MODEL,
    validate_request_body,
    validate_response,
)
from tests.support.helpers import AIRFLOW_VERSION, set_connection
from tests.support.openapi_check import requires_spec

API = "https://mammoth.test/api/v2"
DS = f"{API}/workspaces/4/projects/1020/datasets/3453/batches"
KEY, SECRET = "mammoth-key", "mammoth-secret-value"
WHERE = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}


@pytest.fixture
def mm_conn(monkeypatch):
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=API, login=KEY, password=SECRET,
                   extra={"workspace_id": 4})


def ctx():
    ti = MagicMock(start_date=None, task_id="t")
    return {"ti": ti}


def job(job_id, status, response=None):
    return {"id": job_id, "status": status, "response": response or {}, "path": "/x", "operation": "op",
            "created_at": "2026-01-01T00:00:00", "last_updated_at": "2026-01-01T00:00:01"}


def query(request):
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query, keep_blank_values=True).items()}


# -- hook ---------------------------------------------------------------------------------------------
def test_headers_and_default_host(monkeypatch, requests_mock):
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", login=KEY, password=SECRET)
    requests_mock.get("https://app.mammoth.io/api/v2/jobs/7", json={"job": job(7, "success")})
    assert MammothHook().get_job(7)["status"] == "success"
    headers = requests_mock.last_request.headers
    assert (headers["X-API-KEY"], headers["X-API-SECRET"]) == (KEY, SECRET)
    assert "X-WORKSPACE-ID" not in headers


def test_workspace_header_from_the_extra(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs/7", json={"job": job(7, "processing")})
    MammothHook().get_job(7)
    assert requests_mock.last_request.headers["X-WORKSPACE-ID"] == "4"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"password": SECRET}, "login"), ({"login": KEY}, "password"),
     ({"login": KEY, "password": SECRET, "extra": {"workspace_id": "four"}}, "extra.workspace_id"),
     ({"login": KEY, "password": SECRET, "extra": "not json"}, "extra")],
)
def test_bad_connections_name_the_field_and_send_nothing(monkeypatch, requests_mock, fields, field):
    if fields.get("extra") == "not json" and AIRFLOW_VERSION < (3, 2):
        pytest.skip("Airflow 3.1 itself refuses a connection whose extra is not an object")
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=API, **fields)
    with pytest.raises(ConnectionConfigError) as err:
        MammothHook().get_job(1)
    assert field in str(err.value)
    assert SECRET not in str(err.value)
    assert requests_mock.call_count == 0


def test_iter_batches_follows_pages_until_a_short_one(mm_conn, requests_mock):
    pages = [{"batches": [{"id": i} for i in range(n * 100, n * 100 + size)], "next": "api/v2/x" if size == 100 else "",
              "offset": n * 100, "limit": 100} for n, size in enumerate((100, 100, 7))]
    requests_mock.get(DS, [{"json": p} for p in pages])
    ids = [b["id"] for b in MammothHook().iter_batches(4, 1020, 3453, states=["active"], fields="__min")]
    assert ids == list(range(207))
    offsets = [query(r)["offset"] for r in requests_mock.request_history]
    assert offsets == ["0", "100", "200"]
    assert query(requests_mock.last_request)["status"] == "active"


def test_an_empty_next_ends_the_listing(mm_conn, requests_mock):
    requests_mock.get(DS, json={"batches": [{"id": 1}] * 2, "next": "", "offset": 0, "limit": 2})
    assert len(MammothHook().list_batches(4, 1020, 3453, page_size=2)) == 2
    assert requests_mock.call_count == 1


def test_list_params_use_the_api_syntax():
    params = list_params(fields=["id", "name"], ids=[3, 1, 3], created_from=datetime(2024, 2, 1, tzinfo=timezone.utc),
                         created_to="2024-02-29T23:59:59Z", states=["active", "suspended"], row_count=[10, 25],
                         sort=[("created_at", "desc"), "id"])
    assert params == {
        "fields": "id,name", "id": "3,1",
        "created_at": "(from:'2024-02-01T00:00:00Z',to:'2024-02-29T23:59:59Z')",
        "status": "active,suspended", "row_count": "10,25", "sort": "(created_at:desc),(id:asc)",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"states": ["gone"]}, "states"), ({"created_to": "yesterday"}, "created_to"),
     ({"sort": [("color", "asc")]}, "sort[0]"), ({"sort": [("id", "up")]}, "sort[0]"),
     ({"ids": []}, "ids"), ({"ids": ["a"]}, "ids[0]"), ({"row_count": [-1]}, "row_count")],
)
def test_bad_list_filters_name_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        list_params(**kwargs)
    assert err.value.field == field


def test_delete_many_splits_only_when_the_url_would_be_too_long(mm_conn, requests_mock):
    requests_mock.delete(DS, [{"json": {"status_code": 202, "job_id": n}, "status_code": 202} for n in (1, 2, 3)])
    ids = list(range(100_000, 101_500))  # 1,500 six-digit ids: 10,500 characters
    acks = MammothHook().delete_batches(4, 1020, 3453, ids)
    assert [a["job_id"] for a in acks] == [1, 2, 3]
    sent = [int(i) for r in requests_mock.request_history for i in query(r)["ids"].split(",")]
    assert sent == ids
    assert all(len(query(r)["ids"]) <= 4000 for r in requests_mock.request_history)
    assert id_chunks([1, 2, 3]) == [[1, 2, 3]]


def test_a_delete_whose_answer_is_lost_is_sent_again(mm_conn, requests_mock, no_sleep):
    """Deleting is idempotent: a 503 is retried with the retry rule's backoff, bounded."""
    requests_mock.delete(DS, status_code=503, json={"status_code": 503, "detail": "busy"})
    with pytest.raises(ApiError):
        MammothHook().delete_batches(4, 1020, 3453, [1, 2])
    assert requests_mock.call_count == 5 and len(no_sleep) == 4


def test_the_400_detail_appears_in_the_error(mm_conn, requests_mock):
    requests_mock.post(DS, status_code=400, json={"status_code": 400, "detail": "source_id: no such dataset",
                                                  "extra": {}})
    with pytest.raises(ApiError) as err:
        MammothHook().create_batch(4, 1020, 3453, {"source_id": 1})
    assert "no such dataset" in str(err.value) and err.value.status == 400


def test_get_jobs_reads_a_hundred_per_request(mm_conn, requests_mock):
    def listing(request, context):
        return {"jobs": [job(int(i), "processing") for i in query(request)["job_ids"].split(",")]}

    requests_mock.get(f"{API}/jobs", json=listing)
    assert len(MammothHook().get_jobs(list(range(1, 251)))) == 250
    assert [len(query(r)["job_ids"].split(",")) for r in requests_mock.request_history] == [100, 100, 50]


def test_a_job_left_out_of_the_list_is_read_alone_and_its_404_fails(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(1, "success")]})
    requests_mock.get(f"{API}/jobs/2", status_code=404, json={"status_code": 404, "detail": "Job 2 not found"})
    with pytest.raises(ApiError, match="Job 2 not found"):
        MammothHook().get_jobs([1, 2])


def test_get_one_batch_and_delete_one(mm_conn, requests_mock):
    requests_mock.get(f"{DS}/17", json={"batch": {"id": 17, "state": "active"}})
    requests_mock.delete(f"{DS}/17", status_code=202, json={"status_code": 202, "job_id": 9})
    hook = MammothHook()
    assert hook.get_batch(4, 1020, 3453, 17, fields="__full")["id"] == 17
    assert query(requests_mock.request_history[0])["fields"] == "__full"
    assert hook.delete_batch(4, 1020, 3453, 17)["job_id"] == 9


def test_test_connection(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs", json={"jobs": []})
    assert MammothHook().test_connection()[0] is True
    requests_mock.get(f"{API}/jobs", status_code=401, json={"detail": "bad key"})
    ok, message = MammothHook().test_connection()
    assert not ok and "401" in message and SECRET not in message


# -- bodies -------------------------------------------------------------------------------------------
def test_create_body_by_name_and_by_id():
    by_name = create_batch_body(3460, [ColumnNameMapping(source_c_name="a", destination_c_name="b",
                                                         expected_destination_c_type="TEXT"),
                                       {"source_c_name": "n", "destination_c_name": "m",
                                        "expected_destination_c_type": "numeric"}])
    assert by_name["mapping"][1]["expected_destination_c_type"] == "NUMERIC"
    by_id = create_batch_body("3460", [{"source_c_id": "c1", "destination_c_id": "c2",
                                        "expected_destination_c_type": "DATE"}], validate_only=True,
                              new_ds_details={"name": "merged"})
    assert by_id == {"source_id": 3460, "validate_only": True, "delete_source_ds": False,
                     "new_ds_details": {"name": "merged"},
                     "mapping": [{"source_c_id": "c1", "destination_c_id": "c2",
                                  "expected_destination_c_type": "DATE"}]}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"mapping": []}, "mapping"),
     ({"mapping": [{"source_c_name": "a", "destination_c_name": "b", "expected_destination_c_type": "BLOB"}]},
      "mapping[0].expected_destination_c_type"),
     ({"mapping": [{"source_c_id": "a", "destination_c_id": "b", "expected_destination_c_type": "TEXT"},
                   {"source_c_name": "a", "destination_c_name": "b", "expected_destination_c_type": "TEXT"}]},
      "mapping[1]"),
     ({"source_id": -1}, "source_id"), ({"validate_only": "yes"}, "validate_only"),
     ({"new_ds_details": {"title": "x"}}, "new_ds_details")],
)
def test_bad_create_input_names_the_field(kwargs, field):
    args = {"source_id": 1, "mapping": [{"source_c_name": "a", "destination_c_name": "b",
                                         "expected_destination_c_type": "TEXT"}], **kwargs}
    with pytest.raises(InputError) as err:
        create_batch_body(**args)
    assert err.value.field.startswith(field)


def test_patch_body():
    assert patch_body([17], [12, 13]) == {"patch": {"op": "replace", "path": "batches",
                                                    "value": {"suspend": [17], "restore": [12, 13]}}}
    with pytest.raises(InputError, match="suspend"):
        patch_body()
    with pytest.raises(InputError, match="restore"):
        patch_body([1], [1])


# -- job mapping -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statuses", "state"),
    [(["processing"], BatchState.RUNNING), (["success"], BatchState.SUCCEEDED), (["failure"], BatchState.FAILED),
     (["error"], BatchState.FAILED), (["success", "failure"], BatchState.PARTIALLY_FAILED),
     (["success", "processing"], BatchState.RUNNING), (["weird"], BatchState.RUNNING)],
)
def test_jobs_report_states(statuses, state):
    jobs = [job(i + 1, s) for i, s in enumerate(statuses)]
    assert jobs_report(jobs, [j["id"] for j in jobs]).state is state


@pytest.mark.parametrize(
    ("response", "reason"),
    [({"error": "Column type mismatch"}, "Column type mismatch"),
     ({"response": {"detail": "Batch 5 is locked"}}, "Batch 5 is locked"),
     ({"response": {"error": "boom"}}, "boom")],
)
def test_failure_reason_from_the_job_response(response, reason):
    report = jobs_report([job(5, "failure", response)], [5])
    assert reason in report.message and report.summary["jobs"][0]["reason"] == reason


def test_a_jobset_rereads_only_unfinished_and_unknown_jobs():
    jobs = job_reports([1, 2, 3])
    jobs.update({1: job_report(job(1, "success")), 2: job_report(job(2, "weird"))})
    assert jobs.pending() == [2, 3]


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


def test_cleanup_resumes_with_the_selection_from_xcom(mm_conn):
    context = ctx()
    context["ti"].xcom_pull.return_value = [{"id": 1, "name": "o1", "state": "active", "created_at": OLD}]
    event = {"status": "success", "remote_id": "70", "report": jobs_report([job(70, "success")], [70]).to_json()}
    summary = MammothBatchCleanupOperator(task_id="t", **WHERE).execute_complete(context, event)
    assert summary["deleted"][0]["id"] == 1 and summary["job_ids"] == [70]


def test_sensor_pokes_and_returns_the_jobs(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(3, "success")]})
    sensor = MammothJobSensor(task_id="s", job_id="3")
    result = sensor.poke(ctx())
    assert result.is_done and result.xcom_value["jobs"][0]["status"] == "success"


# -- conformance of the bodies sent and the answers read ---------------------------------------------
@requires_spec(MAMMOTH, why=NO_MAMMOTH_MODEL)
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
