"""The server-sent events parser (WHATWG event-stream rules)."""

from __future__ import annotations

import json

from airflow_provider_batchops.core.sse import ServerSentEvent, SSEParser, aiter_events

JOB = json.dumps({"job": {"type": "build", "id": "6ccc$If"}, "data": {"prev": "active"}})
STREAM = (
    "\ufeffevent: ack\n"
    "data: forwarding events for build job 6ccc$If\n"
    "\n"
    ": keep-alive\n"
    "\n"
    "event: keep-alive\r\n"
    "data: still here\r\n"
    "\r\n"
    "event: completed\r"
    f"data: {JOB[:20]}\r"
    f"data:{JOB[20:]}\r"
    "id: 42\r"
    "retry: 3000\r"
    "\r"
    "data: caf\u00e9 \u2713\n"
    "\n"
    "event: close\n"
    "data: job completed\n"
    "\n"
)
EXPECTED = [
    ServerSentEvent("ack", "forwarding events for build job 6ccc$If"),
    ServerSentEvent("keep-alive", "still here"),
    ServerSentEvent("completed", f"{JOB[:20]}\n{JOB[20:]}", id="42", retry=3000),
    ServerSentEvent("message", "caf\u00e9 \u2713", id="42", retry=3000),
    ServerSentEvent("close", "job completed", id="42", retry=3000),
]


def parse(chunks: list[bytes]) -> list[ServerSentEvent]:
    parser = SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_a_whole_stream():
    assert parse([STREAM.encode()]) == EXPECTED


def test_a_stream_cut_into_single_bytes():
    data = STREAM.encode()
    assert parse([data[i : i + 1] for i in range(len(data))]) == EXPECTED


def test_a_stream_split_at_every_position():
    data = STREAM.encode()
    for cut in range(1, len(data)):
        assert parse([data[:cut], data[cut:]]) == EXPECTED, f"split at byte {cut}"


def test_multi_line_data_is_joined_and_json_survives():
    events = parse([b"event: completed\ndata: {\"a\":\ndata: 1}\n\n"])
    assert json.loads(events[0].data) == {"a": 1}


def test_comments_count_as_keep_alives_and_dispatch_nothing():
    parser = SSEParser()
    assert parser.feed(b": ping\n\n: ping\n\n") == []
    assert parser.comments == 2


def test_an_event_without_data_is_not_dispatched():
    assert parse([b"event: ack\n\n"]) == []


def test_an_unfinished_event_waits_for_its_blank_line():
    parser = SSEParser()
    assert parser.feed(b"event: completed\ndata: x\n") == []
    assert parser.feed(b"\n") == [ServerSentEvent("completed", "x")]


def test_field_without_colon_and_value_without_space():
    assert parse([b"data\ndata:x\n\n"]) == [ServerSentEvent("message", "\nx")]


def test_unknown_fields_and_bad_retry_are_ignored():
    assert parse([b"foo: bar\nretry: soon\ndata: x\n\n"]) == [ServerSentEvent("message", "x")]


async def test_async_iteration_over_chunks():
    async def chunks():
        data = STREAM.encode()
        for i in range(0, len(data), 7):
            yield data[i : i + 7]

    assert [event async for event in aiter_events(chunks())] == EXPECTED
