"""Server-sent events: message encoding, with variations that exercise clients, and a cuttable response.

Per connection, lines end in ``\\n`` or ``\\r\\n``; with ``multiline`` every other JSON payload is
split over two ``data:`` lines (SSE joins them with ``\\n``, which JSON accepts as whitespace);
keep-alives alternate between a comment line and a ``keep-alive`` event.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Send

#: Yielded by a stream's body iterator to end the response abruptly: no final chunk, connection closed.
CUT = b"<cut>"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def split_json(payload: dict[str, Any]) -> list[str]:
    """``payload`` as JSON text in two lines, broken after its first member."""
    members = [f"{_compact(key)}:{_compact(value)}" for key, value in payload.items()]
    if len(members) < 2:
        return [_compact(payload)]
    return ["{" + members[0] + ",", ",".join(members[1:]) + "}"]


class SSEWriter:
    """Encodes the messages of one connection."""

    def __init__(self, crlf: bool = False, multiline: bool = False) -> None:
        self.newline = "\r\n" if crlf else "\n"
        self.multiline = multiline
        self.events = 0  # dispatched events written (comments excluded)
        self._json_events = 0
        self._keep_alives = 0

    def _encode(self, lines: list[str]) -> bytes:
        return (self.newline.join(lines) + self.newline * 2).encode()

    def event(self, name: str, data: str) -> bytes:
        """An event with a plain text ``data`` line."""
        self.events += 1
        return self._encode([f"event: {name}", f"data: {data}"])

    def json_event(self, name: str, payload: dict[str, Any]) -> bytes:
        """An event whose data is JSON; in multiline mode every other one spans two ``data:`` lines."""
        self._json_events += 1
        split = self.multiline and self._json_events % 2 == 1
        data = split_json(payload) if split else [_compact(payload)]
        self.events += 1
        return self._encode([f"event: {name}", *(f"data: {line}" for line in data)])

    def keep_alive(self) -> bytes:
        """A keep-alive: first a comment line, then a ``keep-alive`` event, alternating."""
        self._keep_alives += 1
        if self._keep_alives % 2 == 1:
            return self._encode([": keep-alive"])
        return self.event("keep-alive", "keep-alive")


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response; a :data:`CUT` chunk drops the connection mid-stream."""

    media_type = "text/event-stream"

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                if chunk is CUT:
                    return  # without the final body message the server closes the connection
                data = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
