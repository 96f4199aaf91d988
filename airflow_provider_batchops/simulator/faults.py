"""Fault rules: which simulated API requests to disturb, and how."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass

FAULT_KINDS = ("status", "slow", "drop", "malformed", "cut")
#: Key in the ASGI scope under which a ``cut`` fault passes its event count to a streaming route.
CUT_SCOPE_KEY = "simulator.cut_after_events"
#: Kinds that only apply to streaming routes (server-sent events).
STREAM_KINDS = ("cut",)


@dataclass
class FaultRule:
    """One fault: applies to requests whose route key matches ``route``.

    ``route`` is ``"*"``, a route key such as ``"GET /rules/v1/batch/{batchId}"``,
    or a bare route template (any method). ``times`` is how many more requests
    the rule applies to; ``None`` means every matching request until cleared.
    ``cut`` ends an event stream abruptly after ``after_events`` events; it only
    applies to streaming routes.
    """

    route: str = "*"
    kind: str = "status"
    status: int = 503
    retry_after: int | float | str | None = None
    delay: float = 0.0
    times: int | None = None
    after_events: int = 1
    id: int = 0

    def matches(self, route_key: str) -> bool:
        """Tell whether this rule applies to a request with ``route_key``."""
        if self.route == "*" or self.route == route_key:
            return True
        return " " not in self.route and route_key.partition(" ")[2] == self.route

    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` header value, if any."""
        value = self.retry_after
        if value is None or isinstance(value, str):
            return value
        return str(int(value)) if float(value).is_integer() else str(value)

    def to_dict(self) -> dict[str, object]:
        """JSON form, as accepted by :meth:`from_dict`."""
        return {
            "id": self.id,
            "route": self.route,
            "kind": self.kind,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "times": self.times,
            "after_events": self.after_events,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FaultRule:
        """Build a rule from JSON; raise ``ValueError`` on a bad field."""
        unknown = set(data) - {"route", "kind", "status", "retry_after", "delay", "times", "after_events", "id"}
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        route = data.get("route", "*")
        kind = data.get("kind", "status")
        status = data.get("status", 503)
        retry_after = data.get("retry_after")
        delay = data.get("delay", 0.0)
        times = data.get("times")
        after_events = data.get("after_events", 1)
        if not isinstance(route, str) or not route:
            raise ValueError("route must be a non-empty string")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if retry_after is not None and (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, str | int | float)
            or (not isinstance(retry_after, str) and retry_after < 0)
        ):
            raise ValueError("retry_after must be a number of seconds >= 0 or an HTTP date")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError("delay must be a number of seconds >= 0")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ValueError("times must be a positive integer or null")
        if not isinstance(after_events, int) or isinstance(after_events, bool) or after_events < 1:
            raise ValueError("after_events must be a positive integer")
        return cls(
            route=route,
            kind=str(kind),
            status=status,
            retry_after=retry_after,
            delay=float(delay),
            times=times,
            after_events=after_events,
        )


class FaultSet:
    """Active fault rules, checked in the order they were added."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> FaultRule:
        """Activate ``rule`` (it gets a fresh id) and return it."""
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def clear(self) -> int:
        """Remove every rule; return how many there were."""
        with self._lock:
            count = len(self._rules)
            self._rules.clear()
        return count

    def list(self) -> list[dict[str, object]]:
        """JSON form of the active rules."""
        with self._lock:
            return [rule.to_dict() for rule in self._rules]

    def take(self, route_key: str, streaming: bool = False) -> FaultRule | None:
        """Return the first rule matching ``route_key`` and use up one of its times.

        Stream-only kinds (``cut``) are skipped unless the route is ``streaming``.
        """
        if not self._rules:
            return None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(route_key) or (rule.kind in STREAM_KINDS and not streaming):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._rules[index]
                return rule
        return None
