"""Nightly clean-up of Waylay rules: delete stopped one-off tasks that finished over 30 days ago.

The first task is a dry run: it counts the tasks the filter selects (``GET /rules/v1/tasks``) and lists
the first 100 (id and name) without changing anything, so the run's log and XCom show what the delete
will remove. The second task deletes them as one Waylay tasks batch operation and waits for it in the
triggerer (``deferrable=True``), so no worker slot is held while Waylay works. ``max_tasks`` is a
safety stop: before the batch is started the tasks are counted again, and a larger count fails the
task with nothing deleted (a wrong status or a missing ``finished_before`` would select far more).

The delete has an outlet: on success Airflow emits an event of the asset
``waylay://rules/one-off-tasks-cleaned`` whose ``extra`` carries the batch's summary (batch id, counts);
``waylay_rules_cleanup_report`` is scheduled on it.

Connection: ``waylay_default`` (type ``waylay``). Run offline against the bundled simulator with
``make demo``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_batchops.operators.waylay import RulesBatchDeleteOperator

#: Updated by each successful clean-up; ``extra`` holds the summary of the batch.
ONE_OFF_TASKS_CLEANED = Asset(name="waylay_one_off_tasks_cleaned", uri="waylay://rules/one-off-tasks-cleaned")
QUERY = {
    "type": "onetime",
    "status": "stopped",
    # Epoch milliseconds, relative to the run's logical date (a manual run may have none: then the
    # moment it was triggered, run_after), so a re-run deletes the same set. ``logical_date`` itself
    # is undefined in a run without one, hence ``dag_run.logical_date``.
    "finished_before": "{{ (((dag_run.logical_date or dag_run.run_after)"
    " - macros.timedelta(days=params.retention_days)).timestamp() * 1000) | int }}",
}

with DAG(
    dag_id="waylay_rules_cleanup",
    description="Delete stopped one-off Waylay tasks finished more than 30 days ago",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "retention_days": Param(30, type="integer", minimum=1),
        "max_tasks": Param(1000, type="integer", minimum=0),
        "poll_interval": Param(30, type="number", exclusiveMinimum=0),
    },
    tags=["waylay", "cleanup"],
) as dag:
    preview = RulesBatchDeleteOperator(task_id="preview_old_one_off_tasks", query=QUERY, dry_run=True,
                                       max_tasks="{{ params.max_tasks }}")

    delete_old_one_off_tasks = RulesBatchDeleteOperator(
        task_id="delete_old_one_off_tasks",
        query=QUERY,
        max_tasks="{{ params.max_tasks }}",  # counted again just before the batch starts
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        timeout=3600,
        on_item_failure="warn",  # a task deleted meanwhile by someone else is not worth a failed night
        outlets=[ONE_OFF_TASKS_CLEANED],
    )

    @task
    def report(planned: dict, summary: dict) -> str:
        """Say what the clean-up did; both summaries are the operators' XCom return values."""
        names = ", ".join(str(t["name"]) for t in planned["would_affect"][:5])
        line = (
            f"planned {planned['would_affect_count']} ({names}{' ...' if planned['would_affect_count'] > 5 else ''}); "
            f"batch {summary['batch_id']}: deleted {summary['succeeded']} one-off task(s), {summary['failed']} failed"
        )
        for task_id, failure in summary.get("failures", {}).items():
            line += f"; {task_id}: {failure['statusCode']} {failure['error']}"
        return line

    preview >> delete_old_one_off_tasks
    report(preview.output, delete_old_one_off_tasks.output)
