"""Resources bulk delete and registry jobs: validation, mapping, hook calls, operator (requests-mock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core.compat import TaskDeferred
from airflow_provider_batchops.core.errors import InputError, RemoteWorkFailedError, StartAcceptedError
from airflow_provider_batchops.core.state import BatchState, ReportSet
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.models.waylay import batch_report, combine_batch_reports, resources_delete_bodies
from airflow_provider_batchops.models.waylay_registry import job_report, jobs_report, timestamp_spec
from airflow_provider_batchops.models.waylay_registry import job_report as registry_job_report
from airflow_provider_batchops.operators.waylay import ResourcesBatchDeleteOperator
from airflow_provider_batchops.sensors.waylay import WaylayRegistryJobSensor, WaylayRegistryJobsSensor
from airflow_provider_batchops.triggers.waylay import WaylayBatchTrigger, WaylayRegistryJobTrigger
from tests.support.helpers import GATEWAY


# -- resources bodies ---------------------------------------------------------------------------------
def test_large_id_lists_are_split_in_order_without_duplicates():
    ids = [f"r{i}" for i in range(2500)] + ["r0", "r1"]
    bodies = resources_delete_bodies(ids, cascade=["alarms", "tasks"], max_batch_size=1000)
    assert [len(b["query"]["ids"]) for b in bodies] == [1000, 1000, 500]
    assert [i for b in bodies for i in b["query"]["ids"]] == [f"r{i}" for i in range(2500)]
    assert all(b["actionParameters"] == {"cascade": ["alarms", "tasks"]} for b in bodies)
    assert all(b["entity"] == "resource" and b["action"] == "delete" for b in bodies)


def test_resource_types_and_templated_lists():
    assert resources_delete_bodies('["t1", "t2"]', entity="resourcetype") == [
        {"entity": "resourcetype", "action": "delete", "query": {"ids": ["t1", "t2"]}}
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ids": ["a"], "entity": "resources"}, "entity"),
        ({"ids": []}, "ids"),
        ({"ids": "a"}, "ids"),
        ({"ids": ["a", None]}, "ids[1]"),
        ({"ids": ["a"], "cascade": ["alarms", "events"]}, "cascade"),
        ({"ids": ["a"], "cascade": []}, "cascade"),
        ({"ids": ["a"], "entity": "resourcetype", "cascade": ["tasks"]}, "cascade"),
        ({"ids": ["a"], "max_batch_size": 0}, "max_batch_size"),
    ],
)
def test_bad_bulk_deletes_name_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        resources_delete_bodies(**kwargs)
    assert err.value.field == field


def _batch(batch_id, success=(), failure=(), finished=True):
    body = {"id": batch_id, "user": "u", "queueTime": "2026-03-10T09:54:44.051Z",
            "operation": {"entity": "resource", "action": "delete", "description": "deleting"}}
    if finished:
        body.update(finishedTime="2026-03-10T09:54:45.000Z", results={
            "success": {i: {"statusCode": 204} for i in success},
            "failure": {i: {"statusCode": 400, "error": "Resource is still parent of 1 resource(s)"} for i in failure}})
    return batch_report("resources", body)


def test_split_batches_combine_into_one_summary():
    combined = combine_batch_reports("resources", [_batch("b1", ["a", "b"]), _batch("b2", ["c"], ["d"])])
    assert combined.state is BatchState.PARTIALLY_FAILED
    assert combined.summary["batch_ids"] == ["b1", "b2"] and combined.summary["batches"] == 2
    assert combined.summary["succeeded"] == 3 and combined.summary["failed"] == 1
    assert "sent as 2 batches" in combined.summary["split_note"]
    assert combined.item_failures == 1
    running = combine_batch_reports("resources", [_batch("b1", ["a"]), _batch("b2", finished=False)])
    assert running.state is BatchState.RUNNING


def test_report_set_reads_only_unfinished_ids():
    reports = ReportSet(["b1", "b2"], lambda rs: combine_batch_reports("resources", rs))
    reports.update({"b1": _batch("b1", ["a"]), "b2": _batch("b2", finished=False)})
    assert reports.pending() == ["b2"]


# -- registry models ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(hours=2), "7200s"),
        (datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc), "2026-03-10T09:00:00Z"),
        ("PT2H", "PT2H"), ("3d", "3d"), ("90m", "90m"), ("2026-03-10", "2026-03-10"),
        ("2026-03-10T09:00:00Z", "2026-03-10T09:00:00Z"), (None, None),
    ],
)
def test_timestamp_specs(value, expected):
    assert timestamp_spec(value, "created_after") == expected


@pytest.mark.parametrize("value", ["yesterday", timedelta(0), "3 days"])
def test_bad_timestamp_specs_name_the_field(value):
    with pytest.raises(InputError, match="created_after"):
        timestamp_spec(value, "created_after")


def _job(state, reason=None, result=None):
    inner = {"id": "6ccc$If", "name": "build", "progress": 0, "attemptsMade": 1}
    if reason:
        inner["failedReason"] = reason
    job = {"type": "build", "state": state, "operation": "create", "createdBy": "u", "createdAt": "2026-03-10T09:00:00Z",
           "request": {}, "job": inner, "function": {"functionType": "plugs", "name": "myPlug", "version": "1.0.1"}}
    if result is not None:
        job["result"] = result
    return {"job": job, "_links": {}}


@pytest.mark.parametrize(
    ("state", "mapped"),
    [("completed", BatchState.SUCCEEDED), ("failed", BatchState.FAILED), ("active", BatchState.RUNNING),
     ("waiting", BatchState.QUEUED), ("delayed", BatchState.QUEUED), ("waiting-children", BatchState.RUNNING),
     ("prioritized", BatchState.QUEUED), ("unknown", BatchState.UNKNOWN), ("something-new", BatchState.UNKNOWN)],
)
def test_job_states_map_onto_batch_states(state, mapped):
    report = job_report(_job(state))
    assert report.state is mapped
    assert report.state.is_terminal == (state in ("completed", "failed"))


def test_a_failed_job_reports_its_reason_and_a_completed_one_its_result():
    failed = job_report(_job("failed", reason="function not healthy after 3 attempts"))
    assert "function not healthy after 3 attempts" in failed.message
    assert failed.summary["failed_reason"] == "function not healthy after 3 attempts"
    assert job_report(_job("completed", result={"digest": "sha256:1"})).summary["result"] == {"digest": "sha256:1"}


def test_jobs_report_waits_for_all_and_counts_failed_jobs():
    jobs = [{"type": "build", "id": "1", "state": "completed", "function": {"name": "a"}},
            {"type": "build", "id": "2", "state": "failed", "function": {"name": "a"}},
            {"type": "build", "id": "3", "state": "active", "function": {"name": "b"}}]
    assert jobs_report(jobs, None, 100).state is BatchState.RUNNING
    only_a = jobs_report(jobs, "a", 100)
    assert only_a.state is BatchState.PARTIALLY_FAILED and only_a.item_failures == 1
    assert only_a.summary["states"] == {"completed": 1, "failed": 1}
    assert jobs_report([], None, 100).state is BatchState.SUCCEEDED


# -- hook calls ---------------------------------------------------------------------------------------
def test_get_job_percent_encodes_the_id(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/registry/v2/jobs/build/6ccc%24If%2Fx", json=_job("active"))
    assert WaylayHook().get_job_report("build", "6ccc$If/x").state is BatchState.RUNNING
    assert requests_mock.last_request.path == "/registry/v2/jobs/build/6ccc%24if%2fx"


def test_list_jobs_sends_every_filter(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/registry/v2/jobs/", json={"limit": 50, "jobs": []})
    WaylayHook().list_jobs(job_type=["build", "deploy"], states=["active", "waiting"], function_type="plugs",
                           created_after=timedelta(hours=1), created_before="2026-03-10", limit=50)
    assert requests_mock.last_request.qs == {
        "type": ["build", "deploy"], "state": ["active", "waiting"], "functiontype": ["plugs"],
        "createdafter": ["3600s"], "createdbefore": ["2026-03-10"], "limit": ["50"]}


@pytest.mark.parametrize(
    ("filters", "field"),
    [({"job_type": "cleanup"}, "job_type"), ({"states": ["done"]}, "states"),
     ({"function_type": "lambda"}, "function_type"), ({"limit": -1}, "limit"), ({"created_after": "soon"}, "created_after")],
)
def test_bad_list_filters_send_nothing(waylay_conn, requests_mock, filters, field):
    with pytest.raises(InputError) as err:
        WaylayHook().list_jobs(**filters)
    assert err.value.field == field
    assert requests_mock.call_count == 0


# -- operator and sensors -----------------------------------------------------------------------------
def _accepted(batch_id):
    return {"status_code": 202, "json": {"statusCode": 202, "uri": f"/resources/v1/batch/{batch_id}", "entity": {
        "id": batch_id, "user": "u", "queueTime": "2026-03-10T09:54:44.051Z",
        "operation": {"entity": "resource", "action": "delete", "description": "deleting"}}}}


def test_bulk_delete_of_2500_ids_starts_3_batches_and_defers_on_all(waylay_conn, token_endpoint, requests_mock):
    requests_mock.post(f"{GATEWAY}/resources/v1/batch", [_accepted("b1"), _accepted("b2"), _accepted("b3")])
    for batch_id in ("b1", "b2", "b3"):
        body = {"id": batch_id, "user": "u", "queueTime": "2026-03-10T09:54:44.051Z",
                "operation": {"entity": "resource", "action": "delete", "description": "deleting"}}
        requests_mock.get(f"{GATEWAY}/resources/v1/batch/{batch_id}", json=body)
    ti = MagicMock()
    ti.start_date = None
    op = ResourcesBatchDeleteOperator(task_id="d", ids=[f"r{i}" for i in range(2500)], deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})
    # Each accepted id is recorded before the next start is sent; the last record has all three.
    assert [c.kwargs["value"] for c in ti.xcom_push.call_args_list] == [["b1"], ["b1", "b2"], ["b1", "b2", "b3"]]
    trigger = deferred.value.trigger
    assert isinstance(trigger, WaylayBatchTrigger) and trigger.serialize()[1]["batch_ids"] == ["b1", "b2", "b3"]
    posts = [r for r in requests_mock.request_history if r.method == "POST" and r.path == "/resources/v1/batch"]
    assert [len(r.json()["query"]["ids"]) for r in posts] == [1000, 1000, 500]


def test_a_failed_second_start_names_the_batches_already_started(waylay_conn, token_endpoint, requests_mock, no_sleep):
    requests_mock.post(f"{GATEWAY}/resources/v1/batch",
                       [_accepted("b1"), {"status_code": 400, "json": {"statusCode": 400, "error": "bad"}}])
    op = ResourcesBatchDeleteOperator(task_id="d", ids=[f"r{i}" for i in range(3)], max_batch_size=2)
    with pytest.raises(StartAcceptedError, match=r"1 of 2 starts were accepted \(batch_ids: \['b1'\]\)"):
        op.execute({"ti": MagicMock(start_date=None)})


def test_parent_failures_follow_the_item_policy(waylay_conn, token_endpoint, requests_mock):
    requests_mock.post(f"{GATEWAY}/resources/v1/batch", [_accepted("b1")])
    finished = {"id": "b1", "user": "u", "queueTime": "t", "finishedTime": "t2",
                "operation": {"entity": "resource", "action": "delete", "description": "d"},
                "results": {"success": {"a": {"statusCode": 204}},
                            "failure": {"p": {"statusCode": 400, "error": "Resource is still parent of 1 resource(s)"}}}}
    requests_mock.get(f"{GATEWAY}/resources/v1/batch/b1", json=finished)
    with pytest.raises(RemoteWorkFailedError, match="still parent"):
        ResourcesBatchDeleteOperator(task_id="d", ids=["a", "p"]).execute({"ti": MagicMock(start_date=None)})
    summary = ResourcesBatchDeleteOperator(task_id="d", ids=["a", "p"], on_item_failure="warn").execute(
        {"ti": MagicMock(start_date=None)})
    assert summary["failed"] == 1 and summary["batch_id"] == "b1"


def test_registry_job_sensor_defers_with_the_event_trigger(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/registry/v2/jobs/verify/v%241", json=_job("waiting-children"))
    sensor = WaylayRegistryJobSensor(task_id="s", job_type="verify", job_id="v$1", children=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": MagicMock()})
    trigger = deferred.value.trigger
    assert isinstance(trigger, WaylayRegistryJobTrigger)
    kwargs = trigger.serialize()[1]
    assert {k: kwargs[k] for k in ("job_type", "job_id", "children", "use_events")} == {
        "job_type": "verify", "job_id": "v$1", "children": True, "use_events": True}


def test_registry_job_sensor_fails_with_the_reason(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/registry/v2/jobs/build/b1", json=_job("failed", reason="npm install failed"))
    sensor = WaylayRegistryJobSensor(task_id="s", job_type="build", job_id="b1")
    with pytest.raises(RemoteWorkFailedError, match="npm install failed"):
        sensor.poke({"ti": MagicMock()})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"job_type": "compile", "job_id": "x"}, "job_type"), ({"job_type": "build", "job_id": ""}, "job_id")],
)
def test_registry_job_sensor_bad_input(waylay_conn, requests_mock, kwargs, field):
    with pytest.raises(InputError) as err:
        WaylayRegistryJobSensor(task_id="s", deferrable=True, **kwargs).execute({"ti": MagicMock()})
    assert err.value.field == field
    assert requests_mock.call_count == 0


def test_registry_jobs_sensor_warns_on_failed_jobs_when_asked(waylay_conn, token_endpoint, requests_mock):
    requests_mock.get(f"{GATEWAY}/registry/v2/jobs/", json={"limit": 1000, "jobs": [
        {"type": "build", "id": "1", "state": "completed", "function": {"name": "p"}},
        {"type": "build", "id": "2", "state": "failed", "function": {"name": "p"}}]})
    strict = WaylayRegistryJobsSensor(task_id="s", job_type="build", function_name="p", created_after="PT2H")
    with pytest.raises(RemoteWorkFailedError, match="build/2"):
        strict.poke({"ti": MagicMock()})
    lenient = WaylayRegistryJobsSensor(task_id="s", job_type="build", function_name="p", on_item_failure="warn")
    assert lenient.poke({"ti": MagicMock()}).xcom_value["jobs"] == 2
    assert requests_mock.last_request.qs["type"] == ["build"]


# -- registry states the provider does not know -------------------------------------------------------
@pytest.mark.parametrize(
    ("job", "unknown"),
    [({"state": "completed"}, None), ({"state": "Completed"}, None), ({"state": "unknown"}, "unknown"),
     ({}, "<missing>"), ({"state": "paused"}, "paused")],
)
def test_registry_job_states(job, unknown):
    report = registry_job_report({"job": {"type": "build", "job": {"id": "j"}, **job}})
    assert report.unknown_state == unknown
    assert report.state.is_terminal is (unknown is None)


def test_a_listed_job_in_an_unknown_state_marks_the_list_report():
    report = jobs_report([{"type": "build", "id": "a", "state": "completed"},
                          {"type": "build", "id": "b", "state": "mystery"}], None, 100)
    assert report.state is BatchState.RUNNING and report.unknown_state == "mystery"
