"""The wait schedule and the one wait loop (core/waiting.py): backoff, deadline, failed reads, unknown states."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from airflow_provider_batchops.core.errors import InputError, MalformedResponseError, UnknownStateError
from airflow_provider_batchops.core.state import BatchState, StatusReport
from airflow_provider_batchops.core.waiting import (
    PollSchedule,
    WaitLoop,
    check_unknown_reads,
    seconds,
    wait_async,
    wait_sync,
)
from tests.support.fake_service import job, job_report

RUNNING = job_report(job("w-1", "running"))
DONE = job_report(job("w-1", "done"))


def failure() -> MalformedResponseError:
    return MalformedResponseError("GET", "/jobs/w-1", 200, "[]", reason="body is a list")


# -- the schedule ------------------------------------------------------------------------------------
def test_the_delay_grows_by_the_factor_up_to_the_cap_within_the_jitter():
    schedule = PollSchedule(interval=2, max_interval=10, factor=2, jitter=0.1)
    for poll, base in [(1, 2), (2, 4), (3, 8), (4, 10), (50, 10), (5000, 10)]:
        delays = [schedule.delay(poll) for _ in range(200)]
        assert all(base * 0.9 <= d <= base * 1.1 for d in delays), poll
        assert max(delays) - min(delays) > base * 0.05  # jittered, not in lockstep


def test_no_jitter_gives_the_exact_delays():
    schedule = PollSchedule(interval=1, max_interval=4, factor=1.5, jitter=0)
    assert [schedule.delay(n) for n in range(1, 6)] == [1, 1.5, 2.25, 3.375, 4]


def test_user_settings_are_read_and_bad_ones_name_their_field():
    assert PollSchedule.from_user("5", timedelta(minutes=1)) == PollSchedule(interval=5, max_interval=60)
    assert PollSchedule.from_user(120, None).max_interval == 120  # never below the interval
    for args, field in [((0, None), "poll_interval"), ((0.01, None), "poll_interval"), (("x", None), "poll_interval"),
                        ((10, 5), "max_poll_interval"), ((True, None), "poll_interval")]:
        with pytest.raises(InputError) as info:
            PollSchedule.from_user(*args)
        assert info.value.field == field
    with pytest.raises(InputError, match="poke_interval"):
        PollSchedule.from_user(-1, None, field="poke_interval")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 0, "1e999", 400 * 86_400])
def test_durations_out_of_range_are_refused(value):
    with pytest.raises(InputError) as info:
        seconds(value, "timeout")
    assert info.value.field == "timeout"


def test_unknown_state_reads_is_a_whole_number_or_none():
    assert check_unknown_reads(None) is None and check_unknown_reads(3) == 3
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(InputError, match="unknown_state_reads"):
            check_unknown_reads(bad)


# -- the loop ----------------------------------------------------------------------------------------
def test_a_finished_report_ends_the_wait_and_an_unfinished_one_sleeps():
    loop = WaitLoop(PollSchedule(1, 1, jitter=0), None)
    sleep = loop.decide(RUNNING)
    assert (sleep.kind, sleep.delay, sleep.finished) == ("sleep", 1, False)
    done = loop.decide(DONE)
    assert (done.kind, done.report, done.finished) == ("done", DONE, True)


def test_the_deadline_caps_the_last_sleep_then_times_out(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("time.time", lambda: now[0])
    loop = WaitLoop(PollSchedule(10, 10, jitter=0), deadline=1025.0)
    assert loop.decide(RUNNING).delay == 10
    now[0] = 1020.0
    assert loop.decide(RUNNING).delay == 5  # the last read happens at the deadline itself
    now[0] = 1025.0
    timeout = loop.decide(RUNNING)
    assert timeout.kind == "timeout" and timeout.report == RUNNING


def test_a_finished_report_at_the_deadline_is_done_not_timed_out(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 2000.0)
    assert WaitLoop(PollSchedule(1, 1), deadline=1000.0).decide(DONE).kind == "done"


def test_failed_reads_are_tolerated_up_to_the_bound_and_a_good_read_resets_the_count():
    loop = WaitLoop(PollSchedule(1, 1), None, max_transient_failures=2)
    assert [loop.decide(None, failure()).kind for _ in range(2)] == ["sleep", "sleep"]
    assert loop.decide(RUNNING).kind == "sleep"
    assert [loop.decide(None, failure()).kind for _ in range(2)] == ["sleep", "sleep"]
    error = loop.decide(None, failure())
    assert error.kind == "error" and isinstance(error.error, MalformedResponseError)
    assert error.report == RUNNING  # the last report read is kept for the event


def test_progress_is_logged_when_it_changes(caplog):
    loop = WaitLoop(PollSchedule(1, 1), None)
    with caplog.at_level(logging.INFO, logger="airflow_provider_batchops.core.waiting"):
        for progress in ("10%", "10%", "50%"):
            loop.decide(job_report(job("w-1", "running", progress=progress)))
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress")] == [
        "Progress: 10%", "Progress: 50%"]


def unknown(raw: str = "Paused") -> StatusReport:
    return StatusReport(BatchState.UNKNOWN, {}, "task 1 is " + raw, unknown_state=raw)


def test_an_unknown_state_is_warned_once_and_ends_the_wait_after_the_grace(caplog):
    loop = WaitLoop(PollSchedule(0.05, 0.05), None, unknown_state_reads=3)
    with caplog.at_level(logging.WARNING):
        decisions = [loop.decide(unknown()) for _ in range(3)]
    assert [d.kind for d in decisions] == ["sleep", "sleep", "error"]
    assert isinstance(decisions[-1].error, UnknownStateError) and "'Paused'" in str(decisions[-1].error)
    assert sum("does not know" in r.getMessage() and "Paused" in r.getMessage() for r in caplog.records) == 1


def test_a_known_state_in_between_restarts_the_grace():
    loop = WaitLoop(PollSchedule(0.05, 0.05), None, unknown_state_reads=2)
    running = StatusReport(BatchState.RUNNING)
    kinds = [loop.decide(r).kind for r in (unknown(), running, unknown(), running, unknown())]
    assert kinds == ["sleep"] * 5


def test_the_user_can_widen_the_grace_to_no_limit():
    loop = WaitLoop(PollSchedule(0.05, 0.05), None, unknown_state_reads=None)
    assert all(loop.decide(unknown()).kind == "sleep" for _ in range(50))


def test_an_unknown_state_of_the_fake_service_is_reported_with_its_wire_value():
    report = job_report(job("w-1", "Hibernating"))
    assert (report.state, report.unknown_state) == (BatchState.UNKNOWN, "Hibernating")
    assert job_report(job("w-1", "DONE")).state is BatchState.SUCCEEDED  # any case


# -- the two drivers only sleep ------------------------------------------------------------------------
def test_wait_sync_sleeps_the_decided_delays_and_counts_failed_reads(no_sleep):
    answers = iter([RUNNING, failure(), RUNNING, DONE])

    def read() -> StatusReport:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    loop = WaitLoop(PollSchedule(1, 8, factor=2, jitter=0), None)
    decision = wait_sync(read, loop)
    assert decision.kind == "done" and decision.report == DONE
    assert no_sleep == [1, 2, 4] and loop.polls == 4


def test_wait_sync_after_a_first_decision_sleeps_before_reading(no_sleep):
    loop = WaitLoop(PollSchedule(1, 1, jitter=0), None)
    first = loop.decide(RUNNING)
    reads = []
    assert wait_sync(lambda: reads.append(1) or DONE, loop, first).kind == "done"
    assert no_sleep == [1] and reads == [1]


async def test_wait_async_takes_the_same_decisions(monkeypatch):
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    answers = iter([RUNNING, failure(), RUNNING, DONE])

    async def read() -> StatusReport:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    decision = await wait_async(read, WaitLoop(PollSchedule(1, 8, factor=2, jitter=0), None))
    assert decision.kind == "done" and slept == [1, 2, 4]


async def test_wait_async_ends_on_the_transient_failure_bound(monkeypatch):
    async def fake_sleep(delay: float) -> None:
        return None

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    reads = 0

    async def read() -> StatusReport:
        nonlocal reads
        reads += 1
        raise failure()

    decision = await wait_async(read, WaitLoop(PollSchedule(1, 1), None, max_transient_failures=3))
    assert decision.kind == "error" and reads == 4
