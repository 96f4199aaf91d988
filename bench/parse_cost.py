"""DAG-parse cost: what importing the operator and sensor modules adds to ``import airflow.sdk``.

Each variant runs in a fresh ``python -c`` process, interleaved, ``--runs`` times; the figure is the
median CPU time (user + system, from ``wait4``) and wall time of the whole process. Variants:

- ``airflow.sdk``: ``import airflow.sdk`` alone;
- ``batchops``: plus every module of ``airflow_provider_batchops.operators`` and ``.sensors``;
- ``providers-http``: plus ``airflow.providers.http.operators.http`` and ``.sensors.http`` (if installed).

One more run with ``-X importtime`` lists the modules the provider's imports add, heaviest first.

    python -m bench.parse_cost --runs 10
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import subprocess
import sys
import time
from typing import Any

from bench.common import PYTHON, bench_env, installed, median

BASELINE = "import airflow.sdk"


def provider_modules() -> list[str]:
    """Every operator and sensor module of the provider, found without importing them."""
    import airflow_provider_batchops

    root = airflow_provider_batchops.__path__[0]
    names = []
    for package in ("operators", "sensors"):
        for info in pkgutil.iter_modules([os.path.join(root, package)]):
            names.append(f"airflow_provider_batchops.{package}.{info.name}")
    return sorted(names)


HTTP_MODULES = ["airflow.providers.http.operators.http", "airflow.providers.http.sensors.http"]


def variants() -> dict[str, str]:
    found = {"airflow.sdk": BASELINE, "batchops": "; ".join([BASELINE, *(f"import {m}" for m in provider_modules())])}
    if installed("airflow.providers.http"):
        found["providers-http"] = "; ".join([BASELINE, *(f"import {m}" for m in HTTP_MODULES)])
    return found


def run_once(code: str, env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system) and wall seconds of one ``python -c code`` process."""
    start = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    if proc.stderr is not None:
        proc.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall


def heaviest_imports(env: dict[str, str], top: int = 12) -> list[dict[str, Any]]:
    """Modules the provider's imports add to ``import airflow.sdk`` (``-X importtime``), by self time."""

    def load(code: str) -> dict[str, tuple[int, int]]:
        proc = subprocess.run([PYTHON, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True,
                              timeout=120, check=True)
        times: dict[str, tuple[int, int]] = {}
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "self [us]" not in line:
                own, cumulative, name = line[len("import time:"):].split("|", 2)
                times[name.strip()] = (int(own), int(cumulative))
        return times

    base = load(BASELINE)
    full = load(variants()["batchops"])
    added = {name: value for name, value in full.items() if name not in base}
    ranked = sorted(added.items(), key=lambda item: -item[1][0])[:top]
    return [{"module": name, "self_ms": own / 1000, "cumulative_ms": cumulative / 1000}
            for name, (own, cumulative) in ranked] + [
        {"module": f"(all {len(added)} added modules)", "self_ms": sum(v[0] for v in added.values()) / 1000,
         "cumulative_ms": float("nan")}]


def measure(runs: int) -> dict[str, Any]:
    env = bench_env()
    codes = variants()
    for code in codes.values():  # warm-up: compile .pyc files, fill the page cache
        run_once(code, env)
    cpu: dict[str, list[float]] = {name: [] for name in codes}
    wall: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, code in codes.items():
            used, elapsed = run_once(code, env)
            cpu[name].append(used)
            wall[name].append(elapsed)
    base_cpu, base_wall = median(cpu["airflow.sdk"]), median(wall["airflow.sdk"])
    rows: dict[str, dict[str, Any]] = {}
    for name in codes:
        rows[name] = {
            "cpu_median_s": median(cpu[name]),
            "wall_median_s": median(wall[name]),
            "cpu_added_pct": (median(cpu[name]) / base_cpu - 1) * 100,
            "wall_added_pct": (median(wall[name]) / base_wall - 1) * 100,
            "cpu_runs_s": cpu[name],
        }
    return {
        "runs": runs,
        "modules": provider_modules(),
        "http_modules": HTTP_MODULES if "providers-http" in codes else [],
        "variants": rows,
        "budget_pct": 5.0,
        "within_budget": float(rows["batchops"]["cpu_added_pct"]) <= 5.0,
        "heaviest_added_imports": heaviest_imports(env),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DAG-parse cost of the provider's operator and sensor modules")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(measure(max(1, args.runs))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
