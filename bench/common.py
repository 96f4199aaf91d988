"""Shared by the benchmarks: the simulator in its own process, statistics, machine and version facts.

Nothing here imports Airflow, so a benchmark process decides itself when Airflow is loaded.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from airflow_provider_batchops.simulator.client import SimulatorClient

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
#: The simulator's Waylay credentials (also in airflow_provider_batchops.simulator.app, which imports FastAPI).
SIM_API_KEY = "5ca1ab1e0ddba11c0ffee000"
SIM_API_SECRET = "c2ltdWxhdG9yLXNlY3JldC0wMTIzNDU2"
#: The simulator's route key of a rules batch status read, as its counters name it.
RULES_STATUS_ROUTE = "GET /rules/v1/batch/{batchId}"
SUPEROFFICE_STATUS_ROUTE = "GET /api/v1/BatchTask/{key}"
TOKEN_ROUTE = "POST /accounts/v1/tokens"
#: Packages whose versions go into the results.
VERSIONED_PACKAGES = (
    "airflow-provider-batchops",
    "apache-airflow",
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-http",
    "aiohttp",
    "requests",
    "urllib3",
    "pydantic",
    "fastapi",
    "uvicorn",
    "matplotlib",
)


def bench_env(airflow_home: str | None = None) -> dict[str, str]:
    """Environment for a benchmark subprocess: a throw-away AIRFLOW_HOME and the repository importable."""
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = airflow_home or tempfile.mkdtemp(prefix="batchops-bench-home-")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for key in [k for k in env if k.startswith("AIRFLOW_CONN_")]:
        del env[key]
    return env


class SimulatorProcess:
    """``python -m airflow_provider_batchops.simulator --port 0 --port-file F`` in a separate process.

    Its CPU time is therefore not counted in the process being measured.
    """

    def __init__(self, *args: str, log_dir: Path | None = None, start_timeout: float = 60.0) -> None:
        self.args = list(args)
        self.start_timeout = start_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="batchops-bench-sim-"))
        self.log_path = (log_dir or self._dir) / "simulator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.http = requests.Session()
        self._client: SimulatorClient | None = None

    def start(self) -> SimulatorProcess:
        port_file = self._dir / "port"
        log = self.log_path.open("wb")
        cmd = [PYTHON, "-m", "airflow_provider_batchops.simulator", "--port", "0", "--port-file", str(port_file),
               *self.args]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=bench_env(str(self._dir)),
                                     cwd=str(REPO))
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start; see {self.log_path}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text().strip())}"
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        self.http.close()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- control routes -----------------------------------------------------------------------------
    @property
    def client(self) -> SimulatorClient:
        """The simulator's control routes (``/_sim``)."""
        if self._client is None or self._client.url != self.url:
            self._client = SimulatorClient(self.url, timeout=120.0, session=self.http)
        return self._client

    def counters(self) -> dict[str, Any]:
        return self.client.counters()

    def reset(self, state: bool = False) -> None:
        self.client.reset(state=state)

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self.client.configure(settings)

    def token(self) -> str:
        """A Waylay token, asked for like any client would (counted by the simulator)."""
        response = self.http.post(f"{self.url}/accounts/v1/tokens", params={"grant_type": "client_credentials"},
                                  json={"clientId": SIM_API_KEY, "clientSecret": SIM_API_SECRET}, timeout=30)
        response.raise_for_status()
        return str(response.json()["token"])


def waylay_conn_json(url: str, **extra: Any) -> str:
    """``AIRFLOW_CONN_WAYLAY_DEFAULT`` for the simulator (token auth unless ``extra`` says otherwise)."""
    conn: dict[str, Any] = {"conn_type": "waylay", "host": url, "login": SIM_API_KEY, "password": SIM_API_SECRET}
    if extra:
        conn["extra"] = json.dumps(extra)
    return json.dumps(conn)


# -- statistics -------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


# -- where the figures come from ----------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = math.nan
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["wall_s"]``."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["wall_s"] = time.perf_counter() - start


def run_json(cmd: list[str], timeout: float, env: dict[str, str] | None = None,
             log: Path | None = None) -> dict[str, Any]:
    """Run a benchmark subprocess that prints one JSON object as its last stdout line.

    Its stderr (logs; a peer may log a line per poll) goes to ``log``, or is discarded.
    """
    with (log.open("wb") if log is not None else open(os.devnull, "wb")) as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, timeout=timeout,
                              env=env or bench_env(), cwd=str(REPO), check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{tail}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]
