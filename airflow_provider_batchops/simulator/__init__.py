"""A loopback HTTP server that emulates the batch APIs, for demos, integration tests and benchmarks.

Services: Waylay (token, rules and resources batch, registry jobs with their event stream),
SuperOffice BatchTask and Mammoth Analytics batches and jobs (under ``/api/v2``).
"""

from __future__ import annotations

from .app import SIM_API_KEY, SIM_API_SECRET, SimulatorConfig, create_app
from .mammoth import MAMMOTH_API_KEY, MAMMOTH_API_SECRET
from .server import SimulatorServer

__all__ = [
    "MAMMOTH_API_KEY",
    "MAMMOTH_API_SECRET",
    "SIM_API_KEY",
    "SIM_API_SECRET",
    "SimulatorConfig",
    "SimulatorServer",
    "create_app",
]
