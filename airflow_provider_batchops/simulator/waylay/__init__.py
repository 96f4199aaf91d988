"""The emulated Waylay tenant: one user, its tokens, rules tasks, resources and registry jobs.

Modules: ``auth`` (token endpoint, credential check), ``rules`` and ``resources`` (batch APIs sharing
``batch``), ``registry`` (jobs and their event stream, with ``registry_jobs`` and
``registry_state``), ``control`` (the Waylay control routes under ``/_sim``).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..service import Service, Setting
from . import auth, control, registry, resources, rules, rules_listing
from .auth import TokenIssuer, WaylayError
from .batch import BatchQueue
from .registry_jobs import parse_job_spec
from .registry_state import JobRegistry
from .resources import ResourcesService
from .rules import RulesService

if TYPE_CHECKING:
    from ..app import SimulatorConfig

JsonDict = dict[str, Any]


class WaylayState:
    """Everything the emulated Waylay tenant keeps in memory.

    :param config: the simulator's current settings (read each time: they change at run time).
    """

    def __init__(self, config: Callable[[], SimulatorConfig]) -> None:
        self._config = config
        self.started_ms = int(time.time() * 1000)
        user_rng = random.Random(f"{self.config.seed}-user")
        self.user_id = str(uuid.UUID(int=user_rng.getrandbits(128), version=4))
        self.tokens = TokenIssuer(self.config.tenant, f"users/{self.user_id}")
        self.lock = threading.RLock()
        self.batches = BatchQueue(self.lock, lambda: self.config.batch_delay)
        self.rules = RulesService(self)
        self.resources = ResourcesService(self)
        self.registry = JobRegistry(self)
        self.reseed()

    @property
    def config(self) -> SimulatorConfig:
        """The current settings."""
        return self._config()

    @property
    def tasks(self) -> dict[str, JsonDict]:
        """The rules tasks by id."""
        return self.rules.tasks

    def reseed(self) -> None:
        """Regenerate the seeded tasks, resources and types; forget every batch and job."""
        with self.lock:
            self.rules.reseed()
            self.resources.reseed()
            self.batches.clear()
        self.registry.clear()

    def authenticate(self, header: str | None) -> str | None:
        """Return why an ``Authorization`` header is refused, or ``None`` if accepted."""
        return auth.authenticate(self.config, self.tokens, header)

    def valid_credentials(self, key: object, secret: object) -> bool:
        """Compare an API key and secret with the configured ones."""
        return auth.valid_credentials(self.config, key, secret)

    def put_tasks(self, tasks: list[JsonDict], replace: bool = False) -> int:
        """Insert or replace rules tasks by id; return the store size."""
        return self.rules.put_tasks(tasks, replace=replace)

    def list_tasks(self) -> list[JsonDict]:
        """Copies of the current rules tasks."""
        return self.rules.list_tasks()

    def create_job(self, spec: Mapping[str, Any]) -> JsonDict:
        """Create a registry job (fields as for ``POST /_sim/registry/jobs``); ``{type, id, children}``."""
        return self.registry.create(parse_job_spec(dict(spec))).reference()


def _fail_ratio(value: float) -> str | None:
    return "fail_ratio must be between 0 and 1" if value > 1 else None


def _keepalive(value: float) -> str | None:
    return "sse_keepalive must be a number > 0" if value <= 0 else None


class WaylayService(Service):
    """Waylay: token endpoint, rules and resources batch APIs, registry jobs and their event stream."""

    name = "waylay"
    routers = (auth.router, rules.router, rules_listing.router, resources.router, registry.router)
    control_routers = (control.router,)
    settings = (
        Setting("batch_delay"),
        Setting("token_ttl"),
        Setting("fail_ratio", check=_fail_ratio),
        Setting("job_step_delay"),
        Setting("sse_keepalive", check=_keepalive),
        Setting("sse_crlf", flag=True),
        Setting("sse_multiline", flag=True),
    )
    control_help = (
        ("POST", "/_sim/tokens/expire", "revoke every Waylay token issued so far (clients must fetch new ones)"),
        ("GET", "/_sim/rules/tasks", "every Waylay rules task"),
        ("POST", "/_sim/rules/tasks", "insert or replace tasks: a JSON list of objects with an id; ?replace=true"),
        ("GET", "/_sim/resources", "every Waylay resource"),
        ("POST", "/_sim/resources", "insert/replace resources {id, name?, resourceTypeId?, parentId?}; ?replace=true"),
        ("GET", "/_sim/resourcetypes", "every Waylay resource type"),
        ("POST", "/_sim/resourcetypes", "insert or replace resource types {id, name?}; ?replace=true"),
        ("GET", "/_sim/registry/jobs", "every registry job, newest first"),
        ("POST", "/_sim/registry/jobs",
         "create a job {type, id?, function?, outcome?, children?, step_delay?, hold?, ...}"),
        ("POST", "/_sim/registry/jobs/release", "let a job created with hold: true run from now: {type, id}"),
        ("GET", "/_sim/registry/streams", "job event streams opened and open, and job events sent, since the reset"),
    )
    streaming_routes = frozenset({registry.EVENTS_ROUTE})
    malformed_body = b'{"statusCode": 200, "uri": "/rules/v1/batch/<truncated'
    error_type = WaylayError

    def __init__(self, config: Callable[[], SimulatorConfig]) -> None:
        super().__init__(config)
        self.state: WaylayState = WaylayState(config)

    def bindings(self) -> Mapping[Callable[..., Any], Callable[..., Any]]:
        """The Waylay routes' state dependency -> this tenant."""
        return {auth.waylay_state: lambda: self.state}

    def reset(self, state: bool) -> None:
        """Forget the stream counts; with ``state`` also re-seed every store and forget batches and jobs."""
        self.state.registry.clear_stats()
        if state:
            self.state.reseed()

    def settings_changed(self, names: set[str]) -> None:
        """A new ``fail_ratio`` re-seeds the rules tasks."""
        if "fail_ratio" in names:
            self.state.rules.reseed()


__all__ = ["WaylayError", "WaylayService", "WaylayState"]
