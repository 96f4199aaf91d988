"""Runs whenever ``waylay_rules_cleanup`` has deleted old one-off tasks: scheduled on its outlet asset.

An operator of this provider given ``outlets=[Asset(...)]`` fills the asset event's ``extra`` with the
summary of what it did (here the batch id, ``action``, ``succeeded`` and ``failed``), so this DAG reads
what changed from ``triggering_asset_events`` without asking Waylay again. A manual run has no
triggering event and says so.

No connection is needed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, task

#: The outlet of ``waylay_rules_cleanup``'s delete task (the same name and URI).
ONE_OFF_TASKS_CLEANED = Asset(name="waylay_one_off_tasks_cleaned", uri="waylay://rules/one-off-tasks-cleaned")

with DAG(
    dag_id="waylay_rules_cleanup_report",
    description="Report each clean-up of old one-off Waylay tasks, from its asset event",
    schedule=[ONE_OFF_TASKS_CLEANED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["waylay", "cleanup", "assets"],
) as dag:

    @task
    def report_cleanup(triggering_asset_events=None) -> list[str]:
        """One line per clean-up that triggered this run, from the event's ``extra``."""
        events = list(triggering_asset_events.get(ONE_OFF_TASKS_CLEANED, [])) if triggering_asset_events else []
        if not events:
            return ["manual run: no clean-up triggered it"]
        return [
            f"batch {e.extra.get('batch_id')}: {e.extra.get('action')} of {e.extra.get('succeeded')} task(s), "
            f"{e.extra.get('failed')} failed ({e.extra.get('state')})"
            for e in events
        ]

    report_cleanup()
