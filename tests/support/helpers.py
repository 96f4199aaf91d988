"""Helpers the tests import: Airflow connections through environment variables, JWTs, a loopback
server for answers the simulator does not give, and Airflow's retry of a task run.

Imported after ``tests/conftest.py`` has pointed Airflow at a throw-away home (this module imports
Airflow to read its version).
"""

from __future__ import annotations

import base64
import contextlib
import json

import pytest

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


MAMMOTH_API = "https://mammoth.test/api/v2"
SUPEROFFICE_API = "https://sod.superoffice.test/Cust12345/api/v1"


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
