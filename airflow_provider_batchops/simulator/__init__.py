"""A loopback HTTP server that emulates the batch APIs, for demos, integration tests and benchmarks.

Services: Waylay (token, rules and resources batch, registry jobs with their event stream),
SuperOffice BatchTask and Mammoth Analytics batches and jobs (under ``/api/v2``).

The server (FastAPI, uvicorn) is imported on first use, so that :mod:`.client` stays light for the
processes that only drive a simulator running elsewhere (benchmarks, scripts).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import SIM_API_KEY, SIM_API_SECRET, SimulatorConfig, create_app
    from .client import SimulatorClient
    from .mammoth import MAMMOTH_API_KEY, MAMMOTH_API_SECRET
    from .server import SimulatorServer

_EXPORTS = {
    "MAMMOTH_API_KEY": ".mammoth",
    "MAMMOTH_API_SECRET": ".mammoth",
    "SIM_API_KEY": ".app",
    "SIM_API_SECRET": ".app",
    "SimulatorClient": ".client",
    "SimulatorConfig": ".app",
    "SimulatorServer": ".server",
    "create_app": ".app",
}

__all__ = [
    "MAMMOTH_API_KEY",
    "MAMMOTH_API_SECRET",
    "SIM_API_KEY",
    "SIM_API_SECRET",
    "SimulatorClient",
    "SimulatorConfig",
    "SimulatorServer",
    "create_app",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
