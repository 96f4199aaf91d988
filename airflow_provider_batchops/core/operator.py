"""The generic flow: start -> push the id to XCom -> check once -> defer or wait -> summary.

:class:`RemoteWorkMixin` holds what operators and sensors share (waiting in the worker, deferring,
turning a final status or a trigger event into a return value or a clear error);
:class:`StartAndWaitOperator` adds the start. A service operator supplies four small methods.
"""

from __future__ import annotations

import abc
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_batchops.core.compat import conf
from airflow_provider_batchops.core.durable import FINISHED_RETENTION, SafeStore, resume_store, try_series
from airflow_provider_batchops.core.errors import (
    BatchOpsError,
    InputError,
    RemoteWorkFailedError,
    StartAcceptedError,
    TransientApiError,
    WaitTimeoutError,
)
from airflow_provider_batchops.core.hook import start_each
from airflow_provider_batchops.core.state import BatchState, StatusReport
from airflow_provider_batchops.core.trigger import StatusTrigger, event_payload
from airflow_provider_batchops.core.waiting import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_UNKNOWN_STATE_READS,
    PollSchedule,
    WaitLoop,
    check_unknown_reads,
    seconds,
    wait_sync,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

ITEM_FAILURE_POLICIES = ("fail", "warn")
#: Bounds of an asset event's ``extra`` (see :func:`asset_extra`): listed values, text length, JSON size.
EXTRA_LISTED = 20
EXTRA_TEXT = 256
EXTRA_BYTES = 4096
#: What identifies started remote work: one id, or several ids that finish together.
RemoteId = str | int | list[str] | list[int]


def default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


@dataclass(frozen=True)
class WaitSettings:
    """Validated wait parameters of one task run."""

    schedule: PollSchedule
    deadline: float | None
    on_item_failure: str
    unknown_state_reads: int | None = DEFAULT_UNKNOWN_STATE_READS

    def trigger_kwargs(self) -> dict[str, Any]:
        """The wait settings as :class:`StatusTrigger` kwargs."""
        return {
            "poll_interval": self.schedule.interval,
            "max_poll_interval": self.schedule.max_interval,
            "deadline": self.deadline,
            "unknown_state_reads": self.unknown_state_reads,
        }

    def loop(self) -> WaitLoop:
        return WaitLoop(self.schedule, self.deadline, unknown_state_reads=self.unknown_state_reads)


def check_flag(value: Any, field: str) -> bool:
    """A true/false parameter; a string such as ``"false"`` would otherwise count as true."""
    if not isinstance(value, bool):
        raise InputError(field, f"expected true or false, got {value!r}")
    return value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _short(value: Any) -> Any:
    return value[:EXTRA_TEXT] if isinstance(value, str) else value


def asset_extra(summary: Any) -> dict[str, Any]:
    """The part of an operation's summary that goes into its asset events' ``extra``: small JSON.

    Kept: plain values (text cut to :data:`EXTRA_TEXT` characters), lists of plain values (the first
    :data:`EXTRA_LISTED`, with ``<key>_count`` added when cut) and objects of plain values (ids of a
    dataset). Dropped: nested lists and objects (per-item failures, listed batches): their counts stay.
    Keys are then dropped, largest first, until the JSON is at most :data:`EXTRA_BYTES` bytes.
    """
    if not isinstance(summary, dict):
        return {"result": _short(summary)} if _scalar(summary) else {}
    extra: dict[str, Any] = {}
    for key, value in summary.items():
        key = str(key)
        if _scalar(value):
            extra[key] = _short(value)
        elif isinstance(value, (list, tuple)) and all(map(_scalar, value)):
            extra[key] = [_short(item) for item in value[:EXTRA_LISTED]]
            if len(value) > EXTRA_LISTED:
                extra.setdefault(f"{key}_count", len(value))
        elif isinstance(value, dict) and len(value) <= EXTRA_LISTED and all(map(_scalar, value.values())):
            extra[key] = {str(k): _short(v) for k, v in value.items()}
    sizes = {key: len(json.dumps(value, default=str)) for key, value in extra.items()}
    while extra and len(json.dumps(extra, default=str)) > EXTRA_BYTES:
        del extra[max(extra, key=sizes.__getitem__)]
    return extra


def refuse_dry_run_outlets(outlets: Any) -> None:
    """A dry run has no outlets: it changes nothing, and the asset events Airflow emits for a task's
    outlets when it succeeds would tell the DAGs scheduled on them that it did."""
    if outlets:
        raise InputError("outlets", "a dry run changes nothing, and its asset events would tell the DAGs "
                         "scheduled on them that it did; give outlets to the task that makes the change")


def check_policy(value: Any) -> str:
    if value not in ITEM_FAILURE_POLICIES:
        raise InputError("on_item_failure", f"{value!r} is not one of {', '.join(ITEM_FAILURE_POLICIES)}")
    return str(value)


class RemoteWorkMixin(abc.ABC):
    """What an operator or a sensor needs to wait for remote work and report its outcome.

    A subclass declares its trigger class and :meth:`trigger_identity`, the one description of the
    wait (ids, connection id): the deferred wait is that trigger, and the worker-side wait and the
    sensor's poke run the trigger's own reader. Expects ``self.log``, ``self.deferrable`` and
    ``self.defer`` from the Airflow base class.
    """

    log: Any
    deferrable: bool
    trigger_class: ClassVar[type[StatusTrigger[Any]]]
    #: Said in timeout messages when the service offers no way to stop remote work.
    cannot_cancel_note: ClassVar[str] = "the service offers no way to stop it, so it goes on remotely"

    @abc.abstractmethod
    def trigger_identity(self, remote_id: RemoteId) -> dict[str, Any]:
        """The kwargs of :attr:`trigger_class` that identify the wait for ``remote_id``."""

    def make_trigger(self, remote_id: RemoteId, settings: WaitSettings) -> StatusTrigger[Any]:
        """The trigger that waits for ``remote_id`` in the triggerer."""
        return self.trigger_class(**self.trigger_identity(remote_id), **settings.trigger_kwargs())

    def read_status(self, remote_id: RemoteId) -> StatusReport:
        """Read the status once (sync, in the worker) with the trigger's own reader."""
        identity = self.trigger_identity(remote_id)
        cached = getattr(self, "_wait", None)
        if cached is None or cached[0] != identity:
            # Kept across reads, so work that is already finished is not read again.
            cached = self._wait = (identity, self.trigger_class(**identity))
        trigger = cached[1]
        return self.hook.run(trigger.reader())

    @property
    def hook(self) -> Any:
        """The service's hook, built once from the connection attribute the hook class names."""
        hook = getattr(self, "_hook", None)
        if hook is None:
            hook_class = self.trigger_class.hook_class
            hook = self._hook = hook_class(**{hook_class.conn_name_attr: getattr(self, hook_class.conn_name_attr)})
        return hook

    def cancel(self, remote_id: RemoteId) -> str | None:
        """Stop the remote work if the service allows it; return what was done, or ``None``."""
        return None

    def annotate_outlets(self, context: Context, result: Any) -> Any:
        """Put the summary (:func:`asset_extra`) in the ``extra`` of the task's outlet asset events.

        Airflow emits an event for each ``Asset`` in ``outlets`` when the task succeeds; this fills its
        ``extra`` so that a DAG scheduled on the asset reads what changed (``triggering_asset_events``).
        Asset aliases are left to the DAG author. Returns ``result``.
        """
        outlets = getattr(self, "outlets", None)
        events = context.get("outlet_events") if outlets else None
        if not outlets or events is None:
            return result
        from airflow.sdk import Asset

        extra = asset_extra(result)
        for outlet in outlets:
            if isinstance(outlet, Asset):
                events[outlet].extra.update(extra)
        return result

    # -- the flow ---------------------------------------------------------------------------------
    def wait_for(self, remote_id: RemoteId, settings: WaitSettings, defer_timeout: timedelta | None = None) -> Any:
        """Check once; if not finished, defer (deferrable) or poll here; then resolve."""
        loop = settings.loop()
        try:
            first = loop.decide(self.read_status(remote_id))
        except TransientApiError as exc:  # the first read is tolerated like every other
            first = loop.decide(None, exc)
        if first.kind == "done" and first.report is not None:
            return self.resolve(first.report, settings.on_item_failure)
        if first.kind == "sleep" and self.deferrable:
            self.log.info("%s is not finished; deferring to the triggerer", remote_id)
            self.defer(  # type: ignore[attr-defined]
                trigger=self.make_trigger(remote_id, settings),
                method_name="execute_complete",
                timeout=defer_timeout,
            )
        self.log.info("%s is not finished; waiting in the worker", remote_id)
        decision = wait_sync(lambda: self.read_status(remote_id), loop, first)
        return self.resolve_event(event_payload(_text(remote_id), decision), settings.on_item_failure)

    def resolve(self, report: StatusReport, on_item_failure: str) -> dict[str, Any]:
        """Return the summary of finished work, or raise if it failed (per the policy)."""
        summary = report.summary
        if report.state is BatchState.SUCCEEDED:
            self.log.info("Finished: %s", report.message)
            return summary
        if report.item_failures and on_item_failure == "warn":
            self.log.warning("Finished with %d failed item(s): %s", report.item_failures, report.message)
            return summary
        raise RemoteWorkFailedError(f"{report.state.value}: {report.message}", summary)

    def resolve_event(self, event: dict[str, Any] | None, on_item_failure: str) -> dict[str, Any]:
        if not isinstance(event, dict) or "status" not in event:
            raise BatchOpsError(f"The trigger sent no usable event: {event!r}")
        remote_id = event.get("remote_id")
        report = StatusReport.from_json(event["report"]) if event.get("report") else None
        status = event["status"]
        if status in ("success", "failed") and report is not None:
            return self.resolve(report, on_item_failure)
        if status == "timeout":
            outcome = self._cancel_quietly(remote_id)
            raise WaitTimeoutError(f"{event.get('message')}; {outcome}")
        raise BatchOpsError(f"Waiting for {remote_id} failed: {event.get('message')}")

    def _cancel_quietly(self, remote_id: Any) -> str:
        try:
            done = self.cancel(remote_id)
        except Exception as exc:  # best effort: the timeout is what the user must see
            self.log.warning("Could not stop %s: %s", remote_id, exc)
            return f"stopping it failed ({exc})"
        return done or self.cannot_cancel_note

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired (runs on a new operator instance)."""
        return self.resolve_event(event, check_policy(getattr(self, "on_item_failure", "fail")))


class StartAndWaitOperator(RemoteWorkMixin, BaseOperator):
    """Start remote work, push its id to XCom, then wait for it (see the module docstring).

    :param wait_for_completion: wait for the work to finish; when False, return the id at once.
    :param deferrable: wait in the triggerer instead of the worker; defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: first delay between status reads, in seconds (or a ``timedelta``).
    :param max_poll_interval: the longest delay; the delay grows from ``poll_interval`` towards it.
    :param timeout: give up waiting after this long (seconds or ``timedelta``); ``None`` = no limit
        except ``execution_timeout``. On timeout the remote work is stopped where the API allows it.
    :param on_item_failure: ``fail`` (default) fails the task when items of a finished batch failed;
        ``warn`` logs them and succeeds.
    :param durable: remember the started work's id (task state store on Airflow 3.3+, an Airflow
        Variable before) so that a retry after a worker crash resumes waiting on it instead of
        starting it again. A retry after the work failed or timed out starts afresh.
    :param unknown_state_reads: reads in a row in a state this provider does not know before the
        wait fails (default 5; each such state is logged once as a warning); ``None`` = no limit.
    """

    #: XCom key under which the remote id is pushed as soon as the work is accepted.
    remote_id_key: ClassVar[str] = "batch_id"
    #: Whether the remote id is a list of ids that finish together, whatever the number of starts.
    many_ids: ClassVar[bool] = False
    #: Task state key of how many of several starts were accepted (a resume sends only the rest).
    starts_key: ClassVar[str] = "starts_accepted"
    #: Task state key of work that succeeded: its id and the series of tries it finished in.
    finished_key: ClassVar[str] = "finished"
    template_fields: tuple[str, ...] = ("poll_interval", "max_poll_interval", "timeout", "on_item_failure")

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float | timedelta | str = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | timedelta | str | None = None,
        timeout: float | timedelta | str | None = None,
        on_item_failure: str = "fail",
        durable: bool = True,
        unknown_state_reads: int | None = DEFAULT_UNKNOWN_STATE_READS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.durable = durable
        self.unknown_state_reads = unknown_state_reads
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.on_item_failure = on_item_failure

    @abc.abstractmethod
    def validate(self) -> Any:
        """Check the rendered user input and build the request; raise :class:`InputError`."""

    @abc.abstractmethod
    def start(self, request: Any) -> RemoteId:
        """Send one start request (one item of :meth:`split`) and return the id(s) it started."""

    def split(self, request: Any) -> list[Any]:
        """The start requests to send, in order; one by default (see :meth:`execute`)."""
        return [request]

    def start_is_idempotent(self, request: Any) -> bool:
        """Whether sending ``request`` twice is harmless (a delete); such a start is re-sent when its
        answer is lost. A start that is not idempotent is never started twice by this provider."""
        return False

    def wait_settings(self, context: Context) -> WaitSettings:
        for flag in ("wait_for_completion", "deferrable", "durable"):
            check_flag(getattr(self, flag), flag)
        schedule = PollSchedule.from_user(self.poll_interval, self.max_poll_interval)
        timeout = seconds(self.timeout, "timeout", allow_none=True)
        unknown_reads = check_unknown_reads(self.unknown_state_reads)
        deadlines = [] if timeout is None else [time.time() + timeout]
        ti = context.get("ti")
        start_date = getattr(ti, "start_date", None)
        if self.execution_timeout is not None:
            seconds(self.execution_timeout, "execution_timeout")
            if start_date is not None:
                deadline = (start_date + self.execution_timeout).timestamp()
                if deadline <= time.time():
                    raise InputError("execution_timeout", "the task's deadline (start + execution_timeout) "
                                     "has already passed; nothing was started")
                deadlines.append(deadline)
        return WaitSettings(schedule, min(deadlines, default=None), check_policy(self.on_item_failure), unknown_reads)

    def execute(self, context: Context) -> Any:
        settings = self.wait_settings(context)
        request = self.validate()
        parts = self.split(request)
        self._several_starts = len(parts) > 1
        store = self.store(context, settings)
        ids, accepted = self.resume_starts(store, len(parts), try_series(context))
        if accepted == 0:
            self.before_start(parts)
        ids = start_each(parts, self.start_ids, key=self.remote_id_key, accepted=ids, first=accepted,
                         recorded=lambda started, n: self.record(context, store, started, n, len(parts)))
        remote_id = self.remote_id_of(ids)
        if accepted == len(parts):
            context["ti"].xcom_push(key=self.remote_id_key, value=remote_id)
        else:
            self.log.info("Started %s; id pushed to XCom key '%s'", remote_id, self.remote_id_key)
        if not self.wait_for_completion:
            self.finished(store, context, remote_id)
            self.annotate_outlets(context, {self.remote_id_key: remote_id, "state": "started"})
            return remote_id
        recorded = store is not None
        try:
            return self.annotate_outlets(
                context, self.finish(store, context, remote_id, lambda: self.wait_for(remote_id, settings)))
        except (RemoteWorkFailedError, WaitTimeoutError, StartAcceptedError):
            raise
        except Exception as exc:
            retry_safe = isinstance(exc, BatchOpsError) and (recorded or all(map(self.start_is_idempotent, parts)))
            if retry_safe:
                raise
            raise StartAcceptedError(
                f"{self.remote_id_key} {remote_id} was started, then the wait failed ({exc}); a retry would start "
                "it again, so the task fails without Airflow's retries. It may still be running remotely."
            ) from exc

    # -- starting ---------------------------------------------------------------------------------
    def before_start(self, parts: list[Any]) -> None:
        """Check just before the first start is sent (not on a resume); raise to send nothing."""

    def remote_id_of(self, ids: list[Any]) -> RemoteId:
        if self.many_ids:
            return list(ids)
        if len(ids) != 1:
            raise StartAcceptedError(f"Expected one started id, got {ids!r}; the work may be running remotely")
        return ids[0]  # type: ignore[no-any-return]

    def start_ids(self, request: Any) -> list[Any]:
        """:meth:`start` as a list of ids."""
        started = self.start(request)
        return list(started) if isinstance(started, list) else [started]

    def record(self, context: Context, store: SafeStore | None, ids: list[Any], accepted: int, total: int) -> None:
        """Keep the ids accepted so far (task state and XCom) before anything else is sent."""
        value = self.remote_id_of(ids) if accepted == total else list(ids)
        try:
            if store is not None:
                store.record(self.remote_id_key, value)
                if total > 1:
                    store.record(self.starts_key, accepted)
            context["ti"].xcom_push(key=self.remote_id_key, value=value)
        except Exception as exc:
            raise StartAcceptedError(
                f"Started {self.remote_id_key} {value}, then recording it failed ({type(exc).__name__}: {exc}); "
                "the work may be running remotely, so it is not started again."
            ) from exc
        if total > 1:
            self.log.info("Start %d of %d accepted; %s so far: %s", accepted, total, self.remote_id_key, value)

    def resume_starts(self, store: SafeStore | None, total: int, series: int | None = None) -> tuple[list[Any], int]:
        """The ids an earlier try had accepted and how many of the ``total`` starts they cover."""
        done = self.adopt_finished(store, series)
        if done is not None:
            return (list(done) if isinstance(done, list) else [done]), total
        if store is not None and total > 1:
            sent = store.get(self.starts_key)
            previous = store.get(self.remote_id_key)
            if isinstance(sent, int) and 0 < sent < total and isinstance(previous, list):
                self.log.info("Resuming: an earlier try had %d of %d starts accepted (%s); sending the rest",
                              sent, total, previous)
                return list(previous), sent
        remote_id = self.resume(store)
        if remote_id is None:
            return [], 0
        return (list(remote_id) if isinstance(remote_id, list) else [remote_id]), total

    def store(self, context: Context, settings: WaitSettings | None = None) -> SafeStore | None:
        """Where started ids are kept for a retry (``durable``), kept as long as the wait may last."""
        if not self.durable:
            return None
        deadline = settings.deadline if settings is not None else None
        return resume_store(context, None if deadline is None else max(deadline - time.time(), 0.0))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        store = self.store(context)
        return self.annotate_outlets(context, self.finish(
            store, context, None, lambda: super(StartAndWaitOperator, self).execute_complete(context, event)))

    # -- resuming after a retry ---------------------------------------------------------------------
    def finished_entry(self, store: SafeStore | None, series: int | None) -> dict[str, Any] | None:
        """The finished entry of work that succeeded in this series of tries, if any."""
        entry = store.get(self.finished_key) if store is not None else None
        return entry if _of_series(entry, series) else None

    def adopt_finished(self, store: SafeStore | None, series: int | None) -> RemoteId | None:
        """The id of work that succeeded in this series of tries (its try was lost before Airflow stored
        the success), else ``None``; a finished entry from before a clear is dropped."""
        entry = store.get(self.finished_key) if store is not None else None
        if entry is None or store is None:
            return None
        if _of_series(entry, series):
            self.log.info("Resuming: %s finished in an earlier try of this run, which ended before Airflow "
                          "stored its success; not starting it again", entry["id"])
            return entry["id"]  # type: ignore[no-any-return]
        self.log.info("An earlier run of this task, cleared since, finished its work; starting afresh")
        store.delete(self.finished_key)
        return None

    def resume(self, store: SafeStore | None) -> RemoteId | None:
        """The id an earlier try started, if that work is still running or succeeded; else ``None``."""
        previous = store.get(self.remote_id_key) if store is not None else None
        if previous in (None, "", []):
            return None
        try:
            report = self.read_status(previous)
        except BatchOpsError as exc:
            self.log.warning("An earlier try started %s, which cannot be read (%s); starting afresh", previous, exc)
            return None
        if report.state.is_terminal and not report.state.is_success:
            self.log.warning("An earlier try started %s, which ended %s; starting afresh", previous,
                             report.state.value)
            return None
        self.log.info("Resuming: an earlier try started %s (%s); not starting it again", previous,
                      report.state.value)
        return previous  # type: ignore[no-any-return]

    def forget(self, store: SafeStore | None, keep_finished: bool = False) -> None:
        """Drop the record of running work (``keep_finished``: a finished entry was just left for it)."""
        if store is not None:
            store.delete(self.remote_id_key)
            if getattr(self, "_several_starts", True):
                store.delete(self.starts_key)

    def finished(self, store: SafeStore | None, context: Context, remote_id: Any) -> None:
        """The work succeeded: forget its id, leaving a finished entry for a retry of this try (see
        :mod:`~airflow_provider_batchops.core.durable`)."""
        series = try_series(context)
        kept = False
        if store is not None and store.keeps_finished and series is not None:
            if remote_id in (None, "", []):
                remote_id = store.get(self.remote_id_key)
            if remote_id not in (None, "", []):
                store.set(self.finished_key, {"id": remote_id, "series": series}, retention=FINISHED_RETENTION)
                kept = True
        self.forget(store, keep_finished=kept)

    def finish(self, store: SafeStore | None, context: Context, remote_id: Any, wait: Any) -> Any:
        """Run ``wait``; once the remote work has finished, forget its id (see :meth:`finished`)."""
        try:
            result = wait()
        except (RemoteWorkFailedError, WaitTimeoutError):
            self.forget(store)
            raise
        self.finished(store, context, remote_id)
        return result


def _of_series(entry: Any, series: int | None) -> bool:
    """Whether ``entry`` is a finished entry with an id, made in the series of tries ``series``."""
    return (series is not None and isinstance(entry, dict) and entry.get("series") == series
            and entry.get("id") not in (None, "", []))


def _text(remote_id: RemoteId) -> str:
    return ", ".join(map(str, remote_id)) if isinstance(remote_id, list) else str(remote_id)
