"""A typed client of the simulator's control routes (``/_sim/...``), for tests, benchmarks and scripts.

Every method sends one HTTP request to a running simulator (in this process or another one) and
returns the route's JSON answer; a refused request raises :class:`requests.HTTPError`, which
carries the response. :meth:`SimulatorClient.call` reaches a control route by its path, for tests
of the routes themselves (unchecked: it returns the response whatever its status).

    client = SimulatorClient("http://127.0.0.1:8787")
    client.reset(state=True)
    client.configure(batch_delay=0.2)
    client.add_fault(route="GET /rules/v1/batch/{batchId}", status=503, times=1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests

CONTROL_PREFIX = "/_sim"
JsonDict = dict[str, Any]


def _merge(body: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> JsonDict:
    return {**(body or {}), **fields}


class SimulatorClient:
    """The control routes of the simulator at ``url`` (e.g. ``http://127.0.0.1:8787``).

    :param url: base URL of the simulator, without ``/_sim``.
    :param timeout: seconds each request may take.
    :param session: a ``requests.Session`` to reuse; by default the client keeps its own.
    """

    def __init__(self, url: str, *, timeout: float = 30.0, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    # -- plumbing -------------------------------------------------------------------------------------
    def call(
        self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None
    ) -> requests.Response:
        """Send ``method`` to the control route ``path`` (``"faults"`` or ``"/_sim/faults"``); unchecked."""
        route = path if path.startswith(CONTROL_PREFIX + "/") else f"{CONTROL_PREFIX}/{path.lstrip('/')}"
        return self.session.request(method, self.url + route, json=body, params=params, timeout=self.timeout)

    def _json(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        response = self.call(method, path, body, params)
        response.raise_for_status()
        return response.json() if response.content else None

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()

    def __enter__(self) -> SimulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generic --------------------------------------------------------------------------------------
    def health(self) -> JsonDict:
        """``{"ok": true}`` once the simulator serves."""
        result: JsonDict = self._json("GET", "health")
        return result

    def counters(self) -> JsonDict:
        """``{"requests": {route key: n}, "statuses": {"route key status": n}, "total": n}`` since the reset."""
        result: JsonDict = self._json("GET", "counters")
        return result

    def requests_to(self, route_key: str) -> int:
        """How many requests ``route_key`` (e.g. ``"GET /rules/v1/batch/{batchId}"``) got since the reset."""
        return int(self.counters()["requests"].get(route_key, 0))

    def reset(self, state: bool = False) -> None:
        """Clear counters, stream counts and faults; with ``state`` also re-seed every store and the settings."""
        self._json("POST", "reset", {"state": state})

    def faults(self) -> list[JsonDict]:
        """The active fault rules."""
        result: list[JsonDict] = self._json("GET", "faults")
        return result

    def add_fault(self, rule: Mapping[str, Any] | None = None, /, **fields: Any) -> JsonDict:
        """Activate a fault rule (``route``, ``kind``, ``status``, ``retry_after``, ``delay``, ``times``, ...)."""
        result: JsonDict = self._json("POST", "faults", _merge(rule, fields))
        return result

    def clear_faults(self) -> int:
        """Remove every fault rule; how many there were."""
        return int(self._json("DELETE", "faults")["cleared"])

    def config(self) -> JsonDict:
        """The current settings (without the API secret)."""
        result: JsonDict = self._json("GET", "config")
        return result

    def configure(self, settings: Mapping[str, Any] | None = None, /, **more: Any) -> JsonDict:
        """Change run-time settings (e.g. ``batch_delay=0.2``); the settings after the change."""
        result: JsonDict = self._json("POST", "config", _merge(settings, more))
        return result

    # -- Waylay ---------------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Revoke every Waylay token issued so far."""
        self._json("POST", "tokens/expire")

    def tasks(self) -> list[JsonDict]:
        """Every Waylay rules task."""
        result: list[JsonDict] = self._json("GET", "rules/tasks")
        return result

    def put_tasks(self, tasks: Sequence[Mapping[str, Any]], replace: bool = False) -> JsonDict:
        """Insert or replace rules tasks (each with an ``id``); ``{"stored", "total"}``."""
        return self._put("rules/tasks", tasks, replace)

    def resources(self) -> list[JsonDict]:
        """Every Waylay resource."""
        result: list[JsonDict] = self._json("GET", "resources")
        return result

    def put_resources(self, resources: Sequence[Mapping[str, Any]], replace: bool = False) -> JsonDict:
        """Insert or replace resources (``{id, name?, resourceTypeId?, parentId?}``); ``{"stored", "total"}``."""
        return self._put("resources", resources, replace)

    def resource_types(self) -> list[JsonDict]:
        """Every Waylay resource type."""
        result: list[JsonDict] = self._json("GET", "resourcetypes")
        return result

    def put_resource_types(self, types: Sequence[Mapping[str, Any]], replace: bool = False) -> JsonDict:
        """Insert or replace resource types (``{id, name?}``); ``{"stored", "total"}``."""
        return self._put("resourcetypes", types, replace)

    def _put(self, path: str, items: Sequence[Mapping[str, Any]], replace: bool) -> JsonDict:
        params = {"replace": "true"} if replace else None
        result: JsonDict = self._json("POST", path, [dict(item) for item in items], params)
        return result

    def registry_jobs(self) -> list[JsonDict]:
        """Every registry job (its status plus ``id``), newest first."""
        result: list[JsonDict] = self._json("GET", "registry/jobs")
        return result

    def create_job(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> JsonDict:
        """Create a registry job (``type``, ``function``, ``outcome``, ``children``, ``hold``, ...).

        :return: ``{"type", "id", "children": [{"type", "id"}]}``.
        """
        result: JsonDict = self._json("POST", "registry/jobs", _merge(spec, fields))
        return result

    def release_job(self, job_type: str, job_id: str) -> JsonDict:
        """Let a job created with ``hold`` run from now; its ``{"type", "id", "children"}``."""
        result: JsonDict = self._json("POST", "registry/jobs/release", {"type": job_type, "id": job_id})
        return result

    def stream_stats(self) -> dict[str, int]:
        """``{"opened", "open", "job_events_sent"}`` of the registry job event streams since the reset."""
        result: dict[str, int] = self._json("GET", "registry/streams")
        return result

    # -- Mammoth --------------------------------------------------------------------------------------
    def mammoth_dataset(self, workspace_id: int, project_id: int, dataset_id: int) -> JsonDict:
        """The raw store of one Mammoth dataset: its columns, rows and every batch in full."""
        params = {"workspace_id": workspace_id, "project_id": project_id, "dataset_id": dataset_id}
        result: JsonDict = self._json("GET", "mammoth/batches", params=params)
        return result

    def add_mammoth_batches(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> JsonDict:
        """Add ``count`` batches to a Mammoth dataset (created if missing); ``{"ids", "count", "total"}``."""
        result: JsonDict = self._json("POST", "mammoth/batches", _merge(spec, fields))
        return result

    def mammoth_jobs(self) -> list[JsonDict]:
        """Every Mammoth job, oldest first."""
        result: list[JsonDict] = self._json("GET", "mammoth/jobs")
        return result
