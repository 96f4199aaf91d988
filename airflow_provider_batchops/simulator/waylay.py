"""The emulated Waylay tenant: one user, its tokens, rules tasks, resources and registry jobs.

The services live in their own modules: ``waylay_auth`` (token endpoint, credential check),
``waylay_rules`` and ``waylay_resources`` (batch APIs sharing ``waylay_batch``), ``waylay_registry``
(jobs and their event stream).
"""

from __future__ import annotations

import random
import threading
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from . import waylay_auth, waylay_registry, waylay_resources, waylay_rules
from .registry_state import JobRegistry
from .waylay_auth import TokenIssuer
from .waylay_batch import BatchQueue
from .waylay_resources import ResourcesService
from .waylay_rules import RulesService

if TYPE_CHECKING:
    from .app import SimState, SimulatorConfig

JsonDict = dict[str, Any]


class WaylayState:
    """Everything the emulated Waylay tenant keeps in memory."""

    def __init__(self, sim: SimState) -> None:
        self._sim = sim
        user_rng = random.Random(f"{sim.config.seed}-user")
        self.user_id = str(uuid.UUID(int=user_rng.getrandbits(128), version=4))
        self.tokens = TokenIssuer(sim.config.tenant, f"users/{self.user_id}")
        self.lock = threading.RLock()
        self.batches = BatchQueue(self.lock, lambda: self._sim.config.batch_delay)
        self.rules = RulesService(self)
        self.resources = ResourcesService(self)
        self.registry = JobRegistry(self)
        self.reseed()

    @property
    def config(self) -> SimulatorConfig:
        """The current settings."""
        return self._sim.config

    @property
    def started_ms(self) -> int:
        """When the simulator started (epoch ms); seeded timestamps are relative to it."""
        return self._sim.started_ms

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
        return waylay_auth.authenticate(self.config, self.tokens, header)

    def valid_credentials(self, key: object, secret: object) -> bool:
        """Compare an API key and secret with the configured ones."""
        return waylay_auth.valid_credentials(self.config, key, secret)

    def put_tasks(self, tasks: list[JsonDict], replace: bool = False) -> int:
        """Insert or replace rules tasks by id; return the store size."""
        return self.rules.put_tasks(tasks, replace=replace)

    def list_tasks(self) -> list[JsonDict]:
        """Copies of the current rules tasks."""
        return self.rules.list_tasks()


router = APIRouter()
router.include_router(waylay_auth.router)
router.include_router(waylay_rules.router)
router.include_router(waylay_resources.router)
router.include_router(waylay_registry.router)
