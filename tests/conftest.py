"""Test setup: a throw-away AIRFLOW_HOME (set before Airflow is imported) and shared fixtures."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from fixtures_simulator import sim, simulator  # noqa: E402, F401

from airflow_provider_batchops.core.auth import TOKEN_CACHE  # noqa: E402

#: The installed Airflow's (major, minor), for the few behaviours that differ between 3.1 and later.
AIRFLOW_VERSION = tuple(int(p) for p in __import__("airflow").__version__.split(".")[:2])
GATEWAY = "https://gateway.test"
API_KEY = "0123456789abcdef01234567"
API_SECRET = "dGVzdC1zZWNyZXQtdmFsdWUtMDEyMzQ1Njc4OQ=="


def make_jwt(exp: float, **claims: object) -> str:
    """An unsigned JWT with the given expiry (the provider never verifies signatures)."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    payload = {"exp": exp, "tenant": "t", "sub": "users/test", "domain": "test", **claims}
    return f"{part({'alg': 'none'})}.{part(payload)}.sig"


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    """Define an Airflow connection through its environment variable (no database needed)."""
    extra = fields.pop("extra", None)
    data = {"conn_type": fields.pop("conn_type", "waylay"), **fields}
    if extra is not None:
        data["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(data))


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


MAMMOTH_API = "https://mammoth.test/api/v2"
SUPEROFFICE_API = "https://sod.superoffice.test/Cust12345/api/v1"


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


@contextlib.asynccontextmanager
async def serve_waylay(monkeypatch: pytest.MonkeyPatch, routes: dict[str, object]):
    """A tiny aiohttp server on loopback with ``routes`` (path -> GET handler), as ``waylay_default``
    with a pre-issued token; for the answers the simulator does not give."""
    from aiohttp import web

    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    set_connection(monkeypatch, "waylay_default", host=f"http://127.0.0.1:{port}", extra={"token": "jwt"})
    try:
        yield
    finally:
        await runner.cleanup()


class RetryingRun:
    """Runs ``operator.execute`` as Airflow would with ``retries``: an ``AirflowFailException`` ends it
    at once, any other failure is tried again (on a fresh context but the same durable store)."""

    def __init__(self, store: object | None = None) -> None:
        self.store = store

    def __call__(self, make_operator, retries: int = 1):
        from unittest.mock import MagicMock

        from airflow_provider_batchops.core.compat import AirflowFailException

        for attempt in range(retries + 1):
            context = {"ti": MagicMock(start_date=None, task_id="t")}
            if self.store is not None:
                context["task_state_store"] = self.store
            try:
                return make_operator().execute(context)
            except AirflowFailException:
                raise
            except Exception:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture
def sim_conn(sim, monkeypatch: pytest.MonkeyPatch):  # noqa: F811 - the fixture, by name
    """``waylay_default`` pointing at the live simulator, token auth."""
    from airflow_provider_batchops.simulator import SIM_API_KEY, SIM_API_SECRET

    set_connection(monkeypatch, "waylay_default", host=sim.url, login=SIM_API_KEY, password=SIM_API_SECRET)
    return sim


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``BATCHOPS_WRITE_REPORT=1``, write the figures the reliability tests recorded into
    docs/reliability.md (``make reliability-report``); a plain test run changes no tracked file."""
    import reliability_report

    written = reliability_report.write()
    if written:
        print(f"\nreliability figures written to docs/reliability.md: {', '.join(written)}")
