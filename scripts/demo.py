"""`make demo`: run every example DAG end to end against the bundled simulator.

Starts the simulator on a free loopback port, points the connections at it, runs each DAG with
``airflow dags test`` (deferred tasks' triggers run in-process) on a throw-away SQLite AIRFLOW_HOME,
prints a short summary per DAG and stops the simulator.

The registry job of ``waylay_plug_release`` is created held (queued) and released only once the DAG's
deferred sensor follows the job's event stream: ``airflow dags test`` takes longer to start than a
short job takes to finish, and the demo is meant to show completion arriving through the stream.

``waylay_deploy_verification`` is scheduled by an asset watcher, which needs a triggerer that
``airflow dags test`` does not run: the demo deploys a job, waits for it to complete and runs the DAG
by hand with the job in its conf (the end-to-end test covers the watcher itself).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_batchops.simulator.client import SimulatorClient

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".airflow-demo"
DAGS = ROOT / "example_dags"
RETURNED = re.compile(r"Returned value was: (.*?)(?:\s+\[airflow\.|$)", re.MULTILINE)
#: Longest the demo keeps a held registry job waiting for the sensor to follow its event stream.
HOLD_LIMIT = 180.0
JOB_READS = "GET /registry/v2/jobs/{type}/{id}"


def start_simulator() -> tuple[subprocess.Popen, str]:
    port_file = HOME / "simulator.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_batchops.simulator", "--port", "0",
         "--port-file", str(port_file), "--seed", "7", "--tasks", "400", "--batch-delay", "2",
         "--job-step-delay", "1"],
        stdout=subprocess.DEVNULL,
        stderr=open(HOME / "simulator.log", "w"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"The simulator did not start; see {HOME / 'simulator.log'}")


@dataclass
class Prepared:
    """The run conf of a DAG, and optionally what to do while it runs (returns notes for the summary).

    ``during`` gets a function telling whether the DAG run has ended.
    """

    conf: dict
    during: Callable[[Callable[[], bool]], list[str]] | None = None


def prepare_rules_cleanup(sim: SimulatorClient) -> Prepared:
    return Prepared({"poll_interval": 1})


def prepare_bulk_delete(sim: SimulatorClient) -> Prepared:
    """1,500 resources of a site; one stays the parent of a resource elsewhere, so its delete fails."""
    ids = [f"site7-sensor-{n:04d}" for n in range(1500)]
    resources = [{"id": i, "name": i, "resourceTypeId": "sensor"} for i in ids]
    resources.append({"id": "site8-gateway", "name": "site8-gateway", "resourceTypeId": "sensor",
                      "parentId": ids[0]})
    sim.put_resources(resources)
    return Prepared({"resource_ids": ids, "poll_interval": 1})


def prepare_plug_release(sim: SimulatorClient) -> Prepared:
    """A verify job (with build and deploy children) that outlives the DAG's start, so it is awaited.

    The job is created held (queued: ``waiting-children``) and released once the deferred sensor
    follows its event stream; it then takes a state step a second (build, deploy, verify: 4 s).
    """
    job = sim.create_job(type="verify", children=True, hold=True, step_delay=1,
                         function={"functionType": "plugs", "name": "temperatureAlarm", "version": "1.4.0"})
    return Prepared({"verify_job_id": job["id"]}, during=lambda ended: release_once_followed(sim, job, ended))


def release_once_followed(sim: SimulatorClient, job: dict, ended: Callable[[], bool]) -> list[str]:
    """Release the held ``job`` once an event stream is open (the sensor follows it); say how long that took."""
    started = time.monotonic()
    while sim.stream_stats()["open"] < 1:
        if ended() or time.monotonic() - started > HOLD_LIMIT:
            sim.release_job(job["type"], job["id"])
            return [f"the sensor did not follow the job's event stream within {time.monotonic() - started:.0f} s"]
        time.sleep(0.2)
    waited = time.monotonic() - started
    sim.release_job(job["type"], job["id"])
    return [f"verify job held queued until the deferred sensor followed its event stream "
            f"({waited:.1f} s after the DAG started), then released: 4 state steps of 1 s"]


def prepare_deploy_verification(sim: SimulatorClient) -> Prepared:
    """A deploy job of temperatureAlarm, run to completion; the DAG verifies it.

    ``airflow dags test`` runs no triggerer, so the DAG's asset watcher does not run here: the job
    goes in the run conf, as for a run by hand (tests/e2e/test_e2e_asset_watcher.py covers the
    watcher in a real deployment).
    """
    job = sim.create_job(type="deploy", step_delay=0.2,
                         function={"functionType": "plugs", "name": "temperatureAlarm", "version": "1.4.0"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = {j["id"]: j["state"] for j in sim.registry_jobs()}
        if states.get(job["id"]) == "completed":
            break
        time.sleep(0.2)
    return Prepared({"job_id": job["id"]}, during=lambda ended: [
        f"deploy job {job['id']} completed first; run by hand with it in the conf (no triggerer in "
        "`airflow dags test`, so no asset watcher)"])


def prepare_superoffice_export(sim: SimulatorClient) -> Prepared:
    sim.configure(so_step_delay=1)
    return Prepared({"poll_interval": 1})


def prepare_mammoth_cleanup(sim: SimulatorClient) -> Prepared:
    """The seeded dataset holds 40 batches over the last 200 days; delete jobs take 2 s."""
    sim.configure(mammoth_job_delay=2)
    return Prepared({"poll_interval": 1})


#: Each example DAG with the step that prepares the simulator and returns the run conf.
RUNS: dict[str, Callable[[SimulatorClient], Prepared]] = {
    "waylay_rules_cleanup": prepare_rules_cleanup,
    # Scheduled on the clean-up's outlet asset; run here by hand, so without a triggering event.
    "waylay_rules_cleanup_report": lambda sim: Prepared({}),
    "waylay_resources_bulk_delete": prepare_bulk_delete,
    "waylay_plug_release": prepare_plug_release,
    "waylay_deploy_verification": prepare_deploy_verification,
    "superoffice_nightly_export": prepare_superoffice_export,
    "mammoth_batch_cleanup": prepare_mammoth_cleanup,
}


def airflow_env(sim_url: str) -> dict[str, str]:
    from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, SIM_API_KEY, SIM_API_SECRET
    from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW_CONN_WAYLAY_DEFAULT=json.dumps(
            {"conn_type": "waylay", "host": sim_url, "login": SIM_API_KEY, "password": SIM_API_SECRET}
        ),
        AIRFLOW_CONN_MAMMOTH_DEFAULT=json.dumps(
            {"conn_type": "mammoth", "host": f"{sim_url}/api/v2", "login": MAMMOTH_API_KEY,
             "password": MAMMOTH_API_SECRET}
        ),
        AIRFLOW_CONN_SUPEROFFICE_DEFAULT=json.dumps(
            {"conn_type": "superoffice", "host": f"{sim_url}/Cust12345", "password": SO_ACCESS_TOKEN}
        ),
    )
    return env


def run_dag(dag_id: str, prepared: Prepared, env: dict[str, str]) -> tuple[bool, float, list[str]]:
    """Run the DAG with ``airflow dags test`` (``prepared.during`` alongside); success, seconds, notes."""
    log_path = HOME / f"{dag_id}.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "dags", "test", dag_id, "--conf", json.dumps(prepared.conf)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        notes, watcher = _watch(prepared, lambda: proc.poll() is not None)
        try:
            returncode = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            returncode = proc.wait()
        if watcher is not None:
            watcher.join(timeout=30)
    elapsed = time.monotonic() - started
    text = log_path.read_text(errors="replace")
    notes += [f"returned: {_short(m.group(1))}" for m in RETURNED.finditer(text)]
    if "Pausing task as DEFERRED" in text:
        notes.insert(0, "deferred to the triggerer while the remote work ran")
    ok = returncode == 0 and "state=success" in text.replace("'", "").replace('"', "")
    return ok, elapsed, notes


def _watch(prepared: Prepared, ended: Callable[[], bool]) -> tuple[list[str], threading.Thread | None]:
    """Start ``prepared.during`` in a thread; its notes land in the returned list."""
    notes: list[str] = []
    if prepared.during is None:
        return notes, None
    during = prepared.during
    watcher = threading.Thread(target=lambda: notes.extend(during(ended)), name="demo-during", daemon=True)
    watcher.start()
    return notes, watcher


def stream_note(sim: SimulatorClient, before: dict, used: dict) -> str | None:
    """What the registry job's event stream carried during a run, and how often the job was read."""
    after = sim.stream_stats()
    opened = after["opened"] - before["opened"]
    if not opened:
        return None
    events = after["job_events_sent"] - before["job_events_sent"]
    return (f"event stream: {opened} connection(s), {events} job event(s) sent while the sensor waited; "
            f"the job was read {used.get(JOB_READS, 0)} time(s)")


def _short(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    proc, url = start_simulator()
    print(f"Simulator on {url} (log: {HOME / 'simulator.log'})")
    failures = 0
    try:
        env = airflow_env(url)
        sim = SimulatorClient(url)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        for dag_id, prepare in RUNS.items():
            prepared = prepare(sim)
            before, streams = sim.counters()["requests"], sim.stream_stats()
            ok, elapsed, notes = run_dag(dag_id, prepared, env)
            after = sim.counters()["requests"]
            used = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
            stream = stream_note(sim, streams, used)
            notes += [stream] if stream else []
            failures += not ok
            print(f"\n{'OK ' if ok else 'FAILED'} {dag_id}  ({elapsed:.1f} s, log: {HOME / (dag_id + '.log')})")
            for note in notes:
                print(f"   {note}")
            print("   requests to the API: " + ", ".join(f"{k} x{v}" for k, v in sorted(used.items())))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"\n{len(RUNS) - failures} of {len(RUNS)} DAG(s) succeeded.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
