"""Remember started remote work across task retries, so a retry resumes instead of starting again.

On Airflow 3.3+ the ids go to the task state store (``context["task_state_store"]``), which
outlives a worker crash and is readable by the next try. On older Airflow 3 releases an Airflow
Variable named after the task instance serves instead. Either way the entry is removed once the
remote work has failed or timed out, so only a try that died while the work was running leaves it
behind.

Work that succeeded is, in the task state store, replaced by a *finished* entry that names the
series of tries it finished in (the task instance's ``max_tries``, which a retry keeps and a clear
raises). A worker lost after the wait ended but before Airflow stored the success is retried in the
same series and adopts the finished work; a task cleared since starts afresh. The Variable fallback
removes the entry instead: a Variable per finished task instance would pile up.
"""

from __future__ import annotations

import inspect
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)
VARIABLE_PREFIX = "batchops.resume"


class ResumeStore(Protocol):
    """Where a task keeps the ids of the remote work it started."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class VariableStore:
    """The fallback before Airflow 3.3: one Airflow Variable per task instance and key."""

    def __init__(self, ti: Any) -> None:
        parts = (ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
        self.prefix = ".".join([VARIABLE_PREFIX, *map(str, parts)])

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}"

    def get(self, key: str) -> Any:
        from airflow.sdk import Variable

        return Variable.get(self._name(key), default=None, deserialize_json=True)

    def set(self, key: str, value: Any) -> None:
        from airflow.sdk import Variable

        Variable.set(self._name(key), value, serialize_json=True,
                     description="airflow-provider-batchops: remote work of a running task (removed when done)")

    def delete(self, key: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(self._name(key))


#: How long a finished entry is kept: long enough for Airflow's retry of a try lost while finishing.
FINISHED_RETENTION = timedelta(days=7)

#: The task state store's default size limit of one value (``[state_store] max_value_storage_bytes``).
DEFAULT_MAX_VALUE_BYTES = 65535


class SafeStore:
    """Wraps a store so that a failing read only costs the resume, never the task.

    :param retention: how long a written entry must outlive its write (the longest wait plus a day);
        passed to stores that take it (Airflow 3.3's task state store), whose default (30 days) a
        long wait could outlive.
    """

    def __init__(self, store: ResumeStore, retention: timedelta | None = None) -> None:
        self.store = store
        self.retention = retention

    def _write(self, key: str, value: Any, retention: timedelta | None = None) -> None:
        retention = retention or self.retention
        if retention is not None and _takes_retention(self.store):
            self.store.set(key, value, retention=retention)  # type: ignore[call-arg]
        else:
            self.store.set(key, value)

    @property
    def keeps_finished(self) -> bool:
        """Whether finished work is remembered (the task state store; not the Variable fallback)."""
        return not isinstance(self.store, VariableStore)

    def fits(self, value: Any) -> bool:
        """Whether ``value`` is within the store's size limit for one value."""
        return len(json.dumps(value, default=str)) <= max_value_bytes()

    def get(self, key: str) -> Any:
        try:
            return self.store.get(key)
        except Exception as exc:
            log.warning("Could not read %r from the task state store (%s); starting afresh", key, exc)
            return None

    def set(self, key: str, value: Any, retention: timedelta | None = None) -> None:
        try:
            self._write(key, value, retention)
        except Exception as exc:
            log.warning("Could not record %r in the task state store (%s); a retry would start afresh", key, exc)

    def record(self, key: str, value: Any) -> None:
        """Like :meth:`set`, but a failure raises: used where losing the record could start work twice."""
        self._write(key, value)

    def delete(self, key: str) -> None:
        try:
            self.store.delete(key)
        except Exception as exc:
            log.warning("Could not remove %r from the task state store (%s)", key, exc)


def resume_store(context: Context, longest_wait: float | None = None) -> SafeStore | None:
    """The task state store of this task instance (Airflow 3.3+), else the Variable fallback.

    :param longest_wait: seconds the wait may last; entries are kept that long plus a day (the
        longest wait the provider allows when there is no deadline).
    """
    from airflow_provider_batchops.core.waiting import MAX_WAIT

    retention = timedelta(seconds=(longest_wait if longest_wait is not None else MAX_WAIT) + 86_400)
    store = context.get("task_state_store")  # type: ignore[misc]
    if store is not None:
        return SafeStore(store, retention)
    ti = context.get("ti")
    if ti is None or not all(isinstance(getattr(ti, a, None), str) for a in ("dag_id", "run_id", "task_id")):
        return None
    return SafeStore(VariableStore(ti))


def try_series(context: Context) -> int | None:
    """The task instance's series of tries: its ``max_tries``, kept by a retry and raised by a clear."""
    series = getattr(context.get("ti"), "max_tries", None)
    return series if isinstance(series, int) and not isinstance(series, bool) else None


def _takes_retention(store: Any) -> bool:
    try:
        return "retention" in inspect.signature(store.set).parameters
    except (TypeError, ValueError):
        return False


def max_value_bytes() -> int:
    """``[state_store] max_value_storage_bytes`` (0 = no limit, read as unlimited)."""
    from airflow_provider_batchops.core.compat import conf

    try:
        limit = conf.getint("state_store", "max_value_storage_bytes", fallback=DEFAULT_MAX_VALUE_BYTES)
    except Exception:
        limit = DEFAULT_MAX_VALUE_BYTES
    return limit if limit > 0 else 2**62
