"""DAGs of the asset-watcher end-to-end test (tests/e2e/test_e2e_asset_watcher.py).

- ``e2e_asset_watched``: scheduled on an asset watched by a ``WaylayRegistryJobEventTrigger`` that
  fires when a ``deploy`` job of ``e2eWatchedPlug`` completes; its task writes the triggering asset
  events' payloads to ``$E2E_RUN_DIR/watched-<run_id>.json``.
- ``e2e_asset_idle``: scheduled on 19 more watched assets (other plugs, never deployed), so that 20
  watchers run on the one ``waylay_default`` connection.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_batchops.triggers.waylay_events import WaylayRegistryJobEventTrigger

START = pendulum.datetime(2026, 1, 1, tz="UTC")
WATCHED_PLUG = "e2eWatchedPlug"
IDLE_WATCHERS = 19


def watched_asset(plug: str, states: list[str]) -> Asset:
    trigger = WaylayRegistryJobEventTrigger(job_types=["deploy"], function_name=plug, states=states)
    return Asset(f"waylay-deploy-{plug}", watchers=[AssetWatcher(name=f"{plug}-deploys", trigger=trigger)])


deployed = watched_asset(WATCHED_PLUG, ["completed"])

with DAG("e2e_asset_watched", schedule=[deployed], start_date=START, catchup=False, max_active_runs=4):

    @task(inlets=[deployed])
    def record(*, triggering_asset_events: Any = None, run_id: str | None = None) -> int:
        payloads = [event.extra.get("payload") for event in triggering_asset_events[deployed]]
        out = Path(os.environ["E2E_RUN_DIR"]) / f"watched-{str(run_id).replace(':', '_')}.json"
        out.write_text(json.dumps(payloads))
        return len(payloads)

    record()

with DAG("e2e_asset_idle", schedule=[watched_asset(f"e2eIdlePlug{n}", ["completed", "failed"])
                                     for n in range(IDLE_WATCHERS)], start_date=START, catchup=False):

    @task
    def never() -> None:
        raise RuntimeError("no idle plug is ever deployed")

    never()
