"""Nightly clean-up of Waylay rules: delete stopped one-off tasks that finished over 30 days ago.

The delete runs as one Waylay tasks batch operation and waits for it in the triggerer
(``deferrable=True``), so no worker slot is held while Waylay works. The next task reads the
operator's summary from XCom.

Connection: ``waylay_default`` (type ``waylay``). Run offline against the bundled simulator with
``make demo``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator

with DAG(
    dag_id="waylay_rules_cleanup",
    description="Delete stopped one-off Waylay tasks finished more than 30 days ago",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "retention_days": Param(30, type="integer", minimum=1),
        "poll_interval": Param(30, type="number", exclusiveMinimum=0),
    },
    tags=["waylay", "cleanup"],
) as dag:
    delete_old_one_off_tasks = RulesBatchDeleteOperator(
        task_id="delete_old_one_off_tasks",
        query={
            "type": "onetime",
            "status": "stopped",
            # Epoch milliseconds, relative to the run's logical date (a manual run may have none: then the
            # moment it was triggered, run_after), so a re-run deletes the same set. ``logical_date`` itself
            # is undefined in a run without one, hence ``dag_run.logical_date``.
            "finished_before": "{{ (((dag_run.logical_date or dag_run.run_after)"
            " - macros.timedelta(days=params.retention_days)).timestamp() * 1000) | int }}",
        },
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        timeout=3600,
        on_item_failure="warn",  # a task deleted meanwhile by someone else is not worth a failed night
    )

    @task
    def report(summary: dict) -> str:
        """Say what the clean-up did; the summary is the operator's XCom return value."""
        line = (
            f"batch {summary['batch_id']}: deleted {summary['succeeded']} one-off task(s), "
            f"{summary['failed']} failed"
        )
        for task_id, failure in summary.get("failures", {}).items():
            line += f"; {task_id}: {failure['statusCode']} {failure['error']}"
        return line

    report(delete_old_one_off_tasks.output)
