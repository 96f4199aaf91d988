"""A status read written once, sent synchronously (workers) or asynchronously (triggers).

A *reader* is a generator: it yields the :class:`~airflow_provider_batchops.core.http.Call` it needs
(or a list of calls, sent together), is sent the parsed JSON body (or the list of bodies, in order),
and returns its result, usually a :class:`~airflow_provider_batchops.core.state.StatusReport`. A call
made with ``whole_reply=True`` is answered with its :class:`~airflow_provider_batchops.core.http.Reply`
(for a header such as a listing's total count); the reader parses its body itself::

    def task_reader(task_id: int) -> Reader[StatusReport]:
        body = yield Call("GET", "/BatchTask/{id}", path_params={"id": task_id})
        return task_report(body)

:func:`read_sync` and :func:`read_async` drive it; nothing else differs between the two paths. A
reader that fails on what it was sent (a body of the wrong shape) fails with a
:class:`~airflow_provider_batchops.core.errors.MalformedResponseError` naming the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_batchops.core.errors import InputError, MalformedResponseError

if TYPE_CHECKING:
    from airflow_provider_batchops.core.http import ApiClient, Call, Reply

T = TypeVar("T")
#: What a reader yields (one call, or several sent together), is sent (the bodies) and returns.
Reader = Generator["Call | list[Call]", Any, T]


def read_sync(client: ApiClient, reader: Reader[T]) -> T:
    """Run ``reader`` with blocking requests (a worker)."""
    step = _Step(reader)
    while not step.done:
        calls = step.calls
        step.send(calls, [client.request(call) for call in calls])
    return step.result


async def read_async(client: ApiClient, reader: Reader[T]) -> T:
    """Run ``reader`` on the event loop (a trigger); several calls of one step are sent concurrently."""
    step = _Step(reader)
    while not step.done:
        calls = step.calls
        if len(calls) == 1:  # the common case: no gather and no task per poll
            step.send_one(calls[0], await client.arequest(calls[0]))
        else:
            step.send(calls, list(await asyncio.gather(*(client.arequest(call) for call in calls))))
    return step.result


class _Step:
    """The state of one reader between two sends; turns its failures into the provider's errors."""

    __slots__ = ("calls", "done", "many", "reader", "result")

    def __init__(self, reader: Reader[Any]) -> None:
        self.reader = reader
        self.done = False
        self.result: Any = None
        self.calls: list[Call] = []
        self.many = False
        self._advance(None, None, None)  # sending None to a fresh generator starts it, as next() does

    def send(self, calls: list[Call], replies: list[Reply]) -> None:
        bodies = [_body(call, reply) for call, reply in zip(calls, replies, strict=True)]
        value = bodies if self.many else bodies[0]
        if calls:
            self._advance(value, calls[-1], replies[-1])
        else:
            self._advance(value, None, None)

    def send_one(self, call: Call, reply: Reply) -> None:
        """:meth:`send` of one call's reply (the reader yielded one call, or a list of one)."""
        body = _body(call, reply)
        self._advance([body] if self.many else body, call, reply)

    def _advance(self, value: Any, call: Call | None, reply: Reply | None) -> None:
        try:
            request = self.reader.send(value)
        except StopIteration as stop:
            self.done, self.result = True, stop.value
            return
        except InputError:
            raise
        except Exception as exc:  # a reader meets arbitrary JSON: every failure is the same kind
            if call is None or reply is None or isinstance(exc, MalformedResponseError):
                raise
            from airflow_provider_batchops.core.hook import problem_text

            raise MalformedResponseError(call.method, call.resolved_path, reply.status, reply.body_for_error(),
                                         reason=problem_text(exc)) from None
        if type(request) is list:
            self.many = True
            self.calls = request
        elif isinstance(request, list):
            self.many = True
            self.calls = list(request)
        else:
            self.many = False
            self.calls = [request]


def _body(call: Call, reply: Reply) -> Any:
    if call.whole_reply:
        return reply
    try:
        return reply.json()
    except (ValueError, RecursionError) as exc:
        raise MalformedResponseError(call.method, call.resolved_path, reply.status, reply.body_for_error(),
                                     reason=f"body is not valid JSON ({exc})") from None


def one(call: Call) -> Reader[Any]:
    """The reader of one call's body, as it is."""
    body = yield call
    return body
