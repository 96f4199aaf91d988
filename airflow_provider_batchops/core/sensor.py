"""The base sensor: pokes in the worker, or checks once and defers to the same trigger the operators use."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_batchops.core.errors import TransientApiError
from airflow_provider_batchops.core.operator import (
    RemoteId,
    RemoteWorkMixin,
    WaitSettings,
    check_flag,
    check_policy,
    default_deferrable,
)
from airflow_provider_batchops.core.waiting import (
    DEFAULT_MAX_TRANSIENT_FAILURES,
    DEFAULT_UNKNOWN_STATE_READS,
    PollSchedule,
    WaitLoop,
    check_unknown_reads,
    seconds,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Extra time given to the framework's deferral timeout, so the trigger's own timeout event (which
#: reads the status one last time and can stop the remote work) always arrives first.
DEFER_TIMEOUT_PADDING = 60.0


class StatusSensor(RemoteWorkMixin, BaseSensorOperator):
    """Wait until remote work is finished; return its summary (XCom) or fail clearly.

    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param max_poll_interval: in deferrable mode the delay grows from ``poke_interval`` towards this.
    :param on_item_failure: ``fail`` (default) or ``warn`` when items of a finished batch failed.
    :param unknown_state_reads: reads in a row in a state this provider does not know before the
        sensor fails (default 5; each such state is logged once as a warning); ``None`` = no limit.

    A read that fails transiently (after the client's own retries) is tolerated a few times in a row
    in poke mode as in deferrable mode.
    """

    template_fields: tuple[str, ...] = ("max_poll_interval", "on_item_failure")

    def __init__(
        self,
        *,
        deferrable: bool = default_deferrable(),
        max_poll_interval: float | timedelta | None = None,
        on_item_failure: str = "fail",
        unknown_state_reads: int | None = DEFAULT_UNKNOWN_STATE_READS,
        **kwargs: Any,
    ) -> None:
        if deferrable:
            kwargs.setdefault("poke_interval", 5.0)
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval
        self.on_item_failure = on_item_failure
        self.unknown_state_reads = unknown_state_reads
        self._poke_loop: WaitLoop | None = None

    def remote_target(self) -> RemoteId:
        """The id this sensor waits on (after templating)."""
        raise NotImplementedError

    def validate(self) -> None:
        """Check the rendered input; raise :class:`InputError` naming the field."""

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One read; the same loop as the deferred wait decides (transient failures, unknown states)."""
        if self._poke_loop is None:
            schedule = PollSchedule.from_user(self.poke_interval, self.max_poll_interval, field="poke_interval")
            self._poke_loop = WaitLoop(schedule, None, DEFAULT_MAX_TRANSIENT_FAILURES,
                                       check_unknown_reads(self.unknown_state_reads))
        target = self.remote_target()
        try:
            decision = self._poke_loop.decide(self.read_status(target))
        except TransientApiError as exc:
            decision = self._poke_loop.decide(None, exc)
        if decision.kind == "error" and decision.error is not None:
            raise decision.error
        report = decision.report
        if not decision.finished or report is None:
            if report is not None:
                self.log.info("%s is %s", target, report.state.value)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.resolve(report, check_policy(self.on_item_failure)))

    def execute(self, context: Context) -> Any:
        self.validate()
        check_flag(self.deferrable, "deferrable")
        policy = check_policy(self.on_item_failure)
        schedule = PollSchedule.from_user(self.poke_interval, self.max_poll_interval, field="poke_interval")
        unknown_reads = check_unknown_reads(self.unknown_state_reads)
        if not self.deferrable:
            return self.annotate_outlets(context, super().execute(context))
        timeout = seconds(self.timeout, "timeout", allow_none=True)
        settings = WaitSettings(schedule, None if timeout is None else time.time() + timeout, policy, unknown_reads)
        padded = None if timeout is None else timedelta(seconds=timeout + DEFER_TIMEOUT_PADDING)
        return self.annotate_outlets(context, self.wait_for(self.remote_target(), settings, defer_timeout=padded))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self.annotate_outlets(context, super().execute_complete(context, event))
