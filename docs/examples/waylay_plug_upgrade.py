"""Upgrade a plug in every Waylay task that uses it, then tag those tasks with the new version.

``start_upgrade`` only starts the ``updatePlugins`` batch (``wait_for_completion=False``) and returns
its id; ``wait_for_upgrade`` waits for it in the triggerer and tolerates tasks that could not be
upgraded (``on_item_failure="warn"``); ``tag_upgraded_tasks`` runs an ``updateProperties`` batch and
waits for it itself.

Connection: ``waylay_default`` (type ``waylay``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.operators.waylay import RulesBatchOperator
from airflow_provider_batchops.sensors.waylay import WaylayBatchSensor

with DAG(
    dag_id="waylay_plug_upgrade",
    description="Move every task to a new plug version, then tag the tasks",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "plug": Param("mySensor", type="string", minLength=1),
        "to_version": Param("2.0.1", type="string", pattern=r"^\d+\.\d+\.\d+$"),
    },
    tags=["waylay", "rules"],
) as dag:
    start_upgrade = RulesBatchOperator(
        task_id="start_upgrade",
        action="updatePlugins",
        query={"plugin": "{{ params.plug }}"},
        action_parameters={"name": "{{ params.plug }}", "from_version": "any", "to_version": "{{ params.to_version }}"},
        wait_for_completion=False,  # return the batch id at once
    )

    wait_for_upgrade = WaylayBatchSensor(
        task_id="wait_for_upgrade",
        service="rules",
        batch_id=start_upgrade.output,  # the batch id returned above
        deferrable=True,
        poke_interval=30,  # first delay between two reads; grows towards max_poll_interval
        max_poll_interval=300,
        timeout=3600,
        on_item_failure="warn",
    )

    tag_upgraded_tasks = RulesBatchOperator(
        task_id="tag_upgraded_tasks",
        action="updateProperties",
        query={"plugin": "{{ params.plug }}"},
        action_parameters={"tags": {"plugVersion": "{{ params.to_version }}"}},
        deferrable=True,
        timeout=3600,
    )

    @task
    def report(upgrade: dict, tagging: dict) -> str:
        return (f"upgraded {upgrade['succeeded']} task(s) ({upgrade['failed']} failed), "
                f"tagged {tagging['succeeded']}")

    wait_for_upgrade >> tag_upgraded_tasks
    report(wait_for_upgrade.output, tag_upgraded_tasks.output)
