"""Property tests: every response parser meets arbitrary bodies with a result or the provider's own error.

A status read goes through :func:`parse_reply`, which must turn any parser failure into a
:class:`MalformedResponseError` naming the call; a start goes through :func:`read_start`, which must
turn an unreadable accepted answer into a :class:`StartAcceptedError`. Nothing else may escape: no
pydantic ``ValidationError``, no ``KeyError``/``AttributeError``/``TypeError``. The SSE parser must
turn any bytes, cut anywhere, into the same events as the WHATWG rules applied to the whole stream.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_batchops.core.compat import AirflowFailException
from airflow_provider_batchops.core.errors import MalformedResponseError, StartAcceptedError
from airflow_provider_batchops.core.hook import parse_reply, read_start
from airflow_provider_batchops.core.http import Call, Reply
from airflow_provider_batchops.core.sse import ServerSentEvent, SSEParser, aiter_events
from airflow_provider_batchops.core.state import BatchState, ReportSet, StatusReport
from airflow_provider_batchops.core.validation import check_text_id
from airflow_provider_batchops.hooks.mammoth import MammothHook, _ack, _job_of, _jobs_of
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.hooks.waylay import WaylayHook, _accepted
from airflow_provider_batchops.models import mammoth as mm
from airflow_provider_batchops.models.mammoth import ack_job_id
from airflow_provider_batchops.models.superoffice import task_id_from_start, task_report
from airflow_provider_batchops.models.waylay import batch_id_from_start, batch_report, combine_batch_reports
from airflow_provider_batchops.models.waylay_registry import job_report, jobs_list_report

# Modest and without a deadline, so the file stays fast and timing-independent; no example database, so
# a run stores no failing examples in the repository (hypothesis's own .hypothesis cache ignores itself in git).
PROPERTY = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(PROPERTY, max_examples=100)
FEWER = settings(PROPERTY, max_examples=50)

# -- strategies ---------------------------------------------------------------------------------------
json_leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20))
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value (dict keys and list indexes), the root excluded."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


def near(*bases: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid body with one field (at any depth) replaced by arbitrary JSON, or removed."""

    @st.composite
    def mutate(draw: st.DrawFn) -> Any:
        base = draw(st.sampled_from(bases))
        path = draw(st.sampled_from(paths_of(base)))
        body = copy.deepcopy(base)
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
        return body

    return st.one_of(st.sampled_from(bases), mutate())


# -- valid bodies, one per service, the starting point of the near-valid ones -----------------------
WAYLAY_RUNNING = {"id": "b-1", "user": "users/u", "operation": {"entity": "task", "action": "delete",
                                                               "description": "delete 2 tasks"},
                  "queueTime": 1_700_000_000_000}
WAYLAY_DONE = {**WAYLAY_RUNNING, "finishedTime": "2026-01-01T00:00:00Z",
               "results": {"success": {"t1": {"statusCode": 200}},
                           "failure": {"t2": {"statusCode": 404, "error": "No task t2"}}}}
REGISTRY_JOB = {"job": {"type": "build", "state": "failed", "operation": "build",
                        "job": {"id": "j1", "attemptsMade": 1, "failedReason": "boom"},
                        "function": {"name": "fn", "version": "1.0.0"}, "createdAt": "2026-01-01T00:00:00Z",
                        "result": {"ok": False}},
                "_links": {"self": {"href": "/registry/v2/jobs/build/j1"}}}
REGISTRY_LIST = {"limit": 10, "jobs": [
    {"type": "build", "id": "j1", "state": "completed", "function": {"name": "fn"}},
    {"type": "deploy", "id": "j2", "state": "failed", "function": {"name": "fn"}},
]}
MAMMOTH_JOB = {"id": 7, "status": "failure", "operation": "create", "path": "/x",
               "response": {"response": {"detail": "bad column"}}, "failure_reason": None}
MAMMOTH_JOBS = {"jobs": [MAMMOTH_JOB, {"id": 8, "status": "success", "response": {}}]}
SO_TASK = {"Id": 1, "Name": "Export", "State": "Started", "Result": "", "Response": "", "FileName": "",
           "ProgressPercent": 40, "ProgressDescription": "rows", "CancellationBehaviour": "CanCancel"}
WAYLAY_ACCEPTED = {"statusCode": 202, "uri": "/rules/v1/batch/b-1", "entity": WAYLAY_RUNNING}
MAMMOTH_ACK = {"status_code": 202, "job_id": 7, "failure_reason": None}


def check_report(report: Any) -> None:
    """What every status report promises the wait loop and the trigger event."""
    assert isinstance(report, StatusReport), report
    assert isinstance(report.state, BatchState)
    assert isinstance(report.item_failures, int) and report.item_failures >= 0
    assert isinstance(report.message, str)
    # A state the provider does not know is never a finished one (the wait reads it again).
    assert report.unknown_state is None or not report.state.is_terminal
    # The trigger event carries the report as JSON and the operator rebuilds it.
    as_json = report.to_json()
    json.dumps(as_json)
    assert StatusReport.from_json(as_json) == report


def check_jobs(jobs: Any) -> None:
    assert isinstance(jobs, list)
    for job in jobs:
        check_job(job)


def check_job(job: Any) -> None:
    assert isinstance(job, dict)
    assert isinstance(job["id"], int) and not isinstance(job["id"], bool)
    # What the sensor, the trigger and the operators do with a read job, outside any parse_reply.
    check_report(mm.job_report(job))


#: (name, the call, the parser, what a result must satisfy) for every status read of the provider.
READS: list[tuple[str, Call, Callable[[Any], Any], Callable[[Any], None]]] = [
    ("waylay rules batch", WaylayHook.get_batch_call("rules", "b-1"), partial(batch_report, "rules"), check_report),
    ("waylay resources batch", WaylayHook.get_batch_call("resources", "b-1"), partial(batch_report, "resources"),
     check_report),
    ("registry job", WaylayHook.get_job_call("build", "j1"), job_report, check_report),
    ("registry job list", WaylayHook.list_jobs_call(limit=10), partial(jobs_list_report, function_name=None, limit=10),
     check_report),
    ("registry job list of one function", WaylayHook.list_jobs_call(limit=2),
     partial(jobs_list_report, function_name="fn", limit=2), check_report),
    ("mammoth job", MammothHook.get_job_call(7), _job_of, check_job),
    ("mammoth jobs", MammothHook.get_jobs_calls([7, 8])[0], _jobs_of, check_jobs),
    ("mammoth job report", MammothHook.get_job_call(7), mm.job_report, check_report),
    ("superoffice task", SuperOfficeHook.get_task_call(1), task_report, check_report),
]
READ_IDS = [name for name, *_ in READS]
NEAR_VALID = {
    "waylay rules batch": near(WAYLAY_RUNNING, WAYLAY_DONE),
    "waylay resources batch": near(WAYLAY_RUNNING, WAYLAY_DONE),
    "registry job": near(REGISTRY_JOB),
    "registry job list": near(REGISTRY_LIST),
    "registry job list of one function": near(REGISTRY_LIST),
    "mammoth job": near({"job": MAMMOTH_JOB}),
    "mammoth jobs": near(MAMMOTH_JOBS),
    "mammoth job report": near(MAMMOTH_JOB),
    "superoffice task": near(SO_TASK),
}


def read_outcome(call: Call, content: bytes, parse: Callable[[Any], Any], status: int = 200) -> Any:
    """``parse_reply`` of one answer: the parsed value, or the MalformedResponseError it raised (checked).

    Any other exception propagates and fails the test.
    """
    try:
        return parse_reply(call, Reply(status, {}, content), parse)
    except MalformedResponseError as exc:
        assert (exc.method, exc.path, exc.status) == (call.method, call.resolved_path, status)
        assert exc.reason, "the error must say what was wrong"
        assert f"{call.method} {call.resolved_path}" in str(exc)
        assert exc.__cause__ is None  # no pydantic (or other) traceback chained for the user
        return exc


# -- status reads ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "call", "parse", "check"), READS, ids=READ_IDS)
def test_the_valid_body_of_every_read_parses(name, call, parse, check):
    base = {"waylay rules batch": WAYLAY_DONE, "waylay resources batch": WAYLAY_RUNNING,
            "registry job": REGISTRY_JOB, "registry job list": REGISTRY_LIST,
            "registry job list of one function": REGISTRY_LIST, "mammoth job": {"job": MAMMOTH_JOB},
            "mammoth jobs": MAMMOTH_JOBS, "mammoth job report": MAMMOTH_JOB, "superoffice task": SO_TASK}[name]
    result = read_outcome(call, encoded(base), parse)
    assert not isinstance(result, MalformedResponseError), result
    check(result)


reads = st.sampled_from(READS)


@PROPERTY
@given(read=reads, body=json_values)
def test_any_json_body_is_read_or_malformed(read, body):
    _name, call, parse, check = read
    result = read_outcome(call, encoded(body), parse)
    if not isinstance(result, MalformedResponseError):
        check(result)


@PROPERTY
@given(read=reads, data=st.data())
def test_a_near_valid_body_is_read_or_malformed(read, data):
    name, call, parse, check = read
    body = data.draw(NEAR_VALID[name], label="body")
    result = read_outcome(call, encoded(body), parse)
    if not isinstance(result, MalformedResponseError):
        check(result)


@PROPERTY
@given(read=reads, raw=st.binary(max_size=64) | st.sampled_from([b"", b"null", b"[]", b"{", b"NaN", b"\xef\xbb\xbf{}",
                                                                 b"<html>502</html>", b"1e999", b'"\xff"']))
def test_any_bytes_are_read_or_malformed(read, raw):
    _name, call, parse, check = read
    result = read_outcome(call, raw, parse)
    if not isinstance(result, MalformedResponseError):
        check(result)


@pytest.mark.parametrize("status", [200, 201, 204])
@pytest.mark.parametrize(("name", "call", "parse", "check"), READS, ids=READ_IDS)
def test_an_empty_answer_is_malformed_with_its_status(name, call, parse, check, status):
    result = read_outcome(call, b"", parse, status)
    assert isinstance(result, MalformedResponseError)
    assert f"HTTP {status}" in str(result)


@pytest.mark.parametrize("path", ["parse_reply", "read_start"])
def test_a_body_nested_too_deep_to_parse_is_the_providers_error(path):
    # ApiClient's own check turns such a body into a MalformedResponseError / StartOutcomeUnknownError before
    # these run; they must still hold their promise on their own, e.g. for a Reply built elsewhere.
    deep = Reply(200, {}, b"[" * 100_000)
    if path == "parse_reply":
        assert isinstance(read_outcome(SuperOfficeHook.get_task_call(1), deep.content, task_report),
                          MalformedResponseError)
    else:
        assert isinstance(start_outcome(Call("POST", "/BatchTask"), deep, lambda r: task_id_from_start(r.json())),
                          StartAcceptedError)


# -- properties of the reports themselves -------------------------------------------------------------
item_ids = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=6)
successes = st.dictionaries(item_ids, st.dictionaries(st.sampled_from(["statusCode", "x"]), json_leaves, max_size=2),
                            max_size=8)
failures = st.dictionaries(item_ids, st.fixed_dictionaries({"statusCode": st.integers(100, 599)},
                                                           optional={"error": st.text(max_size=10)}), max_size=8)


@st.composite
def waylay_batches(draw: st.DrawFn) -> dict[str, Any]:
    body = {**WAYLAY_RUNNING, "id": draw(item_ids)}
    if draw(st.booleans()):
        body.update(finishedTime=draw(st.integers(0, 2**53) | st.none()),
                    results={"success": draw(successes), "failure": draw(failures)})
    return body


@FEW
@given(body=waylay_batches())
def test_a_waylay_batch_report_counts_every_item(body):
    report = batch_report("rules", body)
    check_report(report)
    if "results" not in body and body.get("finishedTime") is None:
        assert report.state is BatchState.RUNNING
        return
    success, failure = body["results"]["success"], body["results"]["failure"]
    assert report.summary["succeeded"] == len(success) and report.summary["failed"] == len(failure)
    assert report.item_failures == len(failure)
    assert set(report.summary["failures"]) <= set(failure)
    expected = (BatchState.SUCCEEDED if not failure else
                BatchState.PARTIALLY_FAILED if success else BatchState.FAILED)
    assert report.state is expected


@FEW
@given(bodies=st.lists(waylay_batches() | near(WAYLAY_RUNNING, WAYLAY_DONE), min_size=1, max_size=4))
def test_split_batches_combine_whatever_each_one_reads(bodies):
    """The resources bulk delete follows several batches through a ReportSet (as read_status does)."""
    reports = {}
    for n, body in enumerate(bodies):
        result = read_outcome(WaylayHook.get_batch_call("resources", f"b{n}"), encoded(body),
                              partial(batch_report, "resources"))
        if not isinstance(result, MalformedResponseError):
            reports[f"b{n}"] = result
    ids = [f"b{n}" for n in range(len(bodies))]
    combined = ReportSet(ids, partial(combine_batch_reports, "resources")).update(reports)
    check_report(combined)
    if len(ids) > 1 and len(reports) == len(ids) and all(r.state.is_terminal for r in reports.values()):
        assert combined.summary["succeeded"] == sum(r.summary["succeeded"] for r in reports.values())
        assert combined.item_failures == sum(r.item_failures for r in reports.values())
    else:
        assert combined.state.is_terminal == (len(reports) == len(ids) and
                                              all(r.state.is_terminal for r in reports.values()))


@FEW
@given(body=json_values | near(MAMMOTH_JOBS), ids=st.lists(st.integers(1, 10), min_size=1, max_size=4, unique=True))
def test_mammoth_jobs_read_then_reported_never_raise_outside_the_read(body, ids):
    """``get_jobs_report`` parses with ``_jobs_of`` inside the read, then reports outside it."""
    jobs = read_outcome(MammothHook.get_jobs_calls(ids)[0], encoded(body), _jobs_of)
    if not isinstance(jobs, MalformedResponseError):
        check_report(mm.jobs_report(jobs, ids))


# -- starts -----------------------------------------------------------------------------------------------
def start_outcome(call: Call, reply: Reply, read_id: Callable[[Reply], Any]) -> Any:
    """``read_start`` of one accepted answer: the id, or the StartAcceptedError it raised (checked)."""
    try:
        return read_start(call, reply, read_id)
    except StartAcceptedError as exc:
        assert isinstance(exc, AirflowFailException)  # never retried by Airflow
        text = str(exc)
        assert f"{call.method} {call.resolved_path} was accepted (HTTP {reply.status})" in text
        assert "not started again" in text
        assert exc.__cause__ is None
        return exc


def check_batch_id(value: Any) -> None:
    assert isinstance(value, str) and check_text_id(value, "batch id") == value


def check_accepted(value: Any) -> None:
    assert isinstance(value, dict)
    check_batch_id(value["entity"]["id"])


def check_task_id(value: Any) -> None:
    assert isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_ack(value: Any) -> None:
    job_id = ack_job_id(value)  # the operator reads it again: it must not fail there
    assert job_id is None or (isinstance(job_id, int) and job_id > 0)
    if job_id is None:
        check_report(mm.finished_report(value))


STARTS: list[tuple[str, Call, Callable[[Reply], Any], Callable[[Any], None]]] = [
    ("waylay batch id", WaylayHook.start_batch_call("rules", {"action": "stop"}), batch_id_from_start,
     check_batch_id),
    ("waylay acceptance", WaylayHook.start_batch_call("resources", {"action": "delete"}), _accepted, check_accepted),
    ("superoffice task id", Call("POST", "/BatchTask"), lambda reply: task_id_from_start(reply.json()),
     check_task_id),
    ("mammoth ack", Call("POST", "/workspaces/{w}/batches", path_params={"w": 4}), _ack, check_ack),
]
START_NEAR = {"waylay batch id": near(WAYLAY_ACCEPTED), "waylay acceptance": near(WAYLAY_ACCEPTED),
              "superoffice task id": st.integers() | st.text(max_size=12) | st.just("1234"),
              "mammoth ack": near(MAMMOTH_ACK)}
headers = st.one_of(st.just({}), st.builds(lambda v: {"Location": v},
                                           st.text(max_size=30) | st.just("https://x/rules/v1/batch/b-9")))


@PROPERTY
@given(start=st.sampled_from(STARTS), data=st.data(), status=st.sampled_from([200, 201, 202, 204]), head=headers)
def test_an_accepted_start_gives_an_id_or_start_accepted_error(start, data, status, head):
    name, call, read_id, check = start
    body = data.draw(json_values | START_NEAR[name], label="body")
    raw = data.draw(st.just(encoded(body)) | st.binary(max_size=16), label="raw")
    result = start_outcome(call, Reply(status, head, raw), read_id)
    if not isinstance(result, StartAcceptedError):
        check(result)


def test_a_waylay_start_id_comes_from_the_location_header_when_the_body_has_none():
    reply = Reply(202, {"Location": "https://gw/rules/v1/batch/b-9"}, b"{}")
    assert start_outcome(WaylayHook.start_batch_call("rules", {}), reply, batch_id_from_start) == "b-9"


links = st.none() | st.text(max_size=20) | st.builds("{}/rules/v1/batch/{}".format,
                                                       st.sampled_from(["", "https://gw", "http://h:8080"]), item_ids)


@PROPERTY
@given(batch_id=item_ids.filter(lambda i: i.lower() not in ("none", "null", "undefined")), uri=links, location=links)
def test_a_readable_entity_id_wins_over_uri_and_location(batch_id, uri, location):
    body = {**WAYLAY_ACCEPTED, "entity": {**WAYLAY_RUNNING, "id": batch_id}, "uri": uri}
    reply = Reply(202, {} if location is None else {"Location": location}, encoded(body))
    assert start_outcome(WaylayHook.start_batch_call("rules", {}), reply, batch_id_from_start) == batch_id
    assert start_outcome(WaylayHook.start_batch_call("rules", {}), reply, _accepted)["entity"]["id"] == batch_id


@pytest.mark.parametrize("where", ["uri", "Location"])
def test_an_unparsable_link_does_not_hide_a_readable_entity_id(where):
    link = "http://[gw/rules/v1/batch/b-2"  # urlsplit: ValueError("Invalid IPv6 URL")
    body = {"entity": {"id": "b-1"}, **({"uri": link} if where == "uri" else {})}
    reply = Reply(202, {"Location": link} if where == "Location" else {}, encoded(body))
    assert start_outcome(WaylayHook.start_batch_call("rules", {}), reply, batch_id_from_start) == "b-1"


# -- server-sent events -----------------------------------------------------------------------------------
_LINE_END = re.compile(r"\r\n|\r|\n")


def reference_events(stream: bytes) -> tuple[list[ServerSentEvent], int]:
    """The WHATWG event-stream rules applied to the whole stream at once: (events, comment lines)."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = _LINE_END.split(text)[:-1]  # the last piece has no line end yet: not processed
    events, comments = [], 0
    event_type, data, last_id, retry = "", [], None, None
    for line in lines:
        if not line:
            if data:
                events.append(ServerSentEvent(event_type or "message", "\n".join(data), last_id, retry))
            event_type, data = "", []
            continue
        if line.startswith(":"):
            comments += 1
            continue
        name, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if name == "event":
            event_type = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and len(value) <= 12 and all(c in "0123456789" for c in value):
            retry = int(value)
    return events, comments


def feed_all(chunks: list[bytes]) -> tuple[list[ServerSentEvent], int]:
    parser = SSEParser()
    events = []
    for chunk in chunks:
        produced = parser.feed(chunk)  # any exception here fails the test
        assert all(isinstance(e, ServerSentEvent) for e in produced)
        events.extend(produced)
    return events, parser.comments


def cut(stream: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(min(p, len(stream)) for p in points), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


field_values = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12)
# Retry values: ASCII digits mostly, with other Unicode digits ('²' passes str.isdigit, int() refuses it).
retry_values = st.text("0123456789 -x\u00b2\u0663\uff11", max_size=6) | field_values
field_names = st.sampled_from(["data", "data", "data", "event", "id", "retry", "", "unknown", "dat", " data"])
field_lines = field_names.flatmap(
    lambda name: st.tuples(st.just(name), retry_values if name == "retry" else field_values)
).flatmap(lambda nv: st.sampled_from([f"{nv[0]}:{nv[1]}", f"{nv[0]}: {nv[1]}", nv[0]]))
# Mostly fields, often a blank line (dispatch), sometimes a comment (keep-alive).
sse_lines = st.one_of(field_lines, field_lines, st.just(""), field_values.map(lambda v: ":" + v))


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    """Event-stream text with mixed line ends, an optional BOM, and raw bytes thrown in."""
    parts = [b"\xef\xbb\xbf"] if draw(st.booleans()) else []
    for line in draw(st.lists(sse_lines, max_size=12)):
        parts.append(line.encode())
        parts.append(draw(st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r\n"])))
        if draw(st.integers(0, 9)) == 0:
            parts.append(draw(st.binary(max_size=6)))
    return b"".join(parts)


@PROPERTY
@given(chunks=st.lists(st.binary(max_size=24), max_size=12))
def test_any_byte_chunks_give_events_and_nothing_else(chunks):
    assert feed_all(chunks) == reference_events(b"".join(chunks))


def cut_points(stream: bytes) -> st.SearchStrategy[int]:
    """Anywhere, but often where a cut is hard: just after a CR, or inside a UTF-8 character."""
    tricky = [i + 1 for i, byte in enumerate(stream) if byte == 0x0D or byte >= 0x80]
    anywhere = st.integers(0, len(stream))
    return st.one_of(anywhere, st.sampled_from(tricky)) if tricky else anywhere


@PROPERTY
@given(data=st.data())
def test_the_same_stream_cut_anywhere_gives_the_same_events(data):
    stream = data.draw(sse_streams(), label="stream")
    whole = feed_all([stream])
    assert whole == reference_events(stream)
    points = data.draw(st.lists(cut_points(stream), max_size=8), label="cuts")
    assert feed_all(cut(stream, points)) == whole
    # And cut at every hard place at once: after each CR, inside each multi-byte character.
    assert feed_all(cut(stream, [i + 1 for i, byte in enumerate(stream) if byte == 0x0D or byte >= 0x80])) == whole


@FEWER
@given(stream=sse_streams())
def test_a_stream_fed_byte_by_byte_gives_the_same_events(stream):
    assert feed_all([stream[i : i + 1] for i in range(len(stream))]) == feed_all([stream])


@FEWER
@given(data=st.data())
def test_async_iteration_gives_the_parser_events(data):
    stream = data.draw(sse_streams(), label="stream")
    points = data.draw(st.lists(cut_points(stream), max_size=6), label="cuts")

    async def chunks():
        for chunk in cut(stream, points):
            yield chunk

    async def collect():
        return [event async for event in aiter_events(chunks())]

    assert asyncio.run(collect()) == feed_all([stream])[0]


@pytest.mark.parametrize("value", ["\u00b2", "1\u00b2", "9" * 5000])
def test_a_retry_field_that_is_not_a_plain_number_is_ignored(value):
    """'²' is a digit to str.isdigit() but not to int(); 5000 digits exceed int()'s limit."""
    events, _ = feed_all([f"retry: {value}\ndata: x\n\n".encode()])
    assert events == [ServerSentEvent("message", "x")]


@pytest.mark.parametrize("data", ['{"job": "j1"}', '{"job": [1]}', '{"job": 5}', "[" * 100_000])
def test_registry_event_data_of_any_shape_is_about_this_job_or_not(data):
    from airflow_provider_batchops.triggers.waylay import WaylayRegistryJobTrigger

    assert WaylayRegistryJobTrigger(job_type="build", job_id="j1")._about_this_job(data) is False

