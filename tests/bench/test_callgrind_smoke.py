"""Smoke run of the callgrind benchmark (bench/callgrind_poll.py) with a few polls: it completes and
reports instructions per poll for the provider and the floor. No figure is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import callgrind_poll  # noqa: E402

MISSING = callgrind_poll.missing()


@pytest.mark.skipif(MISSING is not None, reason=f"callgrind benchmark cannot run here: {MISSING}")
def test_callgrind_reports_instructions_per_poll_for_provider_and_floor():
    result = callgrind_poll.run(polls=3, repeats=1, timeout=900)
    assert result["polls"] == 3 and result["repeats"] == 1
    for impl in ("provider", "floor"):
        row = result[impl]
        assert len(row["ir_per_poll_runs"]) == 1
        assert row["ir_per_poll"] > 0 and row["ir_wait_without_polls"] > 0
    assert result["ratio"] > 0


def test_the_loopback_server_answers_running_then_finished():
    import json

    import requests

    with callgrind_poll.LoopbackServer() as server:
        with requests.Session() as http:
            first = http.get(f"{server.url}/rules/v1/batch/t1-1", timeout=10).json()
            second = http.get(f"{server.url}/rules/v1/batch/t1-1", timeout=10).json()
            token = http.post(f"{server.url}/accounts/v1/tokens", json={"clientId": "k"}, timeout=10).json()
    assert "finishedTime" not in first and first["id"] == "t1-1"
    assert second["finishedTime"] and second["results"]["failure"] == {}
    assert token == {"token": callgrind_poll.TOKEN}
    assert json.dumps(first)  # plain JSON
