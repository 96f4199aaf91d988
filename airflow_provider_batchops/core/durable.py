"""Remember started remote work across task retries, so a retry resumes instead of starting again.

On Airflow 3.3+ the ids go to the task state store (``context["task_state_store"]``), which
outlives a worker crash and is readable by the next try. On older Airflow 3 releases an Airflow
Variable named after the task instance serves instead. Either way the entry is removed once the
remote work has finished (succeeded, failed or timed out), so only a try that died while the work
was running leaves it behind.
"""

from __future__ import annotations

import logging
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


class SafeStore:
    """Wraps a store so that a failing store only costs the resume, never the task."""

    def __init__(self, store: ResumeStore) -> None:
        self.store = store

    def get(self, key: str) -> Any:
        try:
            return self.store.get(key)
        except Exception as exc:
            log.warning("Could not read %r from the task state store (%s); starting afresh", key, exc)
            return None

    def set(self, key: str, value: Any) -> None:
        try:
            self.store.set(key, value)
        except Exception as exc:
            log.warning("Could not record %r in the task state store (%s); a retry would start afresh", key, exc)

    def record(self, key: str, value: Any) -> None:
        """Like :meth:`set`, but a failure raises: used where losing the record could start work twice."""
        self.store.set(key, value)

    def delete(self, key: str) -> None:
        try:
            self.store.delete(key)
        except Exception as exc:
            log.warning("Could not remove %r from the task state store (%s)", key, exc)


def resume_store(context: Context) -> SafeStore | None:
    """The task state store of this task instance (Airflow 3.3+), else the Variable fallback."""
    store = context.get("task_state_store")  # type: ignore[misc]
    if store is not None:
        return SafeStore(store)
    ti = context.get("ti")
    if ti is None or not all(isinstance(getattr(ti, a, None), str) for a in ("dag_id", "run_id", "task_id")):
        return None
    return SafeStore(VariableStore(ti))
