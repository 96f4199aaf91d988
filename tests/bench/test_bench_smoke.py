"""Smoke run of every benchmark with tiny sizes: they complete and write what they should.

No timing is asserted. Without the ``bench`` extra, the HttpSensorTrigger comparison and the charts are
skipped; the rest runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import run_all  # noqa: E402
from bench.common import installed  # noqa: E402

SCALE_KEYS = {
    "impl", "waits", "polls", "cpu_s", "cpu_s_per_1000_polls", "lag_p50_ms", "lag_p99_ms", "lag_max_ms",
    "mem_kib_per_wait", "token_requests", "error_count", "gc_full_collections", "wall_s", "outcomes",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert run_all.main(["--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_bench_package_is_the_repository_one():
    assert Path(run_all.__file__).resolve().parent == REPO / "bench"


def test_results_files_and_sections(quick):
    out, results = quick
    text = (out / "results.md").read_text()
    for heading in ("## Goals", "## 1. Triggerer scale", "## 2. Request economy", "## 3. DAG-parse cost",
                    "## 4. Bulk operations", "## 5. Instructions per still-running poll", "**Machine**",
                    "**Packages**"):
        assert heading in text
    assert {"machine", "versions", "scale", "economy", "bulk", "parse", "callgrind", "goals", "duration_s"} <= set(
        results)
    assert "ratio" in results["callgrind"] or "skipped" in results["callgrind"]
    assert all({"goal", "figure", "met"} <= set(goal) for goal in results["goals"])


def test_triggerer_scale_runs_complete(quick):
    _, results = quick
    runs = {run["impl"]: run for run in results["scale"]}
    assert {"provider", "naive", "floor"} <= set(runs)
    for run in runs.values():
        assert SCALE_KEYS <= set(run)
        assert run["waits"] == 20
        assert run["error_count"] == 0, run["errors"]
        assert run["outcomes"] == {"success": 20}
        assert run["polls"] >= 20
        assert run["poll_rate_pct"] > 0
    assert runs["provider"]["token_requests"] == 1


def test_http_peer_runs_when_installed(quick):
    pytest.importorskip("airflow.providers.http")
    _, results = quick
    http = [run for run in results["scale"] if run["impl"] == "http"]
    assert http and http[0]["error_count"] == 0 and http[0]["polls"] >= 20


def test_http_peer_is_skipped_without_the_extra(quick):
    if installed("airflow.providers.http"):
        pytest.skip("apache-airflow-providers-http is installed")
    _, results = quick
    assert all(run["impl"] != "http" for run in results["scale"])


def test_economy_bulk_and_parse(quick):
    _, results = quick
    economy = results["economy"]
    assert economy["schedule"]["deferred_reads_max"] > 0
    assert economy["detection"]["errors"] == 0
    assert economy["registry"]["runs"] == 1
    bulk = results["bulk"]
    assert bulk["resources"]["deleted"] == 200 and bulk["resources"]["state"] == "succeeded"
    assert bulk["mammoth"]["deleted"] == 200 and bulk["mammoth"]["left_in_dataset"] == 0
    assert bulk["resources"]["requests_by_route"].get("POST /accounts/v1/tokens") == 1
    parse = results["parse"]
    assert {"airflow.sdk", "batchops"} <= set(parse["variants"])
    assert all(len(row["cpu_runs_s"]) == 2 for row in parse["variants"].values())
    assert parse["heaviest_added_imports"]


def test_charts_when_matplotlib_is_installed(quick):
    pytest.importorskip("matplotlib")
    out, _ = quick
    for name in ("triggerer_loop_lag.png", "triggerer_cpu_per_poll.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
