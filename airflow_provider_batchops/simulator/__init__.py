"""A loopback HTTP server that emulates the batch APIs, for demos, integration tests and benchmarks."""

from __future__ import annotations

from .app import SIM_API_KEY, SIM_API_SECRET, SimulatorConfig, create_app
from .server import SimulatorServer

__all__ = ["SIM_API_KEY", "SIM_API_SECRET", "SimulatorConfig", "SimulatorServer", "create_app"]
