"""Test setup: a throw-away AIRFLOW_HOME (set before Airflow is imported) and shared fixtures.

The suite is a package (``tests/__init__.py`` and one in every folder): support code is imported as
``tests.support.<module>``, and test files of the same name in different folders do not clash.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

# Airflow reads its configuration when first imported: point it at a private home first, so the
# suite never touches a user's real metadata database.
_HOME = tempfile.mkdtemp(prefix="batchops-test-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "example_dags")
os.environ.pop("AIRFLOW_CONN_WAYLAY_DEFAULT", None)

import pytest  # noqa: E402

from airflow_provider_batchops.core.auth import TOKEN_CACHE  # noqa: E402
from tests.support.fixtures_simulator import sim, simulator  # noqa: E402, F401
from tests.support.helpers import (  # noqa: E402
    API_KEY,
    API_SECRET,
    GATEWAY,
    MAMMOTH_API,
    SUPEROFFICE_API,
    make_jwt,
    set_connection,
)


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


@pytest.fixture
def waylay_conn(monkeypatch: pytest.MonkeyPatch):
    """``waylay_default`` pointing at a mocked gateway, token auth."""
    set_connection(monkeypatch, "waylay_default", host=GATEWAY, login=API_KEY, password=API_SECRET)
    return GATEWAY


@pytest.fixture
def token_endpoint(requests_mock):
    """The gateway's token endpoint, answering a token valid for an hour."""
    return requests_mock.post(f"{GATEWAY}/accounts/v1/tokens", json={"token": make_jwt(time.time() + 3600)})


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch):
    """Record the delays the code asks for instead of sleeping."""
    delays: list[float] = []
    monkeypatch.setattr(time, "sleep", delays.append)
    return delays


@pytest.fixture
def mammoth_api(monkeypatch: pytest.MonkeyPatch) -> str:
    """``mammoth_default`` pointing at a mocked Mammoth API; returns its base URL."""
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=MAMMOTH_API, login="key",
                   password="mammoth-secret-value", extra={"workspace_id": 4})
    return MAMMOTH_API


@pytest.fixture
def superoffice_api(monkeypatch: pytest.MonkeyPatch) -> str:
    """``superoffice_default`` pointing at a mocked SuperOffice tenant; returns the ``/api/v1`` URL."""
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice",
                   host=SUPEROFFICE_API.removesuffix("/api/v1"), password="token")
    return SUPEROFFICE_API


@pytest.fixture
def sim_conn(sim, monkeypatch: pytest.MonkeyPatch):  # noqa: F811 - the fixture, by name
    """``waylay_default`` pointing at the live simulator, token auth."""
    from airflow_provider_batchops.simulator import SIM_API_KEY, SIM_API_SECRET

    set_connection(monkeypatch, "waylay_default", host=sim.url, login=SIM_API_KEY, password=SIM_API_SECRET)
    return sim


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``BATCHOPS_WRITE_REPORT=1``, write the figures the reliability tests recorded into
    docs/reliability.md (``make reliability-report``); a plain test run changes no tracked file."""
    from tests.support import reliability_report

    written = reliability_report.write()
    if written:
        print(f"\nreliability figures written to docs/reliability.md: {', '.join(written)}")
