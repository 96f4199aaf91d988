"""The summary an operator puts in its outlet asset events' ``extra``: small JSON (issue 15, part 3)."""

from __future__ import annotations

import json
from unittest.mock import MagicMock

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.operator import EXTRA_BYTES, EXTRA_LISTED, EXTRA_TEXT, asset_extra
from airflow_provider_batchops.operators.mammoth import MammothBatchCleanupOperator
from airflow_provider_batchops.operators.waylay import ResourcesBatchDeleteOperator

CLEANED = Asset(name="cleaned", uri="waylay://rules/cleaned")


def test_counts_and_ids_are_kept_and_listed_items_are_not():
    summary = {
        "batch_id": "b-1", "action": "delete", "state": "succeeded", "succeeded": 149_990, "failed": 10,
        "failures": {f"t-{n}": {"statusCode": 404, "error": "gone"} for n in range(10)},
        "batch_ids": [f"b-{n}" for n in range(150)],
        "workspace": {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453},
        "deleted": [{"id": n, "name": f"batch {n}"} for n in range(25)],
        "note": "x" * 10_000,
    }
    extra = asset_extra(summary)
    assert extra["succeeded"] == 149_990 and extra["failed"] == 10 and extra["batch_id"] == "b-1"
    assert "failures" not in extra and "deleted" not in extra
    assert extra["batch_ids"] == [f"b-{n}" for n in range(EXTRA_LISTED)] and extra["batch_ids_count"] == 150
    assert extra["workspace"] == {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}
    assert len(extra["note"]) == EXTRA_TEXT
    assert len(json.dumps(extra)) <= EXTRA_BYTES


def test_the_size_bound_drops_the_largest_keys_first():
    summary = {f"k{n}": "v" * EXTRA_TEXT for n in range(40)} | {"count": 3}
    extra = asset_extra(summary)
    assert len(json.dumps(extra)) <= EXTRA_BYTES and extra["count"] == 3


def test_a_plain_value_is_kept_under_result():
    assert asset_extra("b-1") == {"result": "b-1"}
    assert asset_extra([{"a": 1}]) == {}


def _context(outlets_events: OutletEventAccessors) -> dict:
    ti = MagicMock()
    ti.start_date = None
    return {"ti": ti, "outlet_events": outlets_events}


def test_each_asset_outlet_gets_the_extra_and_an_alias_is_left_alone():
    alias = AssetAlias("cleaned-alias")
    op = ResourcesBatchDeleteOperator(task_id="t", ids=["r-1"], outlets=[CLEANED, alias])
    events = OutletEventAccessors()
    result = op.annotate_outlets(_context(events), {"batch_ids": ["b-1"], "succeeded": 1})
    assert result == {"batch_ids": ["b-1"], "succeeded": 1}
    assert events[CLEANED].extra == {"batch_ids": ["b-1"], "succeeded": 1}
    assert events[alias].extra == {} and events[alias].asset_alias_events == []


def test_without_outlets_nothing_is_touched():
    op = ResourcesBatchDeleteOperator(task_id="t", ids=["r-1"])
    events = MagicMock()
    op.annotate_outlets(_context(events), {"succeeded": 1})
    events.__getitem__.assert_not_called()


def test_a_dry_run_with_outlets_is_refused_before_any_request(requests_mock):
    op = MammothBatchCleanupOperator(task_id="t", workspace_id=4, project_id=1020, dataset_id=3453, dry_run=True,
                                     outlets=[CLEANED], deferrable=False, durable=False)
    with pytest.raises(InputError) as err:
        op.execute(_context(OutletEventAccessors()))
    assert err.value.field == "outlets" and requests_mock.call_count == 0


# -- the flows: worker wait, resumed after deferral, not waiting, sensors ----------------------------------
RUNNING = {"id": "b-1", "user": "user/u", "operation": {"entity": "task", "action": "delete"}, "queueTime": 1}
DONE = {**RUNNING, "finishedTime": 9, "results": {"success": {"t1": {"statusCode": 200}}, "failure": {}}}


@pytest.fixture
def rules_api(waylay_conn, token_endpoint, requests_mock):
    from tests.support.helpers import GATEWAY

    requests_mock.post(f"{GATEWAY}/rules/v1/batch", status_code=202,
                       json={"statusCode": 202, "uri": "/rules/v1/batch/b-1", "entity": RUNNING})
    requests_mock.get(f"{GATEWAY}/rules/v1/batch/b-1", json=DONE)
    return requests_mock


def test_an_operator_that_waited_fills_the_extra(rules_api):
    from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator

    events = OutletEventAccessors()
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"], outlets=[CLEANED], deferrable=False, durable=False)
    summary = op.execute(_context(events))
    assert events[CLEANED].extra == asset_extra(summary)
    assert events[CLEANED].extra["batch_id"] == "b-1" and events[CLEANED].extra["succeeded"] == 1


def test_an_operator_resumed_after_deferral_fills_the_extra(rules_api):
    from airflow_provider_batchops.core.state import BatchState, StatusReport
    from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator

    events = OutletEventAccessors()
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"], outlets=[CLEANED], durable=False)
    report = StatusReport(BatchState.SUCCEEDED, {"batch_id": "b-1", "succeeded": 1, "failed": 0}, "done")
    op.execute_complete(_context(events), {"status": "success", "remote_id": "b-1", "report": report.to_json()})
    assert events[CLEANED].extra == {"batch_id": "b-1", "succeeded": 1, "failed": 0}


def test_an_operator_that_does_not_wait_says_started(rules_api):
    from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator

    events = OutletEventAccessors()
    op = RulesBatchDeleteOperator(task_id="t", ids=["t1"], outlets=[CLEANED], wait_for_completion=False,
                                  durable=False)
    assert op.execute(_context(events)) == "b-1"
    assert events[CLEANED].extra == {"batch_id": "b-1", "state": "started"}


def test_a_sensor_fills_the_extra(rules_api):
    from airflow_provider_batchops.sensors.waylay import WaylayBatchSensor

    events = OutletEventAccessors()
    sensor = WaylayBatchSensor(task_id="s", service="rules", batch_id="b-1", outlets=[CLEANED], deferrable=False,
                               poke_interval=0.1, timeout=5)
    summary = sensor.execute(_context(events))
    assert summary["batch_id"] == "b-1" and events[CLEANED].extra["succeeded"] == 1
