"""Weekly Mammoth clean-up: list what would go, then delete batches older than 90 days, keeping the newest 5.

The first task is a dry run: it lists every page of the dataset's batches, selects those created
more than 90 days ago (never the 5 newest) and returns them without deleting anything, so the run's
log and XCom show what the second task will remove. The second task deletes them (in as few requests
as the URL length allows), waits for every Mammoth job in the triggerer and returns what it deleted.
``max_delete`` is a safety stop: a larger selection fails the task and deletes nothing.

Connection: ``mammoth_default`` (type ``mammoth``). Run offline with ``make demo``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.operators.mammoth import MammothBatchCleanupOperator

DATASET = {
    "workspace_id": "{{ params.workspace_id }}",
    "project_id": "{{ params.project_id }}",
    "dataset_id": "{{ params.dataset_id }}",
}
SELECTION = {"older_than": timedelta(days=90), "keep_latest": 5, "max_delete": 1000}

with DAG(
    dag_id="mammoth_batch_cleanup",
    description="Delete Mammoth dataset batches older than 90 days, keeping the newest 5",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "workspace_id": Param(4, type="integer", minimum=1),
        "project_id": Param(1020, type="integer", minimum=1),
        "dataset_id": Param(3453, type="integer", minimum=0),
        "poll_interval": Param(10, type="number", exclusiveMinimum=0),
    },
    tags=["mammoth", "cleanup"],
) as dag:
    preview = MammothBatchCleanupOperator(task_id="list_old_batches", **DATASET, **SELECTION, dry_run=True)

    cleanup = MammothBatchCleanupOperator(
        task_id="delete_old_batches",
        **DATASET,
        **SELECTION,
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        timeout=3600,
    )

    @task
    def report(planned: dict, done: dict) -> str:
        names = ", ".join(b["name"] for b in done["deleted"][:5])
        return (f"planned {planned['would_delete_count']}, deleted {done['deleted_count']} batch(es) "
                f"with {len(done['job_ids'])} job(s): {names}{' ...' if done['deleted_count'] > 5 else ''}")

    preview >> cleanup
    report(preview.output, cleanup.output)
