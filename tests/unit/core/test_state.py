"""The status vocabulary (core/state.py): states, the outcome rule, reports and several ids together."""

from __future__ import annotations

import json

import pytest

from airflow_provider_batchops.core.errors import InputError
from airflow_provider_batchops.core.state import (
    MISSING_STATE,
    BatchState,
    ReportSet,
    StatusReport,
    bounded,
    map_state,
    outcome,
)
from tests.support.fake_service import STATES, job, job_report


@pytest.mark.parametrize(
    ("succeeded", "failed", "unfinished", "state"),
    [
        (3, 0, 0, BatchState.SUCCEEDED),
        (0, 0, 0, BatchState.SUCCEEDED),  # nothing to do is done
        (2, 1, 0, BatchState.PARTIALLY_FAILED),
        (0, 3, 0, BatchState.FAILED),
        (2, 1, 1, BatchState.RUNNING),  # any unfinished part: still running, whatever failed
        (0, 0, 5, BatchState.RUNNING),
    ],
)
def test_the_outcome_rule(succeeded, failed, unfinished, state):
    assert outcome(succeeded, failed, unfinished) is state


def test_terminal_and_success_states():
    assert {s for s in BatchState if s.is_terminal} == {
        BatchState.SUCCEEDED, BatchState.PARTIALLY_FAILED, BatchState.FAILED, BatchState.CANCELLED}
    assert [s for s in BatchState if s.is_success] == [BatchState.SUCCEEDED]


def test_a_state_is_parsed_in_any_case_and_an_unknown_one_names_the_field():
    assert BatchState.parse("Partially_Failed") is BatchState.PARTIALLY_FAILED
    with pytest.raises(InputError) as info:
        BatchState.parse("sleeping", field_name="expected_state")
    assert info.value.field == "expected_state" and "sleeping" in str(info.value) and "succeeded" in str(info.value)


def test_map_state_by_name_any_case_by_number_and_missing():
    assert map_state("DONE", STATES) == (BatchState.SUCCEEDED, None)
    assert map_state(" running ", STATES) == (BatchState.RUNNING, None)
    assert map_state("2", STATES, numbers={2: "done"}) == (BatchState.SUCCEEDED, None)
    assert map_state(2, STATES, numbers={2: "done"}) == (BatchState.SUCCEEDED, None)
    assert map_state(True, STATES, numbers={1: "done"}) == (BatchState.UNKNOWN, "True")  # a bool is no number
    assert map_state(None, STATES) == (BatchState.UNKNOWN, MISSING_STATE)
    assert map_state("x" * 500, STATES) == (BatchState.UNKNOWN, "x" * 100)  # bounded in messages
    assert map_state("unknown", {"unknown": BatchState.UNKNOWN}) == (BatchState.UNKNOWN, "unknown")


def test_a_report_survives_its_json_round_trip():
    report = job_report(job("w-1", "failed", failed=3, progress="90%"))
    data = json.loads(json.dumps(report.to_json()))
    assert StatusReport.from_json(data) == report
    odd = StatusReport(BatchState.UNKNOWN, {}, "?", unknown_state="Paused")
    assert StatusReport.from_json(json.loads(json.dumps(odd.to_json()))) == odd


def test_bounded_lists_keep_the_first_entries():
    assert bounded(list(range(5)), 3) == [0, 1, 2]
    assert bounded({str(i): i for i in range(5)}, 2) == {"0": 0, "1": 1}
    small = [1, 2]
    assert bounded(small, 3) is small


def combine(reports: list[StatusReport]) -> StatusReport:
    """Several Widgets jobs as one: the outcome rule over their states."""
    done = sum(r.state is BatchState.SUCCEEDED for r in reports)
    failed = sum(r.state.is_terminal and not r.state.is_success for r in reports)
    state = outcome(done, failed, len(reports) - done - failed)
    return StatusReport(state, {"jobs": len(reports)}, f"{done} done, {failed} failed")


def test_a_report_set_reads_only_unfinished_ids_and_combines_them():
    reports = ReportSet(["a", "b", "c"], combine)
    assert reports.pending() == ["a", "b", "c"]
    first = reports.update({"a": job_report(job("a", "done")), "b": job_report(job("b", "running"))})
    assert first.state is BatchState.RUNNING  # c not read yet counts as unfinished
    assert reports.pending() == ["b", "c"]
    last = reports.update({"b": job_report(job("b", "failed")), "c": job_report(job("c", "done"))})
    assert last.state is BatchState.PARTIALLY_FAILED and last.message == "2 done, 1 failed"
    assert reports.pending() == []


def test_a_report_set_names_the_ids_in_states_not_understood():
    reports = ReportSet(["a", "b"], combine)
    combined = reports.update({"a": job_report(job("a", "paused")), "b": job_report(job("b", "running"))})
    assert combined.state is BatchState.RUNNING and combined.unknown_state == "a: paused"
    one = ReportSet(["a"], combine).update({"a": job_report(job("a", "paused"))})
    assert one.unknown_state == "a: paused"
    finished = ReportSet(["a"], combine).update({"a": job_report(job("a", "done"))})
    assert finished.unknown_state is None and finished.state is BatchState.SUCCEEDED
