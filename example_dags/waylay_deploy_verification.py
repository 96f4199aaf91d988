"""When a plug's deploy job completes, verify the deployment: a DAG scheduled by registry job events.

The DAG is scheduled on an asset watched by ``WaylayRegistryJobEventTrigger``: the triggerer
follows the Waylay registry's job event stream and, for each ``deploy`` job of ``temperatureAlarm``
that completes, adds an asset event whose ``extra["payload"]`` carries the job (type, id, state,
function, timestamps). Each transition schedules the DAG once, also when the stream was down
while it happened (the watcher catches up by listing the jobs). The run reads the job back from
the registry and checks what was deployed.

Run by hand (``airflow dags test``, ``make demo``: no triggerer, so no asset event) it takes the
job from the run conf instead (``job_id``). Connection: ``waylay_default``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, Param, task

from airflow_provider_batchops.triggers.waylay_events import WaylayRegistryJobEventTrigger

PLUG = "temperatureAlarm"

deployed = Asset(
    f"waylay-deploy-{PLUG}",
    watchers=[
        AssetWatcher(
            name=f"{PLUG}-deploys",
            trigger=WaylayRegistryJobEventTrigger(job_types=["deploy"], function_name=PLUG, states=["completed"]),
        )
    ],
)

with DAG(
    dag_id="waylay_deploy_verification",
    description=f"Verify each completed deploy of {PLUG}, scheduled by the registry's job events",
    schedule=[deployed],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"job_id": Param("", type="string", description="a deploy job to verify, for a run by hand")},
    tags=["waylay", "registry", "event-driven"],
) as dag:

    @task(inlets=[deployed])
    def deploy_jobs(*, triggering_asset_events: Any = None, params: Any = None) -> list[dict[str, Any]]:
        """The deploy jobs of the asset events that started this run (or the one of the run conf)."""
        events = triggering_asset_events.get(deployed, []) if triggering_asset_events else []
        jobs = [event.extra["payload"] for event in events if "payload" in (event.extra or {})]
        if not jobs and params and params.get("job_id"):
            jobs = [{"job_type": "deploy", "job_id": params["job_id"]}]
        if not jobs:
            raise ValueError("no deploy job: this run has no asset event and no job_id in its conf")
        return [{"job_type": job["job_type"], "job_id": job["job_id"]} for job in jobs]

    @task
    def verify(job: dict[str, Any]) -> dict[str, Any]:
        """Read the job from the registry: it must have completed and deployed the plug."""
        from airflow_provider_batchops.hooks.waylay import WaylayHook

        summary = WaylayHook().get_job_report(job["job_type"], job["job_id"]).summary
        if summary["state"] != "completed" or (summary.get("function") or {}).get("name") != PLUG:
            raise ValueError(f"deploy job {job['job_id']} is {summary['state']} for {summary.get('function')}")
        deploy_spec = (summary.get("result") or {}).get("deploySpec") or {}
        return {"job_id": job["job_id"], "version": summary["function"].get("version"),
                "image": deploy_spec.get("image")}

    verify.expand(job=deploy_jobs())
