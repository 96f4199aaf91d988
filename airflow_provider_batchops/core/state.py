"""The status vocabulary shared by every service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from airflow_provider_batchops.core.validation import whole_number_text


class BatchState(str, Enum):
    """Where a remote batch or job stands, whatever the service calls it on the wire."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self._value_ in _TERMINAL_VALUES  # by value: an Enum member hashes in Python code

    @property
    def is_success(self) -> bool:
        return self is BatchState.SUCCEEDED

    @classmethod
    def parse(cls, value: str, *, field_name: str = "state") -> BatchState:
        """Read a state written by a user or carried in an event; names the field when unknown."""
        from airflow_provider_batchops.core.errors import InputError

        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise InputError(field_name, f"unknown state {value!r}; allowed: {allowed}") from None


def outcome(succeeded: int, failed: int, unfinished: int = 0) -> BatchState:
    """The one rule for work made of parts (items, batches, jobs): any part unfinished -> running;
    some failed -> partially failed when others succeeded, else failed; none failed -> succeeded."""
    if unfinished:
        return BatchState.RUNNING
    if not failed:
        return BatchState.SUCCEEDED
    return BatchState.PARTIALLY_FAILED if succeeded else BatchState.FAILED


_TERMINAL = frozenset(
    {BatchState.SUCCEEDED, BatchState.PARTIALLY_FAILED, BatchState.FAILED, BatchState.CANCELLED}
)
_TERMINAL_VALUES = frozenset(state.value for state in _TERMINAL)


# The generated __init__ on purpose: its values stay inside the instance (no separate __dict__ object),
# and a report lives over the sleep between two polls, so a wait keeps one GC-tracked object, not two.
@dataclass(frozen=True)
class StatusReport:
    """One reading of a remote batch or job.

    :param state: the mapped state.
    :param summary: JSON-safe facts for the user (ids, counts, failures); the operator's return value.
    :param message: a one-line human description, used in logs and errors.
    :param item_failures: how many items of a finished batch failed (tasks, resources, ...). Such
        failures are governed by the ``on_item_failure`` policy; a failure of the whole operation is not.
    :param unknown_state: the service's own state, as read, when the provider does not know it (the
        report is then not finished); ``None`` when the state was understood.
    """

    state: BatchState
    summary: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    item_failures: int = 0
    unknown_state: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "state": self.state.value,
            "summary": self.summary,
            "message": self.message,
            "item_failures": self.item_failures,
        }
        if self.unknown_state is not None:
            data["unknown_state"] = self.unknown_state
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusReport:
        unknown = data.get("unknown_state")
        return cls(
            state=BatchState.parse(data["state"]),
            summary=dict(data.get("summary") or {}),
            message=str(data.get("message") or ""),
            item_failures=int(data.get("item_failures") or 0),
            unknown_state=None if unknown is None else str(unknown),
        )


#: Stands for a state field the answer did not carry at all.
MISSING_STATE = "<missing>"


def map_state(
    raw: Any, states: Mapping[str, BatchState], numbers: Mapping[int, str] | None = None
) -> tuple[BatchState, str | None]:
    """A service's wire state as ``(state, unknown)``: ``unknown`` is the raw text when not understood.

    Names match whatever their case (``SUCCESS`` is ``success``); ``numbers`` maps the documented
    numeric forms (an integer or a numeric string) onto names. A state mapped to
    :attr:`BatchState.UNKNOWN` (a service's own "unknown") also counts as not understood.
    """
    if raw is None:
        return BatchState.UNKNOWN, MISSING_STATE
    text = str(raw).strip()
    if numbers is not None and not isinstance(raw, bool) and whole_number_text(text):
        text = numbers.get(int(text), text)
    lowered = {name.lower(): state for name, state in states.items()}
    state = lowered.get(text.lower(), BatchState.UNKNOWN)
    return state, (text[:100] if state is BatchState.UNKNOWN else None)


#: Listed entries (failed items, jobs) kept in one summary; counts stay complete. Keeps XCom small.
MAX_LISTED = 100


def bounded(entries: Mapping[str, Any] | list[Any], limit: int = MAX_LISTED) -> Any:
    """The first ``limit`` entries of a dict or list (the rest are counted, not listed)."""
    if len(entries) <= limit:
        return entries
    if isinstance(entries, Mapping):
        return dict(list(entries.items())[:limit])
    return list(entries[:limit])


class ReportSet:
    """The latest reports of several remote ids that make one logical operation.

    Ids already finished are not read again; :meth:`update` merges fresh reads and combines.

    :param ids: the remote ids, in order.
    :param combine: turns the per-id reports into one.
    :param unread: the report of an id with no reading yet (not finished, so it is read again).
    """

    def __init__(
        self,
        ids: list[Any],
        combine: Callable[[list[StatusReport]], StatusReport],
        unread: Callable[[Any], StatusReport] = lambda _id: StatusReport(BatchState.UNKNOWN),
    ) -> None:
        self.ids = list(ids)
        self.combine = combine
        self.unread = unread
        self._latest: dict[Any, StatusReport] = {}

    def pending(self) -> list[Any]:
        if len(self.ids) == 1:  # one id (most waits): the same as below, without the comprehension
            only = self.ids[0]
            latest = self._latest.get(only)
            return [only] if latest is None or not latest.state.is_terminal else []
        return [i for i in self.ids if i not in self._latest or not self._latest[i].state.is_terminal]

    def update(self, fresh: dict[Any, StatusReport]) -> StatusReport:
        self._latest.update(fresh)
        if len(self.ids) == 1:  # one id (most waits): the same as below, without the lists
            only = self.ids[0]
            report = self._latest[only] if only in self._latest else self.unread(only)
            combined = self.combine([report])
            if report.unknown_state and combined.unknown_state is None and not combined.state.is_terminal:
                combined = replace(combined, unknown_state=f"{only}: {report.unknown_state}")
            return combined
        reports = [self._latest[i] if i in self._latest else self.unread(i) for i in self.ids]
        combined = self.combine(reports)
        unknown = [f"{i}: {r.unknown_state}" for i, r in zip(self.ids, reports, strict=True) if r.unknown_state]
        if unknown and combined.unknown_state is None and not combined.state.is_terminal:
            combined = replace(combined, unknown_state="; ".join(unknown[:5]))
        return combined
