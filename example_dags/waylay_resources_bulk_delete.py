"""Decommission a site: bulk-delete its Waylay resources, with their alarms and tasks.

An upstream task decides which resources go (here from the run's ``resource_ids`` param, e.g. pasted
from an asset-register export; in production it could read a file or a database). Its list reaches
the bulk delete through XCom. Lists longer than ``max_batch_size`` are sent as several batches and
followed together; the summary says how many. Resources that are still parents of others are
reported, not fatal (``on_item_failure="warn"``).

Connection: ``waylay_default``. Run offline against the bundled simulator with ``make demo``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.operators.waylay import ResourcesBatchDeleteOperator

with DAG(
    dag_id="waylay_resources_bulk_delete",
    description="Bulk-delete the Waylay resources of a decommissioned site",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "resource_ids": Param([], type="array", description="ids of the resources to delete"),
        "poll_interval": Param(10, type="number", exclusiveMinimum=0),
    },
    tags=["waylay", "resources"],
) as dag:

    @task
    def resources_to_delete(params: dict | None = None) -> list[str]:
        """Clean the list: strip blanks, drop duplicates, keep a stable order."""
        assert params is not None
        ids = sorted({str(i).strip() for i in params["resource_ids"] if str(i).strip()})
        if not ids:
            raise ValueError("resource_ids is empty: nothing to delete")
        return ids

    delete = ResourcesBatchDeleteOperator(
        task_id="delete_resources",
        ids=resources_to_delete(),
        cascade=["alarms", "tasks"],
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        timeout=3600,
        on_item_failure="warn",
    )

    @task
    def report(summary: dict) -> str:
        batches = summary.get("batches", 1)
        line = f"deleted {summary['succeeded']} resource(s) in {batches} batch(es), {summary['failed']} failed"
        for resource_id, failure in list(summary.get("failures", {}).items())[:5]:
            line += f"; {resource_id}: {failure['error']}"
        return line

    report(delete.output)
