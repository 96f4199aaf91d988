"""Release a Waylay plug: wait for its verify job (and the build and deploy jobs under it), then go on.

The verify job id comes with the run (``verify_job_id``), e.g. from the CI pipeline that published the
plug. The sensor defers and follows the registry's job event stream, so completion is seen within a
moment, with polling as the fallback if the stream drops. A failed job fails the sensor with the
registry's reason.

Connection: ``waylay_default``. Run offline against the bundled simulator with ``make demo``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_batchops.sensors.waylay import WaylayRegistryJobSensor

with DAG(
    dag_id="waylay_plug_release",
    description="Wait for a plug's verify job, then announce the release",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"verify_job_id": Param("", type="string", minLength=1)},
    tags=["waylay", "registry"],
) as dag:
    verified = WaylayRegistryJobSensor(
        task_id="wait_for_verify_job",
        job_type="verify",
        job_id="{{ params.verify_job_id }}",
        children=True,
        deferrable=True,
        timeout=1800,
    )

    @task
    def announce(job: dict) -> str:
        function = job.get("function") or {}
        healthy = (job.get("result") or {}).get("healthy")
        return f"{function.get('name')} {function.get('version')} is verified (healthy={healthy})"

    announce(verified.output)
