"""One parser per kind of value (issue 12, class 5), value ranges (class 4) and small summaries (class 6)."""

from __future__ import annotations

import json
from unittest.mock import MagicMock

import pytest
import requests

from airflow_provider_batchops.core.errors import InputError, TransientApiError
from airflow_provider_batchops.core.state import MAX_LISTED
from airflow_provider_batchops.core.validation import id_list
from airflow_provider_batchops.models.mammoth import check_mapping
from airflow_provider_batchops.models.waylay import batch_report, combine_batch_reports
from airflow_provider_batchops.operators.mammoth import MammothBatchCleanupOperator, MammothDeleteBatchesOperator
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.operators.waylay import ResourcesBatchDeleteOperator, RulesBatchDeleteOperator
from airflow_provider_batchops.sensors.mammoth import MammothJobSensor
from airflow_provider_batchops.sensors.superoffice import SuperOfficeBatchTaskSensor
from airflow_provider_batchops.sensors.waylay import WaylayBatchSensor, WaylayRegistryJobSensor
from tests.support.helpers import GATEWAY

DATASET = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}
DONE = {"operation": {"action": "delete"}, "queueTime": 1, "finishedTime": 2,
        "results": {"success": {"t": {"statusCode": 200}}, "failure": {}}}


# -- sensors take templated id lists the way operators do --------------------------------------------
@pytest.mark.parametrize("rendered", ["['a', 'b']", '["a", "b"]', ["a", "b"]])
def test_the_batch_sensor_reads_a_rendered_list(waylay_conn, token_endpoint, requests_mock, rendered):
    for batch_id in ("a", "b"):
        requests_mock.get(f"{GATEWAY}/rules/v1/batch/{batch_id}", json={**DONE, "id": batch_id})
    sensor = WaylayBatchSensor(task_id="s", batch_id=rendered)
    assert sensor.remote_target() == ["a", "b"]
    assert sensor.poke({}).is_done  # type: ignore[union-attr]
    assert sorted(r.path for r in requests_mock.request_history if r.method == "GET") == [
        "/rules/v1/batch/a", "/rules/v1/batch/b"]


@pytest.mark.parametrize("rendered", ["1,2", "[1, 2]", [1, 2], "1, 2"])
def test_the_mammoth_sensor_reads_a_rendered_list(rendered):
    assert MammothJobSensor(task_id="s", job_id=rendered).remote_target() == [1, 2]


def test_one_string_id_stays_one_id():
    assert WaylayBatchSensor(task_id="s", batch_id="a,b").remote_target() == "a,b"  # ids may hold commas


# -- ids are refused the same way on every service -------------------------------------------------------
BAD_TEXT_IDS = ["None", "null", " a", "a ", "a\nb", "a\x00", "", ".", ".."]


@pytest.mark.parametrize("bad", BAD_TEXT_IDS)
def test_bad_string_ids_are_refused_everywhere(bad):
    for make in (
        lambda: WaylayBatchSensor(task_id="s", batch_id=bad).validate(),
        lambda: WaylayRegistryJobSensor(task_id="s", job_type="build", job_id=bad).validate(),
        lambda: RulesBatchDeleteOperator(task_id="t", ids=[bad]).validate(),
        lambda: ResourcesBatchDeleteOperator(task_id="t", ids=["ok", bad]).validate(),
    ):
        with pytest.raises(InputError):
            make()


@pytest.mark.parametrize("bad", ["None", " 5", "5 ", "5\n", "", "0", "-1", "x"])
def test_bad_numeric_ids_are_refused_everywhere(bad):
    for make in (
        lambda: MammothJobSensor(task_id="s", job_id=bad).validate(),
        lambda: SuperOfficeBatchTaskSensor(task_id="s", batch_task_id=bad).validate(),
        lambda: MammothDeleteBatchesOperator(task_id="t", batch_ids=[bad], **DATASET).validate(),
    ):
        with pytest.raises(InputError):
            make()


def test_a_bare_string_is_not_a_list_of_ids_for_a_destructive_batch():
    with pytest.raises(InputError, match="expected a list of ids"):
        id_list("t-1", "ids", single=False)


# -- connection ids ------------------------------------------------------------------------------------
@pytest.mark.parametrize("conn_id", ["", "  ", " waylay_default"])
def test_an_empty_connection_id_is_refused_not_the_default(waylay_conn, requests_mock, conn_id):
    op = RulesBatchDeleteOperator(task_id="t", ids=["a"], waylay_conn_id=conn_id, durable=False)
    with pytest.raises(InputError) as err:
        op.execute({"ti": MagicMock(start_date=None)})
    assert err.value.field == "waylay_conn_id" and requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: MammothJobSensor(task_id="s", job_id=1, mammoth_conn_id="").poke({}), "mammoth_conn_id"),
        (lambda: SuperOfficeBatchTaskSensor(task_id="s", batch_task_id=1, superoffice_conn_id="").poke({}),
         "superoffice_conn_id"),
        (lambda: SuperOfficeBatchTaskOperator(task_id="t", name="n", superoffice_conn_id="", durable=False)
         .execute({"ti": MagicMock(start_date=None)}), "superoffice_conn_id"),
    ],
)
def test_empty_connection_ids_of_every_service(requests_mock, make, field):
    with pytest.raises(InputError) as err:
        make()
    assert err.value.field == field and requests_mock.call_count == 0


# -- value ranges, before any request --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"poll_interval": 0.001}, "poll_interval"),
        ({"poll_interval": 10**9}, "poll_interval"),
        ({"max_poll_interval": float("inf")}, "max_poll_interval"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": 10**12}, "timeout"),
        ({"unknown_state_reads": 0}, "unknown_state_reads"),
        ({"unknown_state_reads": "5"}, "unknown_state_reads"),
    ],
)
def test_numeric_settings_have_sane_ranges(waylay_conn, requests_mock, kwargs, field):
    op = RulesBatchDeleteOperator(task_id="t", ids=["a"], durable=False, **kwargs)
    with pytest.raises(InputError) as err:
        op.execute({"ti": MagicMock(start_date=None)})
    assert err.value.field == field and requests_mock.call_count == 0


@pytest.mark.parametrize("timeout", [1e12, float("nan"), 0, -1, "soon"])
def test_a_connection_timeout_out_of_range_is_refused_before_sending(monkeypatch, requests_mock, timeout):
    from tests.support.helpers import set_connection

    set_connection(monkeypatch, "waylay_default", host=GATEWAY, login="k", password="s",
                   extra=json.dumps({"timeout": timeout}) if timeout == timeout else '{"timeout": NaN}')
    with pytest.raises(InputError, match="extra.timeout"):
        RulesBatchDeleteOperator(task_id="t", ids=["a"], durable=False).execute({"ti": MagicMock(start_date=None)})
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("older_than", [float("nan"), float("inf"), 10**9])
def test_cleanup_ages_out_of_range_are_refused(older_than):
    with pytest.raises(InputError, match="older_than"):
        MammothBatchCleanupOperator(task_id="t", older_than=older_than, **DATASET).plan()


def test_mammoth_mappings_that_mix_ids_and_names_say_so():
    mapping = [{"source_c_name": "a", "destination_c_name": "b", "expected_destination_c_type": "TEXT"},
               {"source_c_id": "c1", "destination_c_id": "c2", "expected_destination_c_type": "TEXT"}]
    with pytest.raises(InputError) as err:
        check_mapping(mapping)
    assert err.value.field == "mapping[1]" and "by id while mapping[0] maps them by name" in str(err.value)


# -- a poke-mode sensor tolerates transient read failures like the deferred path --------------------------
def test_poke_mode_tolerates_a_few_transient_failures(waylay_conn, token_endpoint, requests_mock, no_sleep):
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b",
                      [{"exc": requests.exceptions.ConnectionError}] * 5 + [{"json": {**DONE, "id": "b"}}])
    sensor = WaylayBatchSensor(task_id="s", batch_id="b", mode="poke")
    assert sensor.poke({}) is False  # five failed attempts of one read: tolerated
    assert sensor.poke({}).is_done  # type: ignore[union-attr]


def test_poke_mode_gives_up_after_the_bound(waylay_conn, token_endpoint, requests_mock, no_sleep):
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b", exc=requests.exceptions.ConnectionError)
    sensor = WaylayBatchSensor(task_id="s", batch_id="b", mode="poke")
    with pytest.raises(TransientApiError):
        for _ in range(10):
            assert sensor.poke({}) is False


# -- summaries stay small ---------------------------------------------------------------------------------
def test_150000_failed_items_make_a_small_summary_with_complete_counts():
    failure = {f"task-{i:06d}": {"statusCode": 404, "error": f"No task with id task-{i:06d}"}
               for i in range(150_000)}
    body = {"id": "b", "operation": {"action": "delete"}, "queueTime": 1, "finishedTime": 2,
            "results": {"success": {"ok": {"statusCode": 200}}, "failure": failure}}
    report = batch_report("rules", body)
    size = len(json.dumps(report.summary))
    assert report.summary["failed"] == 150_000 and report.item_failures == 150_000
    assert report.summary["failures_listed"] == MAX_LISTED and report.summary["failures_truncated"] is True
    assert size < 20_000, size
    combined = combine_batch_reports("rules", [report, report])
    assert combined.summary["failed"] == 300_000 and len(combined.summary["failures"]) == MAX_LISTED


def test_resources_times_are_epoch_milliseconds_as_for_rules():
    body = {"id": "b", "operation": {"action": "delete"}, "queueTime": "2026-01-01T00:00:00Z",
            "finishedTime": "2026-01-01T00:00:01.500Z", "results": {"success": {}, "failure": {}}}
    summary = batch_report("resources", body).summary
    assert summary["queue_time"] == 1_767_225_600_000 and summary["finished_time"] == 1_767_225_601_500


def test_the_superoffice_sensor_timeout_message_is_true():
    note = SuperOfficeBatchTaskSensor.cannot_cancel_note
    assert "cannot" not in note and "leaves" in note


