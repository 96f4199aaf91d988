"""Sensors that wait for Waylay batch operations and registry jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_provider_batchops.core.operator import RemoteId, check_flag
from airflow_provider_batchops.core.sensor import StatusSensor
from airflow_provider_batchops.hooks.waylay import WaylayHook, check_id, check_service
from airflow_provider_batchops.models.waylay_registry import (
    check_job_type,
    timestamp_spec,
)
from airflow_provider_batchops.triggers.waylay import (
    WaylayBatchTrigger,
    WaylayRegistryJobsTrigger,
    WaylayRegistryJobTrigger,
    batch_id_list,
)


class _WaylaySensor(StatusSensor):
    template_fields: tuple[str, ...] = (*StatusSensor.template_fields, "waylay_conn_id")

    def __init__(self, *, waylay_conn_id: str = WaylayHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.waylay_conn_id = waylay_conn_id


class WaylayBatchSensor(_WaylaySensor):
    """Wait for Waylay rules or resources batch operations to finish; return their summary.

    Succeeds when the batch finished with no failed item. Failed items fail the sensor, or only log a
    warning with ``on_item_failure="warn"``. Deferrable mode uses :class:`WaylayBatchTrigger`, the
    trigger the batch operators use.

    :param service: ``rules`` or ``resources``.
    :param batch_id: the batch operation id (templated), or a list of ids that finish together (e.g.
        the ``batch_ids`` XCom of :class:`~..operators.waylay.ResourcesBatchDeleteOperator`).
    :param waylay_conn_id: the Airflow connection id.
    """

    template_fields: tuple[str, ...] = (*_WaylaySensor.template_fields, "service", "batch_id")
    trigger_class = WaylayBatchTrigger

    def __init__(self, *, service: str = "rules", batch_id: str | list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.batch_id = batch_id

    def validate(self) -> None:
        check_service(self.service)
        self.remote_target()

    def remote_target(self) -> RemoteId:
        ids = batch_id_list(batch_id=self.batch_id)
        return ids if len(ids) > 1 or isinstance(self.batch_id, (list, tuple)) else ids[0]

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return WaylayBatchTrigger.identity_of(self.service, remote_id, self.waylay_conn_id)


class WaylayRegistryJobSensor(_WaylaySensor):
    """Wait for a Waylay registry job: succeed on ``completed``, fail on ``failed`` with its reason.

    Deferrable mode follows the job event stream (``use_events=True``) with polling as the fallback;
    see :class:`~airflow_provider_batchops.triggers.waylay.WaylayRegistryJobTrigger`. The return value
    is the job summary (type, id, state, function, result, failed_reason, ...).

    :param job_type: ``build``, ``deploy``, ``verify``, ``undeploy``, ``batch``, ``scale``, ``cleanup``
        or ``notify``.
    :param job_id: the job id (templated; may contain ``$``).
    :param children: also listen to the events of child jobs (e.g. a verify job's build and deploy).
    :param use_events: follow the event stream when deferred; False polls only.
    """

    template_fields: tuple[str, ...] = (*_WaylaySensor.template_fields, "job_type", "job_id")
    trigger_class = WaylayRegistryJobTrigger

    def __init__(
        self, *, job_type: str, job_id: str, children: bool = False, use_events: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.job_type = job_type
        self.job_id = job_id
        self.children = children
        self.use_events = use_events

    def validate(self) -> None:
        check_job_type(self.job_type)
        check_id(self.job_id, "job_id")
        check_flag(self.children, "children")
        check_flag(self.use_events, "use_events")

    def remote_target(self) -> RemoteId:
        return self.job_id

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return {"job_type": self.job_type, "job_id": remote_id, "children": self.children,
                "use_events": self.use_events, "waylay_conn_id": self.waylay_conn_id}


class WaylayRegistryJobsSensor(_WaylaySensor):
    """Wait until every registry job matching a list query has finished.

    Any failed job fails the sensor, or only logs a warning with ``on_item_failure="warn"``. The
    registry lists at most ``limit`` jobs with no paging: narrow the query with ``created_after``.
    When no job matches, the sensor succeeds at once with ``jobs: 0``.

    :param job_type: a job type or a list of them (``build``, ``deploy``, ``verify``, ...), or None.
    :param function_name: keep only jobs of this plug / webscript / model.
    :param function_type: ``plugs``, ``webscripts`` or ``kfserving`` (or a list).
    :param created_after: an age (``timedelta``, ``"PT2H"``, ``"3d"``) or a moment (``datetime``, ISO).
    :param created_before: likewise.
    :param states: job states to list (e.g. ``["active", "waiting"]``).
    :param limit: the most jobs to list (default 1000).
    """

    template_fields: tuple[str, ...] = (
        *_WaylaySensor.template_fields,
        "job_type",
        "function_name",
        "function_type",
        "created_after",
        "created_before",
        "states",
    )
    trigger_class = WaylayRegistryJobsTrigger

    def __init__(
        self,
        *,
        job_type: str | list[str] | None = None,
        function_name: str | None = None,
        function_type: str | list[str] | None = None,
        created_after: str | timedelta | Any = None,
        created_before: str | timedelta | Any = None,
        states: str | list[str] | None = None,
        limit: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_type = job_type
        self.function_name = function_name
        self.function_type = function_type
        self.created_after = created_after
        self.created_before = created_before
        self.states = states
        self.limit = limit

    def _filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = {
            "job_type": self.job_type,
            "function_type": self.function_type,
            "created_after": timestamp_spec(self.created_after, "created_after"),
            "created_before": timestamp_spec(self.created_before, "created_before"),
            "states": self.states,
            "limit": self.limit,
        }
        call = WaylayHook.list_jobs_call(**filters)  # validates every filter
        params = dict(call.params or {})
        filters.update(job_type=params["type"], function_type=params["functionType"], states=params["state"])
        return filters

    def validate(self) -> None:
        self._filters()
        if self.function_name is not None:
            check_id(self.function_name, "function_name")

    def remote_target(self) -> RemoteId:
        return "registry jobs"

    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        return {**self._filters(), "function_name": self.function_name, "waylay_conn_id": self.waylay_conn_id}
