"""A server-sent events parser following the WHATWG event-stream rules.

Chunks may split a line, a ``\\r\\n`` pair or a UTF-8 character anywhere; lines end in ``\\r\\n``,
``\\n`` or ``\\r``; comment lines (``:``) are keep-alives; several ``data:`` lines join with ``\\n``;
an event is dispatched on a blank line, and only if it has data.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its type (``message`` by default), data, last event id and retry hint."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Incremental parser: :meth:`feed` bytes as they arrive, get the events completed so far."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text after the last line break
        self._skip_lf = False  # the previous chunk ended in "\r": a leading "\n" belongs to it
        self._first = True
        self._event = ""
        self._data: list[str] = []
        self._last_id: str | None = None
        self._retry: int | None = None
        self.comments = 0  # comment lines seen, e.g. keep-alives

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            self._first = False
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text:
            text = text.removeprefix("\n")
            self._skip_lf = False
        return list(self._lines(self._pending + text))

    def _lines(self, text: str) -> Iterable[ServerSentEvent]:
        start = 0
        length = len(text)
        while True:
            cr, lf = text.find("\r", start), text.find("\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = text[start:end]
            if text[end] == "\r":
                if end + 1 < length:
                    start = end + 2 if text[end + 1] == "\n" else end + 1
                else:
                    start = end + 1
                    self._skip_lf = True
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                yield event
        self._pending = text[start:]

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 12:
            self._retry = int(value)  # ASCII digits only (str.isdigit also takes '²'); a sane length
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data), self._last_id, self._retry)


async def aiter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    """Events from an async stream of byte chunks (e.g. ``response.content.iter_any()``)."""
    parser = SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
