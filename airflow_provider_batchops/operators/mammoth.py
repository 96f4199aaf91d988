"""Operators for Mammoth Analytics dataset batches: create, suspend/restore, delete, clean up.

Every operator that gets a job back waits for it (deferrable or not) with :class:`MammothJobTrigger`;
the job ids go to XCom key ``job_ids`` as soon as Mammoth accepts the request. A job that ends in
``failure`` or ``error`` fails the task with the reason from the job's response. An acknowledgement
without ``job_id`` is already the final result.
"""

from __future__ import annotations

import abc
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_batchops.core.durable import FINISHED_RETENTION, SafeStore, try_series
from airflow_provider_batchops.core.errors import BatchOpsError, InputError
from airflow_provider_batchops.core.operator import RemoteId, StartAndWaitOperator, refuse_dry_run_outlets
from airflow_provider_batchops.core.state import StatusReport
from airflow_provider_batchops.core.validation import check_choices, check_int
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.models.mammoth import (
    BATCH_STATES,
    ack_job_id,
    check_ids,
    create_batch_body,
    cutoff,
    dataset_path,
    finished_report,
    id_chunks,
    parse_time,
    patch_body,
)
from airflow_provider_batchops.triggers.mammoth import MammothJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: XCom and task state key of the clean-up's selection.
SELECTION_KEY = "selection"
#: The clean-up's default age when neither ``older_than`` nor ``created_before`` is given.
DEFAULT_CLEANUP_AGE = timedelta(days=90)


class MammothBatchOperator(StartAndWaitOperator):
    """Base of the Mammoth operators: send a request on one dataset, then wait for its job(s).

    :param workspace_id: the workspace id.
    :param project_id: the project id.
    :param dataset_id: the dataset id.
    :param mammoth_conn_id: the Airflow connection id (type ``mammoth``).
    :param kwargs: the wait parameters of
        :class:`~airflow_provider_batchops.core.operator.StartAndWaitOperator` and BaseOperator's.
    """

    operation: ClassVar[str]
    remote_id_key = "job_ids"
    many_ids = True
    cannot_cancel_note = "Mammoth jobs cannot be cancelled, so it goes on remotely"
    trigger_class = MammothJobTrigger
    template_fields: tuple[str, ...] = (
        *StartAndWaitOperator.template_fields,
        "workspace_id",
        "project_id",
        "dataset_id",
        "mammoth_conn_id",
    )
    ui_color = "#f6dcc9"

    def __init__(
        self,
        *,
        workspace_id: int | str,
        project_id: int | str,
        dataset_id: int | str,
        mammoth_conn_id: str = MammothHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace_id = workspace_id
        self.project_id = project_id
        self.dataset_id = dataset_id
        self.mammoth_conn_id = mammoth_conn_id
        self._acks: list[Any] = []

    def dataset(self) -> dict[str, int]:
        return dataset_path(self.workspace_id, self.project_id, self.dataset_id)

    @abc.abstractmethod
    def send(self, request: Any) -> Any:
        """Send one request (one item of :meth:`split`); return Mammoth's acknowledgement."""

    def start(self, request: Any) -> list[int]:
        ack = self.send(request)
        self._acks.append(ack)
        job_id = ack_job_id(ack)
        self.log.info("Mammoth accepted the %s: job %s", self.operation, job_id or "none (final answer)")
        return [] if job_id is None else [job_id]

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return MammothJobTrigger.identity_of(remote_id, self.mammoth_conn_id)

    def read_status(self, remote_id: RemoteId) -> StatusReport:
        if isinstance(remote_id, list) and not remote_id:
            return finished_report(self._acks[0] if len(self._acks) == 1 else {"acks": self._acks})
        return super().read_status(remote_id)

    def context_summary(self) -> dict[str, Any]:
        """Facts about the request added to the summary."""
        return {"operation": self.operation, **self.dataset()}

    def resolve(self, report: StatusReport, on_item_failure: str) -> dict[str, Any]:
        report = StatusReport(report.state, {**report.summary, **self.context_summary()}, report.message,
                              report.item_failures)
        return super().resolve(report, on_item_failure)


class MammothCreateBatchOperator(MammothBatchOperator):
    """Append another dataset's rows to a dataset as a new batch (``POST .../batches``) and wait.

    :param source_id: the source dataset id.
    :param mapping: column mappings, all by id (``source_c_id``, ``destination_c_id``) or all by name
        (``source_c_name``, ``destination_c_name``), each with ``expected_destination_c_type``
        ``TEXT``, ``NUMERIC`` or ``DATE``; dicts or
        :class:`~airflow_provider_batchops.models.mammoth.ColumnIdMapping` /
        :class:`~airflow_provider_batchops.models.mammoth.ColumnNameMapping`.
    :param validate_only: only check the mapping (Mammoth answers without a job).
    :param delete_source_ds: delete the source dataset afterwards.
    :param new_ds_details: ``{"name": ...}`` for a new dataset, or ``None``.
    """

    operation = "create"
    template_fields: tuple[str, ...] = (
        *MammothBatchOperator.template_fields,
        "source_id",
        "mapping",
        "validate_only",
        "delete_source_ds",
        "new_ds_details",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"mapping": "json", "new_ds_details": "json"}

    def __init__(
        self,
        *,
        source_id: int | str,
        mapping: list[Any],
        validate_only: bool = False,
        delete_source_ds: bool = False,
        new_ds_details: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_id = source_id
        self.mapping = mapping
        self.validate_only = validate_only
        self.delete_source_ds = delete_source_ds
        self.new_ds_details = new_ds_details

    def validate(self) -> dict[str, Any]:
        self.dataset()
        return create_batch_body(self.source_id, self.mapping, self.validate_only, self.delete_source_ds,
                                 self.new_ds_details)

    def send(self, request: dict[str, Any]) -> Any:
        return self.hook.create_batch(**self.dataset(), body=request)

    def context_summary(self) -> dict[str, Any]:
        return {**super().context_summary(), "source_id": self.source_id, "validate_only": self.validate_only}


class MammothUpdateBatchesOperator(MammothBatchOperator):
    """Suspend and/or restore batches of a dataset (``PATCH .../batches``) and wait.

    :param suspend: batch ids to suspend.
    :param restore: batch ids to restore (make active again).
    """

    operation = "update"
    template_fields: tuple[str, ...] = (*MammothBatchOperator.template_fields, "suspend", "restore")

    def __init__(self, *, suspend: list[int] | None = None, restore: list[int] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suspend = suspend
        self.restore = restore

    def validate(self) -> dict[str, Any]:
        self.dataset()
        return patch_body(self.suspend, self.restore)

    def send(self, request: dict[str, Any]) -> Any:
        return self.hook.update_batches(**self.dataset(), body=request)

    def context_summary(self) -> dict[str, Any]:
        value = patch_body(self.suspend, self.restore)["patch"]["value"]
        return {**super().context_summary(), "suspended": value["suspend"] or [], "restored": value["restore"] or []}


class MammothDeleteBatchesOperator(MammothBatchOperator):
    """Delete batches of a dataset (``DELETE .../batches?ids=``) and wait for the job(s).

    The ids go in one request, split into several only when the URL would grow too long.

    :param batch_ids: the batch ids; a list, or an upstream task's output.
    """

    operation = "delete"
    template_fields: tuple[str, ...] = (*MammothBatchOperator.template_fields, "batch_ids")
    template_fields_renderers: ClassVar[dict[str, str]] = {"batch_ids": "json"}

    def __init__(self, *, batch_ids: list[int] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_ids = batch_ids

    def validate(self) -> list[int]:
        self.dataset()
        return check_ids(self.batch_ids, "batch_ids")

    def split(self, request: list[int]) -> list[list[int]]:
        """The ids in as few requests as the URL length allows."""
        return id_chunks(request)

    def start_is_idempotent(self, request: Any) -> bool:
        return True

    def send(self, request: list[int]) -> Any:
        return self.hook.delete_some_batches(**self.dataset(), batch_ids=request)

    def context_summary(self) -> dict[str, Any]:
        ids = check_ids(self.batch_ids, "batch_ids")
        return {**super().context_summary(), "deleted": ids, "deleted_count": len(ids)}


class MammothBatchCleanupOperator(MammothDeleteBatchesOperator):
    """Delete the batches of a dataset older than a cut-off, keeping the newest, and wait.

    It lists every page (``created_at`` up to the cut-off, optionally only some ``states``), drops
    the ``keep_latest`` newest batches (among those of the chosen states) and batches already
    ``deleting``, then deletes the rest in as few requests as the URL length allows and waits for
    every job. The return value lists what was deleted, or in ``dry_run`` what would be. A selection
    larger than ``max_delete`` fails the task before anything is deleted.

    :param older_than: age of the batches to delete (``timedelta`` or days); default 90 days.
    :param created_before: a moment instead of ``older_than`` (``datetime`` or ISO string).
    :param states: only batches in these states (``active``, ``sync_pending``, ``suspended``).
    :param keep_latest: never delete the newest this many batches.
    :param max_delete: refuse (and delete nothing) when more batches than this are selected.
    :param dry_run: list what would be deleted; delete nothing (not templated).
    """

    operation = "cleanup"
    template_fields: tuple[str, ...] = (
        *MammothBatchOperator.template_fields,
        "older_than",
        "created_before",
        "states",
        "keep_latest",
        "max_delete",
    )

    def __init__(
        self,
        *,
        older_than: timedelta | float | str | None = None,
        created_before: datetime | str | None = None,
        states: list[str] | None = None,
        keep_latest: int = 0,
        max_delete: int = 1000,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_ids=[], **kwargs)
        self.older_than = older_than
        self.created_before = created_before
        self.states = states
        self.keep_latest = keep_latest
        self.max_delete = max_delete
        # BaseOperator has a dry_run() method; the flag is kept under another name.
        self.list_only = dry_run
        self._selection: list[dict[str, Any]] = []
        self._cutoff: datetime | None = None

    def validate(self) -> list[int]:
        self.plan()
        return [int(batch["id"]) for batch in self._selection]

    def plan(self) -> dict[str, Any]:
        """The validated clean-up parameters (no requests)."""
        older_than = self.older_than
        if older_than is None and self.created_before is None:
            older_than = DEFAULT_CLEANUP_AGE
        if not isinstance(self.list_only, bool):
            raise InputError("dry_run", f"expected true or false, got {self.list_only!r}")
        states = check_choices(self.states, "states", BATCH_STATES)
        if states and "deleting" in states:
            raise InputError("states", "batches in state 'deleting' are already being deleted")
        return {
            "dataset": self.dataset(),
            "cutoff": cutoff(older_than, self.created_before, datetime.now(timezone.utc)),
            "states": states,
            "keep_latest": check_int(self.keep_latest, "keep_latest", minimum=0),
            "max_delete": check_int(self.max_delete, "max_delete", minimum=0),
        }

    def select(self, plan: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
        """List the dataset and pick the batches to delete; return them and the kept newest ids."""
        dataset, states = plan["dataset"], plan["states"]
        kept: list[int] = []
        if plan["keep_latest"]:
            newest = self.hook.iter_batches(**dataset, page_size=min(plan["keep_latest"], 100), fields="__min",
                                            states=states, sort=[("created_at", "desc"), ("id", "desc")])
            kept = [int(b["id"]) for b in islice(newest, plan["keep_latest"])]
        protected = set(kept)
        selection = []
        for batch in self.hook.iter_batches(**dataset, fields="__min", states=states, created_to=plan["cutoff"],
                                            sort=[("created_at", "asc"), ("id", "asc")]):
            created = parse_time(batch.get("created_at"))
            if batch.get("id") in protected or batch.get("state") == "deleting":
                continue
            if created is None or created >= plan["cutoff"]:
                continue
            selection.append({k: batch.get(k) for k in ("id", "name", "state", "created_at")})
        return selection, kept

    def execute(self, context: Context) -> Any:
        settings = self.wait_settings(context)  # bad wait parameters fail before any request
        plan = self.plan()
        if self.list_only:
            refuse_dry_run_outlets(self.outlets)
        store = self.store(context, settings)
        if store is not None and (store.get(self.remote_id_key) or self.finished_entry(store, try_series(context))):
            # An earlier try deleted these and died while waiting (or while finishing): wait for its
            # jobs, list nothing.
            self._selection = store.get(SELECTION_KEY) or []
            context["ti"].xcom_push(key=SELECTION_KEY, value=self._selection)
            return super().execute(context)
        self._selection, kept = self.select(plan)
        count = len(self._selection)
        self.log.info("%d batch(es) of dataset %s created before %s selected (kept newest: %s)",
                      count, plan["dataset"]["dataset_id"], plan["cutoff"].isoformat(), kept)
        if count > plan["max_delete"]:
            raise BatchOpsError(
                f"{count} batches match, more than max_delete={plan['max_delete']}; nothing was deleted. "
                "Raise max_delete or narrow the selection (older_than, states)."
            )
        if self.list_only or not self._selection:
            for batch in self._selection[:50]:
                self.log.info("would delete batch %s (%s, %s, %s)", batch["id"], batch["name"], batch["state"],
                              batch["created_at"])
            return self.annotate_outlets(context, {
                **self.context_summary(), "state": "succeeded", "job_ids": [], "jobs": [], "kept_latest": kept,
                "cutoff": plan["cutoff"].isoformat()})
        context["ti"].xcom_push(key=SELECTION_KEY, value=self._selection)
        if store is not None:
            self.keep_selection(store)
        return super().execute(context)

    def keep_selection(self, store: SafeStore) -> None:
        """Keep the selection for a retry within the store's size limit: whole, as ids, or not at all."""
        for kept in (self._selection, [{"id": batch["id"]} for batch in self._selection]):
            if store.fits(kept):
                store.set(SELECTION_KEY, kept)
                return
        store.delete(SELECTION_KEY)  # not one of an earlier run
        self.log.warning("The selection of %d batches is larger than the task state store keeps; a retry "
                         "after a crash waits for the started jobs without listing what they delete",
                         len(self._selection))

    def forget(self, store: SafeStore | None, keep_finished: bool = False) -> None:
        super().forget(store, keep_finished)
        if store is None:
            return
        selection = store.get(SELECTION_KEY) if keep_finished else None
        if selection is None:
            store.delete(SELECTION_KEY)
        else:  # kept beside the finished entry, as long as it is
            store.set(SELECTION_KEY, selection, retention=FINISHED_RETENTION)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        ti = context["ti"]
        self._selection = ti.xcom_pull(task_ids=ti.task_id, key=SELECTION_KEY) or []
        return super().execute_complete(context, event)

    def context_summary(self) -> dict[str, Any]:
        key = "would_delete" if self.list_only else "deleted"
        return {**MammothBatchOperator.context_summary(self), "dry_run": self.list_only, key: self._selection,
                f"{key}_count": len(self._selection)}
