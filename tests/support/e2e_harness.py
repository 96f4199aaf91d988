"""A throw-away Airflow deployment for the end-to-end tests, run as separate processes.

:class:`Deployment` owns a temporary directory holding ``AIRFLOW_HOME`` (SQLite metadata database,
logs), the log file of every process it starts and the pid files the test DAGs write. It starts the
simulator (``python -m airflow_provider_batchops.simulator --port 0 --port-file ...``) and
``airflow api-server``, ``airflow scheduler``, ``airflow dag-processor`` and ``airflow triggerer``,
each in its own process group with its own log file, so that one of them can be SIGKILLed with all
its children (as a crashed container would be) and the rest stay up.

Every wait is bounded in time and in iterations. The metadata database is read directly (SQLite,
read-only) to follow run and task states; runs are triggered through the REST API (the simple auth
manager with ``all_admins`` hands out a token without credentials; loopback only). :meth:`Deployment.stop` terminates, then kills, every
process it started, and is safe to call on a half-started deployment.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from airflow_provider_batchops.simulator.client import SimulatorClient

HERE = Path(__file__).resolve().parents[1] / "e2e"
DAGS = HERE / "dags"
#: Poll period of every bounded wait loop, seconds.
TICK = 0.5
FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}


class DeploymentError(AssertionError):
    """Something in the deployment did not happen in time; the message points at the logs."""


def free_port() -> int:
    """A free TCP port on the loopback interface (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], Any], timeout: float, tick: float = TICK,
               on_timeout: Callable[[], str] | None = None) -> Any:
    """Call ``check`` until it returns something truthy; bounded by ``timeout`` and an iteration count."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / tick) + 2):
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(tick)
    detail = on_timeout() if on_timeout is not None else ""
    raise DeploymentError(f"{what}: not within {timeout:.0f} s. {detail}".strip())


@dataclass
class Proc:
    """A process the deployment started (the leader of its own process group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the process group this process leads (it and its children)."""
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


class Deployment:
    """The processes and files of one end-to-end deployment (see the module docstring)."""

    def __init__(self, root: Path, *, parallelism: int = 8, extra_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.home = root / "airflow_home"
        self.logs = self.home / "logs"
        self.proc_logs = root / "process_logs"
        self.pids = root / "pids"
        self.db_path = self.home / "airflow.db"
        for folder in (self.home, self.proc_logs, self.pids):
            folder.mkdir(parents=True, exist_ok=True)
        self.parallelism = parallelism
        self.extra_env = dict(extra_env or {})
        self.procs: dict[str, Proc] = {}
        self.stopped: list[Proc] = []
        self.sim_url = ""
        self._sim: SimulatorClient | None = None
        self.api_port = 0
        self.api_url = ""
        self.fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        self.env: dict[str, str] = {}
        self._counter = 0
        self._api_token: str | None = None

    # -- environment -------------------------------------------------------------------------------
    def build_env(self) -> dict[str, str]:
        from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, SIM_API_KEY, SIM_API_SECRET
        from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN

        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW_", "AIRFLOW__", "PYTEST_", "BATCHOPS_"))}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "128",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # Quick reactions: every loop of the scheduler, triggerer and dag processor is short.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # A SIGKILLed triggerer's triggers are adopted once its heartbeat is this old.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
            "AIRFLOW__TRIGGERER__CAPACITY": "200",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "E2E_RUN_DIR": str(self.root),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_CONN_WAYLAY_DEFAULT": json.dumps(
                {"conn_type": "waylay", "host": self.sim_url, "login": SIM_API_KEY, "password": SIM_API_SECRET}),
            "AIRFLOW_CONN_SUPEROFFICE_DEFAULT": json.dumps(
                {"conn_type": "superoffice", "host": f"{self.sim_url}/Cust12345", "password": SO_ACCESS_TOKEN}),
            "AIRFLOW_CONN_MAMMOTH_DEFAULT": json.dumps(
                {"conn_type": "mammoth", "host": f"{self.sim_url}/api/v2", "login": MAMMOTH_API_KEY,
                 "password": MAMMOTH_API_SECRET, "extra": {"workspace_id": 4}}),
        })
        env.update(self.extra_env)
        self.env = env
        return env

    # -- processes ---------------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        """Start ``argv`` in a new process group, stdout and stderr to ``process_logs/<name>.log``."""
        if name in self.procs and self.procs[name].alive():
            raise DeploymentError(f"{name} is already running")
        log = self.proc_logs / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root)
        proc = Proc(name, popen, log)
        self.procs[name] = proc
        return proc

    def airflow(self, name: str, *args: str) -> Proc:
        return self.spawn(name, [sys.executable, "-m", "airflow", *args])

    def run_cli(self, *args: str, timeout: float = 300) -> str:
        """Run an ``airflow`` command to completion (bounded), return its output; raise on failure."""
        self._counter += 1
        log = self.proc_logs / f"cli-{self._counter:02d}-{args[0]}.log"
        with open(log, "wb") as out:
            done = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                                  check=False, cwd=self.root)
        text = log.read_text(errors="replace")
        if done.returncode != 0:
            raise DeploymentError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{text[-3000:]}")
        return text

    def start_simulator(self, *args: str) -> None:
        """Start the simulator; ``BATCHOPS_E2E_SIMULATOR_PYTHON`` may name another interpreter for it."""
        port_file = self.root / "simulator.port"
        python = os.environ.get("BATCHOPS_E2E_SIMULATOR_PYTHON") or sys.executable
        proc = self.spawn("simulator", [python, "-m", "airflow_provider_batchops.simulator", "--port", "0",
                                        "--port-file", str(port_file), *args], env=dict(os.environ))

        def ready() -> str:
            if not proc.alive():
                raise DeploymentError(f"the simulator exited:\n{proc.tail()}")
            return port_file.read_text().strip() if port_file.exists() else ""

        port = wait_until("simulator port file", ready, 30, tick=0.1)
        self.sim_url = f"http://127.0.0.1:{port}"
        self.check_simulator()

    def check_simulator(self) -> None:
        """Fail early, and say why, if the simulator cannot serve an authenticated Waylay route."""
        from airflow_provider_batchops.simulator import SIM_API_KEY, SIM_API_SECRET

        token = requests.post(f"{self.sim_url}/accounts/v1/tokens", params={"grant_type": "client_credentials"},
                              json={"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET}, timeout=10)
        headers = {"Authorization": f"Bearer {token.json().get('token')}"} if token.ok else {}
        probe = requests.get(f"{self.sim_url}/rules/v1/batch/e2e-preflight", headers=headers, timeout=10)
        if not token.ok or probe.status_code != 404:
            import fastapi

            raise DeploymentError(
                f"the simulator does not serve authenticated Waylay requests (FastAPI {fastapi.__version__}): "
                f"token {token.status_code}, GET /rules/v1/batch/<unknown id> {probe.status_code} "
                f"{probe.text[:200]}; BATCHOPS_E2E_SIMULATOR_PYTHON may name another interpreter for it")

    def start(self, *, triggerers: int = 1) -> None:
        """Migrate the database and start the API server, scheduler, dag processor and triggerer(s)."""
        self.build_env()
        self.run_cli("db", "migrate", timeout=600)
        # Concurrent writers (scheduler, API server, triggerers, dag processor) on one SQLite file:
        # write-ahead logging lets readers go on while one of them writes.
        with sqlite3.connect(self.db_path, timeout=30) as db:
            db.execute("PRAGMA journal_mode=WAL")
        self.airflow("api-server", "api-server", "--port", str(self.api_port), "--host", "127.0.0.1",
                     "--workers", "1")
        self.airflow("scheduler", "scheduler", "--skip-serve-logs")
        self.airflow("dag-processor", "dag-processor")
        for _ in range(triggerers):
            self.start_triggerer()
        self.wait_healthy()

    def start_triggerer(self) -> Proc:
        n = 1 + sum(1 for name in self.procs if name.startswith("triggerer-"))
        return self.airflow(f"triggerer-{n}", "triggerer", "--skip-serve-logs")

    def kill(self, proc: Proc, signum: int = signal.SIGKILL, timeout: float = 20) -> None:
        """Signal a process group and wait (bounded) for its leader to exit."""
        proc.signal_group(signum)
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.signal_group(signal.SIGKILL)
            proc.popen.wait(timeout=10)
        self.stopped.append(proc)

    def stop(self) -> None:
        """Terminate every process started (triggerers and scheduler first), then kill what is left."""
        order = sorted(self.procs.values(), key=lambda p: (p.name == "simulator", p.name == "api-server"))
        for proc in order:
            if proc.alive():
                proc.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + 12
        for proc in order:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in order:
            proc.signal_group(signal.SIGKILL)  # also children left behind by a leader that exited
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def check_alive(self, *names: str) -> None:
        for name in names or [n for n, p in self.procs.items() if p not in self.stopped]:
            proc = self.procs[name]
            if proc not in self.stopped and not proc.alive():
                raise DeploymentError(f"{name} exited ({proc.popen.returncode}); last lines:\n{proc.tail()}")

    def describe(self) -> str:
        return "; ".join(f"{p.name}: pid {p.pid} {'up' if p.alive() else 'down'}, log {p.log}"
                         for p in self.procs.values())

    # -- health ------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        try:
            response = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        except requests.RequestException:
            return {}
        return response.json() if response.ok else {}

    def wait_healthy(self, timeout: float = 150) -> None:
        def healthy() -> bool:
            self.check_alive()
            body = self.health()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return bool(body) and all((body.get(p) or {}).get("status") == "healthy" for p in parts)

        wait_until("Airflow health (api-server, scheduler, triggerer, dag-processor)", healthy, timeout, tick=1,
                   on_timeout=lambda: f"{self.health()}; {self.describe()}")

    # -- metadata database -------------------------------------------------------------------------
    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        for attempt in range(5):
            try:
                with self.db() as conn:
                    return list(conn.execute(sql, tuple(params)))
            except sqlite3.OperationalError as exc:  # "database is locked" under load: read again
                if attempt == 4 or "locked" not in str(exc):
                    raise
                time.sleep(0.5)
        return []

    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 120) -> None:
        wanted = set(dag_ids)

        def parsed() -> bool:
            self.check_alive()
            rows = self.query("SELECT dag_id FROM serialized_dag")
            return wanted <= {r["dag_id"] for r in rows}

        def errors() -> str:
            rows = self.query("SELECT * FROM import_error") if self._has_table("import_error") else []
            return f"import errors: {[dict(r) for r in rows]}"

        wait_until(f"DAGs {sorted(wanted)} parsed", parsed, timeout, tick=1, on_timeout=errors)

    def _has_table(self, name: str) -> bool:
        return bool(self.query("SELECT name FROM sqlite_master WHERE type='table' AND name=?", [name]))

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        rows = self.query("SELECT * FROM task_instance WHERE dag_id=? AND run_id=?", [dag_id, run_id])
        return {r["task_id"]: dict(r) for r in rows}

    def task_errors(self, dag_id: str, run_id: str) -> dict[str, str]:
        """The exception each failed task of the run logged last (``Type: message``), from its log."""
        found = {}
        for task_id, ti in self.task_instances(dag_id, run_id).items():
            if ti["state"] != "failed":
                continue
            errors = []
            for text in self.task_logs(dag_id, run_id, task_id).values():
                for line in text.splitlines():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    details = record.get("error_detail") if isinstance(record, dict) else None
                    errors += [f"{d.get('exc_type')}: {d.get('exc_value')}" for d in details or []
                               if isinstance(d, dict)]
            found[task_id] = errors[-1] if errors else "(no exception logged)"
        return found

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id=? AND run_id=?", [dag_id, run_id])
        return rows[0]["state"] if rows else None

    def triggerer_jobs(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT id, state, hostname, latest_heartbeat FROM job WHERE job_type='TriggererJob' "
                          "ORDER BY id")
        return [dict(r) for r in rows]

    def triggers(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query("SELECT * FROM trigger")]

    # -- REST API ----------------------------------------------------------------------------------
    def api_headers(self) -> dict[str, str]:
        """A bearer token from the simple auth manager (``all_admins``: no credentials needed)."""
        if self._api_token is None:
            response = requests.get(f"{self.api_url}/auth/token", timeout=30)
            if response.status_code not in (200, 201):
                raise DeploymentError(f"no API token: {response.status_code} {response.text[:300]}")
            self._api_token = str(response.json()["access_token"])
        return {"Authorization": f"Bearer {self._api_token}"}

    def trigger_run(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        for attempt in range(5):
            response = requests.post(f"{self.api_url}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=30,
                                     headers=self.api_headers())
            if response.status_code in (200, 201):
                return
            if attempt == 4 or response.status_code < 500:
                raise DeploymentError(f"triggering {dag_id} failed: {response.status_code} {response.text[:500]}")
            time.sleep(1)

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, dict[str, Any]]:
        """Wait until every task of the run has finished; return the task instances."""

        def finished() -> dict[str, dict[str, Any]] | None:
            self.check_alive("scheduler", "api-server")
            tis = self.task_instances(dag_id, run_id)
            done = tis and all(ti["state"] in FINISHED for ti in tis.values())
            return tis if done and self.run_state(dag_id, run_id) in ("success", "failed") else None

        def states() -> str:
            tis = self.task_instances(dag_id, run_id)
            return f"states: { {k: v['state'] for k, v in tis.items()} }; {self.describe()}"

        result: dict[str, dict[str, Any]] = wait_until(f"run {dag_id}/{run_id} finished", finished, timeout,
                                                       tick=1, on_timeout=states)
        return result

    # -- simulator ---------------------------------------------------------------------------------
    @property
    def sim(self) -> SimulatorClient:
        """The control routes of the simulator this deployment runs."""
        if self._sim is None or self._sim.url != self.sim_url:
            self._sim = SimulatorClient(self.sim_url, timeout=10)
        return self._sim

    def counters(self) -> dict[str, int]:
        return dict(self.sim.counters()["requests"])

    # -- files -------------------------------------------------------------------------------------
    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
        """Every log file of one task instance (attempts and trigger logs), by file name."""
        folder = self.logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if not folder.exists():
            return {}
        return {p.name: p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file()}

    def pid_files(self) -> dict[str, int]:
        found = {}
        for path in self.pids.glob("*.pid"):
            text = path.read_text().strip()
            if re.fullmatch(r"\d+", text):
                found[path.stem] = int(text)
        return found
