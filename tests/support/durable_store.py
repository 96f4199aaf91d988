"""A task state store in memory, for the tests of resuming after a retry."""

from __future__ import annotations

from typing import Any


class FakeStore:
    """The interface of Airflow 3.3's ``context["task_state_store"]``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.writes += 1
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)
