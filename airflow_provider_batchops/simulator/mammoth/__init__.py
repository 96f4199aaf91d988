"""Mammoth Analytics emulation: the batches and jobs API under ``/api/v2``.

A connection's host is ``http://127.0.0.1:<port>/api/v2``. Every request needs the headers
``X-API-KEY: MAMMOTH_API_KEY`` and ``X-API-SECRET: MAMMOTH_API_SECRET`` (else 401);
``X-WORKSPACE-ID`` is optional but must be an integer when sent (else 400). A request whose URL
(path and query) is longer than :data:`MAX_URL_BYTES` gets 414, as from a real proxy. Errors have
Mammoth's body ``{"status_code", "detail"}``, plus ``extra`` (``{"field": ...}``) on a 400.

Store: workspaces -> projects -> datasets (with columns ``{c_id, c_name, c_type}``) -> batches.
Batch and job ids are global and increasing. Seeded from the simulator seed: workspace
:data:`SEED_WORKSPACE_ID`, project :data:`SEED_PROJECT_ID`, target dataset :data:`TARGET_DATASET_ID`
(40 batches over the last 200 days, mostly ``active``, four ``suspended``, two ``sync_pending``) and
source dataset :data:`SOURCE_DATASET_ID` (two active batches; same column ids, names and types).

Create, delete and suspend/restore answer an ack ``{status_code, job_id, failure_reason}`` and run
as jobs: ``processing`` until ``mammoth_job_delay`` seconds after creation, then their outcome,
applied lazily (in due order) on the next request that touches the Mammoth store:

- create (``POST .../batches``): fails (``failure``, ``{"error": "Column type mismatch: ..."}``) when
  ``expected_destination_c_type`` differs from the destination column's type, and with
  ``{"error": "Column not found: ..."}`` / ``"Source dataset N not found"``; otherwise appends an
  ``active`` batch whose ``row_count`` is the sum of the source's active batches and answers
  ``{"batch_id": N}``; ``delete_source_ds`` then removes the source dataset; ``new_ds_details`` is
  validated and otherwise ignored. ``validate_only`` checks
  the mapping at once: ``{"status_code": 200, "job_id": null, "failure_reason": null}``, or
  ``status_code`` 400 with the reason in ``failure_reason``; nothing is created.
- delete (``DELETE .../batches?ids=..`` and ``DELETE .../batches/{id}``): the batches are
  ``deleting`` at once and still listed; the job removes them (``{"deleted_ids": [...]}``). Ids not in
  the dataset make the job fail (``{"error", "failed_ids"}``) and nothing is marked or deleted; a
  batch whose name contains ``locked`` ends the job in ``error`` with
  ``{"response": {"detail": "Batch N is locked"}}``, nothing deleted and the states restored.
- suspend/restore (``PATCH .../batches``): ``suspended`` / ``active`` (``{"suspended", "restored"}``);
  unknown ids or batches being deleted make the job fail and nothing changes.

The list's ``next`` is the relative URI of the next page (``api/v2/...?limit=L&offset=O&<other
params>``) and ``""`` on the last page (also when ``limit`` is 0). Control routes live under
``/_sim/mammoth``: bulk add of batches, the raw store of a dataset and every job.

Modules: ``wire`` (credentials, constants, the error type), ``params`` (query parameters),
``bodies`` (request bodies), ``store`` (the account and its jobs), ``outcomes`` (what a due job
does), ``routes`` (the API) and ``control`` (the control routes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..service import Service, Setting
from . import control, routes
from .store import MammothState
from .wire import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, MammothError

if TYPE_CHECKING:
    from ..app import SimulatorConfig

__all__ = ["MAMMOTH_API_KEY", "MAMMOTH_API_SECRET", "MammothError", "MammothService", "MammothState"]


class MammothService(Service):
    """Mammoth Analytics: datasets, batches and the jobs that change them."""

    name = "mammoth"
    routers = (routes.router,)
    control_routers = (control.router,)
    settings = (Setting("mammoth_job_delay"),)
    control_help = (
        ("GET", "/_sim/mammoth/batches", "the raw store of a dataset: ?workspace_id=&project_id=&dataset_id="),
        ("POST", "/_sim/mammoth/batches",
         "add batches to a dataset {workspace_id, project_id, dataset_id, count, ...}"),
        ("GET", "/_sim/mammoth/jobs", "every Mammoth job, oldest first"),
    )
    malformed_body = b'{"status_code": 200, "job_id": <truncated'
    error_type = MammothError

    def __init__(self, config: Callable[[], SimulatorConfig]) -> None:
        super().__init__(config)
        self.state: MammothState = MammothState(lambda: config().seed, lambda: config().mammoth_job_delay)

    def bindings(self) -> Mapping[Callable[..., Any], Callable[..., Any]]:
        """The Mammoth routes' state dependency -> this account."""
        return {routes.mammoth_state: lambda: self.state}

    def reset(self, state: bool) -> None:
        """With ``state``, re-seed the store and forget every job."""
        if state:
            self.state.reseed()
