"""Pytest fixtures serving the simulator on a free loopback port, and helpers for tests that use it.

``simulator`` is started once per session; ``sim`` hands the same server to a test after a full
reset (counters, faults, settings, tasks, resources, batches and registry jobs), so tests do not
see each other's state. :class:`SSEReader` reads a raw ``text/event-stream`` response, bounded in time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from airflow_provider_batchops.simulator import SimulatorConfig, SimulatorServer

#: Settings of the session server: quick batches and job steps so tests that wait for completion stay fast.
SESSION_CONFIG = SimulatorConfig(seed=42, tasks=200, resources=300, batch_delay=0.2, token_ttl=3600, job_step_delay=0.2)


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorServer]:
    """The simulator, started once for the whole session."""
    server = SimulatorServer(SESSION_CONFIG)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorServer:
    """The session simulator, fully reset for this test."""
    simulator.reset(state=True)
    return simulator


def auth_headers(server: SimulatorServer) -> dict[str, str]:
    """An ``Authorization`` header with a valid Waylay token for ``server``."""
    return {"Authorization": f"Bearer {server.issue_token()}"}


def get(server: SimulatorServer, uri: str, headers: dict[str, str]) -> requests.Response:
    """``GET`` a path of ``server``."""
    return requests.get(f"{server.url}{uri}", headers=headers, timeout=5)


def wait_finished(server: SimulatorServer, uri: str, headers: dict[str, str], limit: float = 5.0) -> dict[str, Any]:
    """Read a Waylay batch at ``uri`` until it has ``finishedTime``; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    for _ in range(500):
        body: dict[str, Any] = get(server, uri, headers).json()
        if "finishedTime" in body:
            return body
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise AssertionError(f"batch {uri} did not finish within {limit} s")


def run_batch_at(server: SimulatorServer, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """Start a Waylay batch at ``path`` and return its finished body."""
    response = requests.post(f"{server.url}{path}", json=body, headers=headers, timeout=5)
    assert response.status_code == 202, response.text
    return wait_finished(server, response.headers["Location"], headers)


_BLOCK_END = re.compile(rb"\r\n\r\n|\n\n")
_LINE_END = re.compile(r"\r\n|\n")


@dataclass
class Message:
    """One block of an event stream: an event (``event``, ``data`` lines) or only comments."""

    event: str = ""
    data_lines: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    raw: bytes = b""

    @property
    def data(self) -> str:
        """The data lines joined with ``\\n``, as an SSE client dispatches them."""
        return "\n".join(self.data_lines)


class SSEReader:
    """Splits a streamed response into :class:`Message` blocks; every read is bounded by a deadline."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.raw = b""
        self.ended = False
        self._buffer = b""
        self._chunks = response.iter_content(chunk_size=None)

    def next(self, limit: float = 5.0) -> Message | None:
        """The next block, or ``None`` once the stream has ended; fail after ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while True:
            found = _BLOCK_END.search(self._buffer)
            if found:
                block, self._buffer = self._buffer[: found.start()], self._buffer[found.end():]
                return self._parse(block + found.group())
            if self.ended:
                return None
            if time.monotonic() > deadline:
                raise AssertionError(f"no complete event within {limit} s; pending: {self._buffer!r}")
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.ended = True
                continue
            self.raw += chunk
            self._buffer += chunk

    def events(self, count: int, limit: float = 10.0, skip_keepalive: bool = True) -> list[Message]:
        """The next ``count`` events (keep-alives skipped unless asked), fewer if the stream ends."""
        deadline = time.monotonic() + limit
        found: list[Message] = []
        for _ in range(count * 50):
            if len(found) == count:
                break
            message = self.next(max(0.0, deadline - time.monotonic()))
            if message is None:
                break
            if skip_keepalive and (not message.event or message.event == "keep-alive"):
                continue
            found.append(message)
        return found

    @staticmethod
    def _parse(block: bytes) -> Message:
        message = Message(raw=block)
        for line in _LINE_END.split(block.decode()):
            if not line:
                continue
            if line.startswith(":"):
                message.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                message.event = value
            elif name == "data":
                message.data_lines.append(value)
        return message
