"""Pytest fixtures serving the simulator on a free loopback port.

``simulator`` is started once per session; ``sim`` hands the same server to a test after a full
reset (counters, faults, settings, tasks and batches), so tests do not see each other's state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_batchops.simulator import SimulatorConfig, SimulatorServer

#: Settings of the session server: quick batches so tests that wait for completion stay fast.
SESSION_CONFIG = SimulatorConfig(seed=42, tasks=200, batch_delay=0.2, token_ttl=3600)


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    """The simulator, started once for the whole session."""
    server = SimulatorServer(SESSION_CONFIG)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorServer:
    """The session simulator, fully reset for this test."""
    simulator.reset(state=True)
    return simulator
