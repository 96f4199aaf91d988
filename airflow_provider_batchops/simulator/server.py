"""Run the simulator on a loopback port in a background thread."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .app import SimState, SimulatorConfig, create_app
from .client import SimulatorClient
from .faults import FaultRule


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` is ``localhost`` or a loopback IP address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SimulatorServer:
    """The simulator served by uvicorn on a loopback address; port 0 picks a free port.

    Usable as a context manager::

        with SimulatorServer(SimulatorConfig(batch_delay=0.2)) as sim:
            requests.get(f"{sim.url}/_sim/health")
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        if not is_loopback(self.config.host):
            raise ValueError(f"the simulator only listens on loopback addresses, not {self.config.host!r}")
        self.app = create_app(self.config)
        self.port: int | None = None
        self._host = self.config.host
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._client: SimulatorClient | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self.port is None:
            raise RuntimeError("the simulator is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def client(self) -> SimulatorClient:
        """A :class:`SimulatorClient` of this server's control routes (over HTTP, like any other process)."""
        if self._client is None or self._client.url != self.url:
            self._client = SimulatorClient(self.url)
        return self._client

    @property
    def app_state(self) -> SimState:
        """The in-memory state, for tests that inspect or seed it directly."""
        state: SimState = self.app.state.sim
        return state

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        """Bind, serve in a background thread, and block until requests are accepted."""
        if self.running:
            return self
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError:
            sock.close()
            raise
        self._host, self.port = sock.getsockname()[:2]
        uv_config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(uv_config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="batchops-simulator")
        thread.daemon = True
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the server thread to end."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self.port = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def counters(self) -> dict[str, Any]:
        """``{"requests": {...}, "statuses": {...}, "total": n}`` since the last reset."""
        return self.app_state.counters.snapshot()

    def reset(self, state: bool = True) -> None:
        """Clear counters, stream counts and faults; with ``state`` also restore settings and re-seed every store."""
        self.app_state.reset(state=state)

    def add_fault(
        self,
        route: str = "*",
        kind: str = "status",
        status: int = 503,
        retry_after: float | str | None = None,
        delay: float = 0.0,
        times: int | None = None,
        after_events: int = 1,
    ) -> dict[str, object]:
        """Activate a fault rule (see ``POST /_sim/faults``) and return it as JSON."""
        spec = {"route": route, "kind": kind, "status": status, "retry_after": retry_after, "delay": delay}
        rule = FaultRule.from_dict({**spec, "times": times, "after_events": after_events})
        return self.app_state.faults.add(rule).to_dict()

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.app_state.faults.clear()

    def configure(self, **changes: float | bool) -> None:
        """Change run-time settings, e.g. ``batch_delay``, ``job_step_delay``, ``sse_keepalive``, ``sse_crlf``."""
        self.app_state.update_config(changes)

    def expire_tokens(self) -> None:
        """Revoke every token issued so far."""
        self.app_state.waylay.tokens.revoke_all()

    def put_tasks(self, tasks: list[dict[str, Any]], replace: bool = False) -> int:
        """Insert or replace rules tasks; return the store size."""
        return self.app_state.waylay.put_tasks(tasks, replace=replace)

    def put_resources(self, resources: list[dict[str, Any]], replace: bool = False) -> int:
        """Insert or replace resources (``{id, name?, resourceTypeId?, parentId?}``); return the store size."""
        return self.app_state.waylay.resources.put("resource", resources, replace=replace)

    def put_resource_types(self, types: list[dict[str, Any]], replace: bool = False) -> int:
        """Insert or replace resource types (``{id, name?}``); return the store size."""
        return self.app_state.waylay.resources.put("resourcetype", types, replace=replace)

    def create_job(self, **spec: Any) -> dict[str, Any]:
        """Create a registry job (fields as for ``POST /_sim/registry/jobs``); return ``{type, id, children}``."""
        return self.app_state.waylay.create_job(spec)

    def release_job(self, job_type: str, job_id: str) -> dict[str, Any]:
        """Let a job created with ``hold=True`` run from now; return ``{type, id, children}``."""
        return self.app_state.waylay.registry.release(job_type, job_id).reference()

    def stream_stats(self) -> dict[str, int]:
        """``{"opened", "open", "job_events_sent"}`` of the job event streams since the last reset."""
        return self.app_state.waylay.registry.stream_stats()

    def issue_token(self) -> str:
        """A valid Waylay JWT, as the token endpoint would return."""
        return self.app_state.waylay.tokens.issue(self.app_state.config.token_ttl)
