"""Wait until every build and deploy job of a plug from the last two hours has finished.

Useful after a CI pipeline pushed several versions at once: the sensor lists the registry's jobs
(``GET /registry/v2/jobs/``) until none is active or waiting. A failed job fails the sensor, unless
``on_item_failure="warn"``.

Connection: ``waylay_default`` (type ``waylay``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.sensors.waylay import WaylayRegistryJobsSensor

with DAG(
    dag_id="waylay_registry_builds",
    description="Wait for a plug's recent build and deploy jobs",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"plug": Param("temperatureAlarm", type="string", minLength=1)},
    tags=["waylay", "registry"],
) as dag:
    builds_done = WaylayRegistryJobsSensor(
        task_id="wait_for_builds",
        job_type=["build", "deploy"],
        function_type="plugs",
        function_name="{{ params.plug }}",
        created_after="PT2H",  # an age: jobs created in the last two hours
        deferrable=True,
        poke_interval=30,
        timeout=2 * 3600,
    )

    @task
    def report(summary: dict) -> str:
        return f"{summary['jobs']} job(s) finished: {summary['states']}"

    report(builds_done.output)
