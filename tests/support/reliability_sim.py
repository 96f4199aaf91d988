"""Helpers of the reliability tests: the simulator's control routes over HTTP, connections of every
type pointing at it, a quicker retry backoff, and a loopback port where nothing listens.

Fixtures defined here are imported by the reliability test modules, which use them by name.
"""

from __future__ import annotations

import dataclasses
import socket
from typing import Any
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core import http as core_http
from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, SIM_API_KEY, SIM_API_SECRET
from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN
from tests.support.helpers import set_connection

#: The seeded Mammoth dataset every Mammoth case works on.
MAMMOTH_WHERE = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}
#: First retry delay used by these tests (the provider's default is 1 s, doubling).
QUICK_BACKOFF = 0.05


def counters(sim: Any) -> dict[str, Any]:
    """``{"requests": {route: n}, "statuses": {"route status": n}, "total": n}`` since the last reset."""
    result: dict[str, Any] = sim.client.counters()
    return result


def add_fault(sim: Any, route: str, **rule: Any) -> None:
    sim.client.add_fault(route=route, **rule)


def context(start_date: Any = None) -> dict[str, Any]:
    """A task context good enough for ``execute``: XCom pushes go to a mock."""
    return {"ti": MagicMock(start_date=start_date)}


@dataclasses.dataclass(frozen=True)
class QuickRetry(core_http.RetryPolicy):
    """The provider's retry rule with a shorter first backoff; ``Retry-After`` is still honoured."""

    backoff: float = QUICK_BACKOFF


@pytest.fixture
def quick_retry(monkeypatch: pytest.MonkeyPatch) -> type[QuickRetry]:
    """Every ``ApiClient`` built during the test uses :class:`QuickRetry`."""
    monkeypatch.setattr(core_http, "RetryPolicy", QuickRetry)
    return QuickRetry


def connect_all(sim: Any, monkeypatch: pytest.MonkeyPatch, timeout: float = 5.0) -> None:
    """``waylay_default``, ``superoffice_default`` and ``mammoth_default`` pointing at ``sim``."""
    extra = {"timeout": timeout}
    set_connection(monkeypatch, "waylay_default", host=sim.url, login=SIM_API_KEY, password=SIM_API_SECRET,
                   extra=extra)
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_ACCESS_TOKEN, extra=extra)
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=f"{sim.url}/api/v2",
                   login=MAMMOTH_API_KEY, password=MAMMOTH_API_SECRET, extra={**extra, "workspace_id": 4})


def closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def short(text: object, limit: int = 100) -> str:
    """One line, at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
