"""Mammoth models: list filters, request bodies, the job status mapping."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_batchops.core.errors import (
    InputError,
)
from airflow_provider_batchops.core.state import BatchState
from airflow_provider_batchops.models.mammoth import (
    ColumnNameMapping,
    create_batch_body,
    job_report,
    job_reports,
    jobs_report,
    list_params,
    patch_body,
)
from tests.unit.mammoth.common import job


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


# -- states the provider does not know ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "state", "unknown"),
    [
        ("success", BatchState.SUCCEEDED, None),
        ("SUCCESS", BatchState.SUCCEEDED, None),
        ("Failure", BatchState.FAILED, None),
        ("ERROR", BatchState.FAILED, None),
        ("processing", BatchState.RUNNING, None),
        ("queued", BatchState.UNKNOWN, "queued"),
        (None, BatchState.UNKNOWN, "<missing>"),
    ],
)
def test_mammoth_job_statuses(status, state, unknown):
    report = job_report({"id": 1, "status": status, "response": {}})
    assert (report.state, report.unknown_state) == (state, unknown)
