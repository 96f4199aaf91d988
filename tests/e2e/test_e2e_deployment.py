"""End to end: a real Airflow deployment (separate api-server, scheduler, dag-processor, triggerer
processes; LocalExecutor; SQLite) against the simulator, under restarts.

The tests share one deployment (module scope) and run in order:

- A: 50 deferred waits over the five APIs; the triggerer is SIGKILLed three times while they wait
  (each time once the new triggerer has adopted them); every task ends as designed and each
  starting task sent exactly one start request.
- B: two triggerers at once; a fresh set of deferred waits completes exactly once each.
- C: worker-side waits (``deferrable=False``, ``retries=1``) whose task process is SIGKILLed after the
  start was accepted and recorded; the retry resumes waiting on the same remote work.
- E: ``timeout`` / ``execution_timeout`` reached while deferred: SuperOffice tasks are stopped, a
  Waylay batch goes on remotely, and the messages say so.
- D (last): every secret of the run is searched for in every log file, XCom, the trigger rows (seen
  during the waits, decrypted) and the rest of the metadata database.

Figures go to docs/reliability.md (sections ``e2e``, ``timeouts``, ``secrets``). Skip with
``-m "not e2e"``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import airflow
import pytest
import requests

from airflow_provider_batchops.simulator import MAMMOTH_API_SECRET, SIM_API_KEY, SIM_API_SECRET
from airflow_provider_batchops.simulator.superoffice import (
    SO_ACCESS_TOKEN,
    SO_APP_TOKEN,
    SO_PASSWORD,
    SO_TICKET,
    SO_USER,
)
from tests.support import reliability_report
from tests.support.e2e_harness import Deployment, wait_until

pytestmark = pytest.mark.e2e

PARALLELISM = 8
MAMMOTH_DELETE = "DELETE /api/v2/workspaces/{workspace_id}/projects/{project_id}/datasets/{dataset_id}/batches"
#: The start route of each kind of starting task (the registry sensor starts nothing).
STARTS = {
    "rules": "POST /rules/v1/batch",
    "resources": "POST /resources/v1/batch",
    "mammoth": MAMMOTH_DELETE,
    "superoffice": "POST /{tenant}/api/v1/BatchTask",
}
SO_TENANT = "Cust12345"
SO_HEADERS = {"Authorization": f"Bearer {SO_ACCESS_TOKEN}"}
SO_RUNNING = ("New", "Aquired", "Started")
FAILED_JOB_REASON = "deploy failed on purpose (e2e)"
#: Kinds of task in the wait DAGs, in the order the DAG defines them.
KINDS = ("rules", "resources", "registry", "mammoth", "superoffice")

E2E = reliability_report.section(
    "e2e",
    "End to end: a real deployment under restarts",
    ["scenario", "tasks", "outcome", "starts counted", "duplicate starts", "triggerer kills", "wall time"],
    intro=(
        f"Apache Airflow {airflow.__version__} run as separate processes (`airflow api-server`, `scheduler`, "
        f"`dag-processor`, `triggerer`), LocalExecutor with parallelism {PARALLELISM}, metadata database "
        f"SQLite {sqlite3.sqlite_version} (WAL journal) in a throw-away `AIRFLOW_HOME`; the DAGs "
        "(`tests/e2e/dags`) talk to the simulator on 127.0.0.1 (`tests/e2e/test_e2e_deployment.py`). "
        "A kill is SIGKILL to the triggerer's process group (the triggerer and its trigger runner), "
        "followed by a fresh `airflow triggerer`. *Starts counted* is what the simulator counted on the "
        "start routes (rules/resources batch, Mammoth delete, SuperOffice BatchTask); registry job "
        "sensors start nothing. *Wall time* runs from triggering the DAG run to its end."
    ),
)
TIMEOUTS = reliability_report.section(
    "timeouts",
    "Timeouts while deferred",
    ["task", "limit", "ended after", "message says", "remote work afterwards"],
    intro=("Deferred tasks of the e2e deployment whose `timeout` or `execution_timeout` passes while the "
           "trigger waits: the trigger reads the status at the deadline, the task resumes, stops the remote "
           "work where the API allows it and fails with a message saying what happened."),
)
SECRETS = reliability_report.section(
    "secrets",
    "Secrets in logs, XCom and the metadata database",
    ["where scanned", "items scanned", "hits"],
    intro=("After the e2e runs, every secret the deployment used is searched for: the Waylay API secret "
           "(and key:secret in base64), every Waylay token the simulator issued (any JWT whose claims carry "
           "the simulator's domain), the SuperOffice access token (and the unused ticket, app token, "
           "password), the Mammoth API secret. Trigger rows are captured while tasks wait (they are deleted "
           "once the trigger fires) and their kwargs decrypted with the deployment's Fernet key."),
)

#: Trigger rows seen while tasks waited, by (id, created_date): rows go once their trigger fired, and
#: SQLite may hand a freed id to a later trigger.
SEEN_TRIGGERS: dict[tuple[int, str], dict[str, Any]] = {}
#: DAG runs of the scenario tests: (dag_id, run_id).
RUNS: list[tuple[str, str]] = []
#: Simulator request counts of the whole module (each test resets the simulator's counters).
TOTALS: Counter[str] = Counter()


# -- the deployment ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("e2e")
    deploy = Deployment(root, parallelism=PARALLELISM)
    started = time.monotonic()
    try:
        deploy.start_simulator("--seed", "11", "--batch-delay", "1", "--job-step-delay", "1",
                               "--so-step-delay", "0.5", "--mammoth-job-delay", "1")
        deploy.start(triggerers=1)
        deploy.wait_dags(["e2e_restarts", "e2e_two_triggerers", "e2e_retry_resume", "e2e_timeouts"])
        deploy.sim.reset()  # count only what the deployment sends from now on
        E2E.note(f"Deployment up (migrate, four processes healthy, DAGs parsed) in {time.monotonic() - started:.0f} s.")
        yield deploy
    finally:
        deploy.stop()
        print(f"\ne2e deployment files: {root}")


def sim_config(deploy: Deployment, **settings: float) -> None:
    deploy.sim.configure(settings)


def reset_counters(deploy: Deployment) -> None:
    """Start counting afresh (remembering the counts so far for the whole-run totals)."""
    TOTALS.update(deploy.counters())
    deploy.sim.reset()


def snapshot_triggers(deploy: Deployment) -> None:
    for row in deploy.triggers():
        SEEN_TRIGGERS.setdefault((int(row["id"]), str(row["created_date"])), row)


def prepare_waits(deploy: Deployment, prefix: str, count: int, registry_step_delay: float) -> dict[str, Any]:
    """Seed the simulator for ``count`` waits per API; return the run conf naming the remote objects."""
    conf: dict[str, Any] = {"rules": [], "resources": [], "registry": [], "mammoth": []}
    tasks, resources = [], []
    for n in range(count):
        rule_ids = [f"{prefix}-rule-{n}-{k}" for k in range(3)]
        resource_ids = [f"{prefix}-res-{n}-{k}" for k in range(3)]
        tasks += [{"id": i, "name": i, "type": "onetime", "status": "stopped"} for i in rule_ids]
        resources += [{"id": i, "name": i, "resourceTypeId": "sensor"} for i in resource_ids]
        conf["rules"].append(rule_ids)
        conf["resources"].append(resource_ids)
        failing = n == count - 1
        job = deploy.sim.create_job(
            type="deploy", step_delay=registry_step_delay,
            function={"functionType": "plugs", "name": f"{prefix}-plug-{n}", "version": "1.0.0"},
            **({"outcome": "failed", "failed_reason": FAILED_JOB_REASON} if failing else {}),
        )
        conf["registry"].append(job["id"])
    deploy.sim.put_tasks(tasks)
    deploy.sim.put_resources(resources)
    added = deploy.sim.add_mammoth_batches(workspace_id=4, project_id=1020, dataset_id=3453, count=2 * count,
                                           name_prefix=prefix)
    conf["mammoth"] = [added["ids"][2 * n: 2 * n + 2] for n in range(count)]
    return conf


def expected_outcomes(count: int) -> dict[str, str]:
    """The last registry job and the last SuperOffice task (``FailingExport``) fail on purpose."""
    return {f"{kind}_{n}": "failed" if n == count - 1 and kind in ("registry", "superoffice") else "success"
            for kind in KINDS for n in range(count)}


def start_counts(counters: dict[str, int]) -> dict[str, int]:
    return {kind: counters.get(route, 0) for kind, route in STARTS.items()}


def deferred(deploy: Deployment, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The run's deferred task instances with the triggerer job holding their trigger (or None)."""
    rows = deploy.query(
        "SELECT ti.task_id, ti.trigger_id, t.triggerer_id FROM task_instance ti LEFT JOIN trigger t "
        "ON t.id = ti.trigger_id WHERE ti.dag_id=? AND ti.run_id=? AND ti.state='deferred'", [dag_id, run_id])
    return [dict(r) for r in rows]


def newest_triggerer_job(deploy: Deployment, after: int) -> int | None:
    jobs = [j for j in deploy.triggerer_jobs() if j["id"] > after and j["state"] == "running"]
    return max((j["id"] for j in jobs), default=None)


def wait_triggerer_job(deploy: Deployment, after: int, timeout: float = 90) -> int:
    found: int = wait_until("a new triggerer job", lambda: newest_triggerer_job(deploy, after), timeout,
                            on_timeout=deploy.describe)
    return found


def running_in(deploy: Deployment, dag_id: str, run_id: str, job: int) -> set[str]:
    """Tasks of the run whose trigger has started in triggerer job ``job`` (its trigger log says so)."""
    folder = deploy.logs / f"dag_id={dag_id}" / f"run_id={run_id}"
    found = set()
    for path in folder.glob(f"task_id=*/attempt=1.log.trigger.{job}.log"):
        if " starting" in path.read_text(errors="replace"):
            found.add(path.parent.name.removeprefix("task_id="))
    return found


def log_events(text: str) -> list[str]:
    """The ``event`` of every JSON log line (task and trigger logs are JSON lines)."""
    events = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            events.append(line)
            continue
        if isinstance(record, dict):
            events.append(str(record.get("event", "")))
            for error in record.get("error_detail") or []:
                if isinstance(error, dict):
                    events.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
    return events


def task_error(deploy: Deployment, dag_id: str, run_id: str, task: str) -> str:
    """The exception a task failed with (``Type: message``), from its log."""
    errors = [e for e in failure_text(deploy, dag_id, run_id, task).splitlines() if "Error: " in e]
    return errors[-1] if errors else ""


def count_in(events: list[str], needle: str) -> int:
    return sum(needle in e for e in events)


def check_outcomes(deploy: Deployment, dag_id: str, run_id: str, expected: dict[str, str]) -> list[str]:
    """Tasks whose end differs from the design, with the exception a failed one logged."""
    tis = deploy.task_instances(dag_id, run_id)
    errors = deploy.task_errors(dag_id, run_id)
    return [f"{task}: {tis.get(task, {}).get('state')} (expected {want}) {errors.get(task, '')}".strip()
            for task, want in expected.items() if tis.get(task, {}).get("state") != want]


def check_ran_once(deploy: Deployment, dag_id: str, run_id: str, tasks: list[str]) -> list[str]:
    """Each deferred task: one deferral, one trigger event, two runs in its try (execute, execute_complete).

    A run of the task process starts by loading the DAG file ("Filling up the DagBag from ..."), in
    Airflow 3.1 and 3.3 alike. The triggerer writes a trigger's log file as it goes: right after the
    run ends, the last lines of the triggers that fired last may not be on disk yet, so the logs of a
    task that does not match yet are read again for up to 30 s (bounded, 1 s apart).
    """
    problems: list[str] = []
    pending = list(tasks)
    for _ in range(31):
        problems = [problem for task in pending if (problem := _ran_once_problem(deploy, dag_id, run_id, task))]
        if not problems:
            return []
        pending = [problem.split(":", 1)[0] for problem in problems]
        time.sleep(1)
    return problems


def _ran_once_problem(deploy: Deployment, dag_id: str, run_id: str, task: str) -> str | None:
    logs = deploy.task_logs(dag_id, run_id, task)
    task_log = log_events(logs.get("attempt=1.log", ""))
    trigger_logs = [log_events(text) for name, text in logs.items() if ".trigger." in name]
    fired = sum(count_in(events, "Trigger fired event") for events in trigger_logs)
    counts = (count_in(task_log, "Pausing task as DEFERRED"), fired, count_in(task_log, "Filling up the DagBag from"))
    if counts != (1, 1, 2) or set(logs) - {"attempt=1.log"} == set():
        return f"{task}: deferrals/trigger events/task runs = {counts}, log files {sorted(logs)}"
    return None


def failure_text(deploy: Deployment, dag_id: str, run_id: str, task: str, attempt: int = 1) -> str:
    return "\n".join(log_events(deploy.task_logs(dag_id, run_id, task).get(f"attempt={attempt}.log", "")))


def record_scenario(name: str, tis: dict[str, dict[str, Any]], starts: dict[str, int], expected_starts: int,
                    kills: int, seconds: float) -> None:
    states = Counter(ti["state"] for ti in tis.values())
    outcome = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    total = sum(starts.values())
    duplicates = sum(max(0, n - expected_starts // len(STARTS)) for n in starts.values())
    E2E.add(name, len(tis), outcome + " (as designed)", f"{total} for {expected_starts} starting tasks",
            duplicates, kills, f"{seconds:.0f} s")


# -- A: the triggerer killed three times ---------------------------------------------------------------
def test_a_deferred_waits_survive_three_triggerer_kills(deployment: Deployment) -> None:
    deploy, dag_id, run_id, count = deployment, "e2e_restarts", "restarts-1", 10
    # Batches and jobs run long enough to outlast the start of all 50 tasks and the three kills (about
    # 30-45 s and 3 x 10 s on 2 busy cores); SuperOffice tasks run until told otherwise (their steps
    # are read lazily), so the test ends them after the last kill.
    remote = 100.0
    reset_counters(deploy)
    sim_config(deploy, batch_delay=remote, mammoth_job_delay=remote, so_step_delay=60)
    conf = prepare_waits(deploy, "a", count, registry_step_delay=remote / 2)
    expected = expected_outcomes(count)
    started = time.monotonic()
    deploy.trigger_run(dag_id, run_id, conf)
    RUNS.append((dag_id, run_id))

    def all_deferred() -> bool:
        deploy.check_alive()
        snapshot_triggers(deploy)
        ended = {t: ti["state"] for t, ti in deploy.task_instances(dag_id, run_id).items()
                 if ti["state"] in ("success", "failed", "up_for_retry")}
        if ended:  # nothing may end before the kills: fail now, with the reasons
            raise AssertionError(f"tasks ended before the kills: {ended}; {deploy.task_errors(dag_id, run_id)}")
        waits = deferred(deploy, dag_id, run_id)
        return len(waits) == len(expected) and all(w["triggerer_id"] is not None for w in waits)

    wait_until(f"{len(expected)} waits deferred to the triggerer", all_deferred, 240, tick=1,
               on_timeout=lambda: str(Counter(t["state"] for t in deploy.task_instances(dag_id, run_id).values())))
    time_to_defer = time.monotonic() - started
    job = max(j["id"] for j in deploy.triggerer_jobs())
    in_progress: list[int] = []
    last_kill = 0.0
    adoption: list[float] = []
    triggerer = deploy.procs["triggerer-1"]
    for _kill in range(3):
        # The waits are running in this triggerer: each trigger has logged its start there.
        wait_until(f"every trigger started in triggerer job {job}",
                   lambda j=job: running_in(deploy, dag_id, run_id, j) == set(expected), 60, tick=0.5,
                   on_timeout=lambda j=job: str(set(expected) - running_in(deploy, dag_id, run_id, j)))
        snapshot_triggers(deploy)
        waits = deferred(deploy, dag_id, run_id)
        assert {w["triggerer_id"] for w in waits} == {job}, waits
        in_progress.append(len(waits))
        deploy.kill(triggerer, signal.SIGKILL)
        killed_at = time.monotonic()
        last_kill = killed_at - started
        triggerer = deploy.start_triggerer()
        job = wait_triggerer_job(deploy, after=job)

        def adopted(new_job: int = job) -> bool:
            deploy.check_alive()
            waits = deferred(deploy, dag_id, run_id)
            return bool(waits) and all(w["triggerer_id"] == new_job for w in waits)

        wait_until(f"triggers adopted by triggerer job {job}", adopted, 90, tick=0.5,
                   on_timeout=lambda: f"{deferred(deploy, dag_id, run_id)}; {deploy.triggerer_jobs()}")
        adoption.append(time.monotonic() - killed_at)
    # Every kill hit waits in progress: all of them were still deferred.
    assert in_progress == [len(expected)] * 3, f"waits in progress at the kills: {in_progress}"
    sim_config(deploy, so_step_delay=0.2)  # the SuperOffice tasks now reach their end
    tis = deploy.wait_run(dag_id, run_id, timeout=240)
    seconds = time.monotonic() - started

    assert check_outcomes(deploy, dag_id, run_id, expected) == []
    assert {ti["try_number"] for ti in tis.values()} == {1}  # no retry anywhere
    starts = start_counts(deploy.counters())
    assert starts == dict.fromkeys(STARTS, count), starts  # exactly one start per starting task
    assert check_ran_once(deploy, dag_id, run_id, sorted(expected)) == []
    assert FAILED_JOB_REASON in failure_text(deploy, dag_id, run_id, f"registry_{count - 1}")
    assert "Disk full" in failure_text(deploy, dag_id, run_id, f"superoffice_{count - 1}")
    # The waits ran in each of the four triggerers in turn: one trigger log per triggerer per task.
    per_task = {len([n for n in deploy.task_logs(dag_id, run_id, t) if ".trigger." in n]) for t in expected}
    assert per_task == {4}, per_task
    record_scenario("A: 50 deferred waits, triggerer SIGKILLed 3 times", tis, starts, 4 * count, 3, seconds)
    E2E.note(f"A: all 50 waits deferred {time_to_defer:.0f} s after the trigger, the last kill came "
             f"{last_kill:.0f} s after it (remote work lasts {remote:.0f} s from its start); waits in progress at the kills: "
             f"{', '.join(map(str, in_progress))}; triggers adopted by the new triggerer "
             f"{', '.join(f'{s:.0f}' for s in adoption)} s after each kill "
             "(`[triggerer] triggerer_health_check_threshold` = 6 s); every task ran once per try "
             "(one deferral, one trigger event, try_number 1).")


# -- B: two triggerers ------------------------------------------------------------------------------
def test_b_two_triggerers_complete_each_wait_once(deployment: Deployment) -> None:
    deploy, dag_id, run_id, count = deployment, "e2e_two_triggerers", "two-triggerers-1", 4
    jobs_before = max(j["id"] for j in deploy.triggerer_jobs())
    deploy.start_triggerer()
    second = wait_triggerer_job(deploy, after=jobs_before)
    remote = 30.0
    reset_counters(deploy)
    sim_config(deploy, batch_delay=remote, mammoth_job_delay=remote, so_step_delay=remote / 5)
    conf = prepare_waits(deploy, "b", count, registry_step_delay=remote / 2)
    expected = expected_outcomes(count)
    started = time.monotonic()
    deploy.trigger_run(dag_id, run_id, conf)
    RUNS.append((dag_id, run_id))
    holders: dict[str, set[int]] = {}

    def finished() -> dict[str, dict[str, Any]] | None:
        deploy.check_alive()
        snapshot_triggers(deploy)
        for wait in deferred(deploy, dag_id, run_id):
            if wait["triggerer_id"] is not None:
                holders.setdefault(wait["task_id"], set()).add(wait["triggerer_id"])
        tis = deploy.task_instances(dag_id, run_id)
        done = len(tis) == len(expected) and all(t["state"] in ("success", "failed") for t in tis.values())
        return tis if done and deploy.run_state(dag_id, run_id) in ("success", "failed") else None

    tis = wait_until(f"run {run_id} finished", finished, 240, tick=1,
                     on_timeout=lambda: str(Counter(t["state"] for t in deploy.task_instances(dag_id, run_id).values())))
    seconds = time.monotonic() - started
    alive = [j for j in deploy.triggerer_jobs() if j["id"] in (jobs_before, second)]

    assert len(alive) == 2 and all(j["state"] == "running" for j in alive), alive
    assert check_outcomes(deploy, dag_id, run_id, expected) == []
    assert {ti["try_number"] for ti in tis.values()} == {1}
    starts = start_counts(deploy.counters())
    assert starts == dict.fromkeys(STARTS, count), starts
    assert check_ran_once(deploy, dag_id, run_id, sorted(expected)) == []
    assert set(holders) == set(expected)  # every wait was seen deferred with a triggerer
    per_job = Counter(job for held in holders.values() for job in held)
    # Which triggerer picks a trigger up is Airflow's choice: with spare capacity one may take all
    # of them (seen on 3.1.8). Both ran throughout (asserted above); the split is recorded.
    assert set(per_job) <= {jobs_before, second}, per_job
    record_scenario("B: two triggerers at once", tis, starts, 4 * count, 0, seconds)
    E2E.note(f"B: triggers held per triggerer job: {dict(sorted(per_job.items()))}; each wait fired one trigger "
             "event and resumed once.")


# -- C: retries resume -------------------------------------------------------------------------------
def test_c_retry_after_worker_kill_resumes_the_same_remote_work(deployment: Deployment) -> None:
    deploy, dag_id, run_id = deployment, "e2e_retry_resume", "retry-resume-1"
    remote = 30.0
    reset_counters(deploy)
    sim_config(deploy, batch_delay=remote, mammoth_job_delay=remote, so_step_delay=remote / 5)
    rule_ids = [f"c-rule-{k}" for k in range(3)]
    deploy.sim.put_tasks([{"id": i, "name": i, "type": "onetime", "status": "stopped"} for i in rule_ids])
    batches = deploy.sim.add_mammoth_batches(workspace_id=4, project_id=1020, dataset_id=3453, count=2,
                                             name_prefix="c")
    keys = {"rules": "batch_id", "superoffice": "batch_task_id", "mammoth": "job_ids"}
    routes = {"rules": STARTS["rules"], "superoffice": STARTS["superoffice"], "mammoth": STARTS["mammoth"]}
    started = time.monotonic()
    deploy.trigger_run(dag_id, run_id, {"rules": rule_ids, "mammoth": batches["ids"]})
    RUNS.append((dag_id, run_id))

    def accepted_and_recorded() -> bool:
        """Try 1 of each task wrote its pid, its start reached the simulator and its id is in XCom.

        The id goes to XCom right after the resume store, so a kill now is a kill after the start
        was accepted and recorded (a crash between the answer and the record would start again).
        """
        deploy.check_alive()
        pids = deploy.pid_files()
        counters = deploy.counters()
        xcoms = {(r["task_id"], r["key"]) for r in deploy.query(
            "SELECT task_id, key FROM xcom WHERE dag_id=? AND run_id=?", [dag_id, run_id])}
        return all(f"{dag_id}.{task}.1" in pids and counters.get(routes[task], 0) == 1 and (task, key) in xcoms
                   for task, key in keys.items())

    wait_until("every task started its remote work (try 1)", accepted_and_recorded, 120, tick=0.5,
               on_timeout=lambda: f"{deploy.pid_files()} {deploy.counters()}")
    tis = deploy.task_instances(dag_id, run_id)
    assert {t: (tis[t]["state"], tis[t]["try_number"]) for t in keys} == dict.fromkeys(keys, ("running", 1))
    killed = {}
    for task in keys:
        pid = deploy.pid_files()[f"{dag_id}.{task}.1"]
        assert Path(f"/proc/{pid}").exists(), f"task process {pid} of {task} is gone before the kill"
        os.kill(pid, signal.SIGKILL)
        killed[task] = pid
    tis = deploy.wait_run(dag_id, run_id, timeout=180)
    seconds = time.monotonic() - started

    assert {t: (tis[t]["state"], tis[t]["try_number"]) for t in keys} == dict.fromkeys(keys, ("success", 2)), \
        deploy.task_errors(dag_id, run_id)
    counters = deploy.counters()
    starts = {task: counters.get(route, 0) for task, route in routes.items()}
    assert starts == dict.fromkeys(keys, 1), starts  # the retry started nothing
    for task in keys:
        first_try = failure_text(deploy, dag_id, run_id, task, attempt=1)
        assert "terminated by signal" in first_try, first_try[-2000:]  # the supervisor saw the SIGKILL
        second_try = failure_text(deploy, dag_id, run_id, task, attempt=2)
        assert "Resuming: an earlier try started" in second_try, second_try[-2000:]
        assert "Started " not in second_try
    leftovers = resume_entries(deploy, dag_id, run_id)
    running = [row for row in leftovers if row.get("key") != "finished"]
    assert running == [], running  # the record of the running work is removed once the work finished
    finished = {row["task_id"]: json.loads(row["value"]) for row in leftovers if row.get("key") == "finished"}
    if has_task_state_store(deploy):  # Airflow 3.3+: a finished entry for a retry of a try lost while finishing
        assert set(finished) == set(keys), finished
        assert all(entry["series"] == 1 for entry in finished.values()), finished  # max_tries, kept by the retry
    else:  # the Variable fallback keeps none
        assert finished == {}, finished
    E2E.add("C: worker task process SIGKILLed after the start, retries=1", len(tis),
            "3 success on try 2, each resumed the remote work of try 1",
            f"{sum(starts.values())} for 3 starting tasks", 0, 0, f"{seconds:.0f} s")
    E2E.note(f"C: resume store: {'task state store' if has_task_state_store(deploy) else 'Airflow Variable'}; "
             "the task process (pid written by `on_execute_callback`) was SIGKILLed once the start had "
             "reached the simulator and the id was in XCom; the supervisor logged the kill and the "
             "scheduler ran try 2 after `retry_delay` (2 s).")


def has_task_state_store(deploy: Deployment) -> bool:
    return bool(deploy.query("SELECT name FROM sqlite_master WHERE type='table' AND name='task_state_store'"))


def resume_entries(deploy: Deployment, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """What is left of the resume records of a run (task state store rows or Variables)."""
    rows = []
    if has_task_state_store(deploy):
        rows += [dict(r) for r in deploy.query("SELECT * FROM task_state_store WHERE dag_id=? AND run_id=?",
                                               [dag_id, run_id])]
    rows += [dict(r) for r in deploy.query("SELECT key FROM variable WHERE key LIKE ?",
                                           [f"batchops.resume.{dag_id}.{run_id}.%"])]
    return rows


# -- E: timeouts while deferred ------------------------------------------------------------------------
def so_task(deploy: Deployment, task_id: int) -> dict[str, Any]:
    response = requests.get(f"{deploy.sim_url}/{SO_TENANT}/api/v1/BatchTask/{task_id}", headers=SO_HEADERS, timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def so_running(deploy: Deployment) -> list[int]:
    response = requests.get(f"{deploy.sim_url}/{SO_TENANT}/api/v1/BatchTask/All", headers=SO_HEADERS, timeout=10)
    response.raise_for_status()
    return [t["Id"] for t in response.json() if t["State"] in SO_RUNNING]


def xcom_value(deploy: Deployment, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    rows = deploy.query("SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id=? AND key=?",
                        [dag_id, run_id, task_id, key])
    assert rows, f"no XCom {key} for {task_id}"
    value = rows[0]["value"]
    return json.loads(value) if isinstance(value, str | bytes) else value


def test_e_timeouts_while_deferred_stop_superoffice_and_say_waylay_goes_on(deployment: Deployment) -> None:
    deploy, dag_id, run_id = deployment, "e2e_timeouts", "timeouts-1"
    reset_counters(deploy)
    sim_config(deploy, batch_delay=90, so_step_delay=30)  # far beyond the 8 s / 10 s limits
    rule_ids = [f"e-rule-{k}" for k in range(3)]
    deploy.sim.put_tasks([{"id": i, "name": i, "type": "onetime", "status": "stopped"} for i in rule_ids])
    started = time.monotonic()
    deploy.trigger_run(dag_id, run_id, {"rules": rule_ids})
    RUNS.append((dag_id, run_id))

    def finished() -> dict[str, dict[str, Any]] | None:
        deploy.check_alive()
        snapshot_triggers(deploy)
        tis = deploy.task_instances(dag_id, run_id)
        done = len(tis) == 3 and all(t["state"] in ("success", "failed") for t in tis.values())
        return tis if done else None

    tis = wait_until(f"run {run_id} finished", finished, 150, tick=1,
                     on_timeout=lambda: str({k: v["state"] for k, v in deploy.task_instances(dag_id, run_id).items()}))
    still_there = {t["id"] for t in deploy.sim.tasks()} & set(rule_ids)
    sim_config(deploy, batch_delay=1, so_step_delay=0.5)

    assert {t: ti["state"] for t, ti in tis.items()} == dict.fromkeys(tis, "failed")
    assert {ti["try_number"] for ti in tis.values()} == {1}
    for task, limit in (("superoffice_timeout", "timeout=8 s"), ("superoffice_execution_timeout",
                                                                  "execution_timeout=10 s")):
        text = failure_text(deploy, dag_id, run_id, task)
        assert "did not finish before the deadline" in text and "it was stopped" in text, text[-2000:]
        remote = so_task(deploy, int(xcom_value(deploy, dag_id, run_id, task, "batch_task_id")))
        assert (remote["State"], remote["Result"]) == ("Failed", "Stopped"), remote
        TIMEOUTS.add(f"SuperOffice BatchTask, {task}", limit, f"{duration(tis[task]):.0f} s",
                     task_error(deploy, dag_id, run_id, task), f"State {remote['State']}, Result {remote['Result']}")
    text = failure_text(deploy, dag_id, run_id, "waylay_timeout")
    assert "did not finish before the deadline" in text and "goes on remotely" in text, text[-2000:]
    assert still_there == set(rule_ids)  # the batch had not finished: the tasks were still there
    TIMEOUTS.add("Waylay rules delete batch, waylay_timeout", "timeout=8 s", f"{duration(tis['waylay_timeout']):.0f} s",
                 task_error(deploy, dag_id, run_id, "waylay_timeout"),
                 "batch still running (its tasks not yet deleted when the task failed)")
    for task in tis:
        assert 8 <= duration(tis[task]) <= 60, (task, duration(tis[task]))
    running = so_running(deploy)
    assert running == [], running  # nothing any DAG started is left running in SuperOffice
    TIMEOUTS.note(f"Run wall time {time.monotonic() - started:.0f} s; afterwards no SuperOffice batch task "
                  "started by any e2e DAG was left in New, Aquired or Started.")


def duration(ti: dict[str, Any]) -> float:
    """Seconds from the task's first start to its end (the try spans the deferral)."""
    from datetime import datetime

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))

    return (parse(ti["end_date"]) - parse(ti["start_date"])).total_seconds()


# -- D: secrets ------------------------------------------------------------------------------------
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def secret_values() -> dict[str, str]:
    basic = base64.b64encode(f"{SIM_API_KEY}:{SIM_API_SECRET}".encode()).decode()
    return {
        "Waylay API secret": SIM_API_SECRET,
        "Waylay key:secret (basic)": basic,
        "SuperOffice access token": SO_ACCESS_TOKEN,
        "SuperOffice ticket": SO_TICKET,
        "SuperOffice app token": SO_APP_TOKEN,
        "SuperOffice password": SO_PASSWORD,
        "SuperOffice basic credentials": base64.b64encode(f"{SO_USER}:{SO_PASSWORD}".encode()).decode(),
        "Mammoth API secret": MAMMOTH_API_SECRET,
    }


class Scanner:
    """Counts items scanned and the secrets found in them (names only, never values)."""

    def __init__(self) -> None:
        self.secrets = secret_values()
        self.hits: list[str] = []

    def scan(self, where: str, text: str) -> None:
        for name, value in self.secrets.items():
            if value in text:
                self.hits.append(f"{name} in {where}")
        for token in JWT.findall(text):
            if jwt_claims(token).get("domain") == "simulator.local":
                self.hits.append(f"a Waylay token issued by the simulator in {where}")


def decrypt(fernet_key: str, value: str) -> str:
    from cryptography.fernet import Fernet, InvalidToken

    if value.startswith("{"):
        return value
    try:
        return Fernet(fernet_key.encode()).decrypt(value.encode()).decode()
    except InvalidToken:
        return value


def test_d_no_secret_in_logs_xcom_or_the_database(deployment: Deployment) -> None:
    if not RUNS:
        pytest.skip("scans what the scenario tests A-E left behind; run it with them")
    deploy = deployment
    deploy.check_alive("simulator")
    issued = TOTALS["POST /accounts/v1/tokens"] + deploy.counters().get("POST /accounts/v1/tokens", 0)
    # The detector knows a Waylay token when it sees one (a fresh token, never given to Airflow).
    sample = requests.post(f"{deploy.sim_url}/accounts/v1/tokens", params={"grant_type": "client_credentials"},
                           json={"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET}, timeout=10).json()["token"]
    probe = Scanner()
    probe.scan("probe", f"Authorization: Bearer {sample}")
    assert probe.hits == ["a Waylay token issued by the simulator in probe"]

    scanner = Scanner()
    task_logs = [p for p in deploy.logs.rglob("*") if p.is_file() and "dag_id=" in p.parts[-4]]
    other_logs = [p for p in deploy.logs.rglob("*") if p.is_file() and p not in task_logs]
    process_logs = [p for p in deploy.proc_logs.glob("*.log") if p.name != "simulator.log"]
    for group, paths in (("task and trigger logs", task_logs), ("other Airflow log files", other_logs),
                         ("process logs", process_logs)):
        before = len(scanner.hits)
        for path in paths:
            scanner.scan(str(path), path.read_text(errors="replace"))
        SECRETS.add(group, f"{len(paths)} files, {sum(p.stat().st_size for p in paths) // 1024} KiB",
                    len(scanner.hits) - before)
    # Positive control: the scanned task logs hold the remote ids the tasks handled.
    assert any("Waylay accepted batch" in p.read_text(errors="replace") for p in task_logs)

    xcoms = deploy.query("SELECT * FROM xcom")
    before = len(scanner.hits)
    for row in xcoms:
        scanner.scan(f"xcom {row['dag_id']}/{row['run_id']}/{row['task_id']}/{row['key']}", str(row["value"]))
    SECRETS.add("XCom values", f"{len(xcoms)} rows", len(scanner.hits) - before)
    assert any(row["key"] == "batch_task_id" for row in xcoms)

    snapshot_triggers(deploy)
    triggers = dict(SEEN_TRIGGERS)
    before = len(scanner.hits)
    decrypted = []
    for (trigger_id, _created), row in triggers.items():
        kwargs = decrypt(deploy.fernet_key, str(row["kwargs"]))
        decrypted.append(kwargs)
        scanner.scan(f"trigger {trigger_id}", f"{row['classpath']} {row['kwargs']} {kwargs}")
    encrypted = sum(not str(row["kwargs"]).startswith("{") for row in triggers.values())
    SECRETS.add(f"trigger rows captured during the waits ({encrypted} of them Fernet-encrypted, decrypted)",
                f"{len(triggers)} rows", len(scanner.hits) - before)
    # Every deferral of A, B and E was captured, and decryption worked (the connection ids are readable).
    assert len(triggers) >= 50 + 20 + 3
    assert sum("_conn_id" in text for text in decrypted) == len(triggers)

    before = len(scanner.hits)
    tables = [r["name"] for r in deploy.query("SELECT name FROM sqlite_master WHERE type='table'")]
    rows = 0
    for table in tables:
        for row in deploy.query(f'SELECT * FROM "{table}"'):
            rows += 1
            values = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in tuple(row) if v is not None]
            scanner.scan(f"table {table}", " ".join(values))
    SECRETS.add(f"metadata database, every row of {len(tables)} tables", f"{rows} rows", len(scanner.hits) - before)
    SECRETS.note(f"Waylay tokens issued by the simulator to the deployment: {issued} (each task process and "
                 "triggerer fetches its own); the detector was checked on a fresh token first.")
    if not encrypted:
        SECRETS.note("Airflow stores the kwargs of triggers deferred by a task as plain JSON in the `trigger` "
                     "table (the execution API encrypts only kwargs sent already encrypted), which is why "
                     "the provider keeps secrets out of trigger kwargs.")

    assert scanner.hits == [], scanner.hits

