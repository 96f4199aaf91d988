"""SuperOffice models: the BatchTask state mapping and task input."""

from __future__ import annotations

import pytest

from airflow_provider_batchops.core.errors import (
    InputError,
)
from airflow_provider_batchops.core.state import BatchState
from airflow_provider_batchops.models.superoffice import batch_task_info, task_report
from tests.unit.superoffice.common import info


# -- model --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "mapped"),
    [("New", BatchState.QUEUED), ("Aquired", BatchState.QUEUED), ("Started", BatchState.RUNNING),
     ("Succeeded", BatchState.SUCCEEDED), ("SucceededManualCleanup", BatchState.SUCCEEDED),
     ("Failed", BatchState.FAILED), ("Unknown", BatchState.UNKNOWN)],
)
def test_states(state, mapped):
    assert task_report(info(state)).state is mapped


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"name": ""}, "name"), ({"name": "X", "parameters": "FromDate=1"}, "parameters"),
     ({"name": "X", "description": 5}, "description"), ({"name": "X", "cancellation_behaviour": "Never"},
                                                         "cancellation_behaviour")],
)
def test_bad_task_input_names_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        batch_task_info(**kwargs)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("wire", "state", "unknown"),
    [
        ("Succeeded", BatchState.SUCCEEDED, None),
        ("succeeded", BatchState.SUCCEEDED, None),
        (4, BatchState.SUCCEEDED, None),
        ("4", BatchState.SUCCEEDED, None),
        (6, BatchState.SUCCEEDED, None),
        ("FAILED", BatchState.FAILED, None),
        (5, BatchState.FAILED, None),
        ("Aquired", BatchState.QUEUED, None),
        (3, BatchState.RUNNING, None),
        ("Unknown", BatchState.UNKNOWN, "Unknown"),
        (0, BatchState.UNKNOWN, "Unknown"),
        ("Paused", BatchState.UNKNOWN, "Paused"),
        (42, BatchState.UNKNOWN, "42"),
    ],
)
def test_superoffice_states_by_name_any_case_and_number(wire, state, unknown):
    report = task_report({"Id": 1, "State": wire})
    assert (report.state, report.unknown_state) == (state, unknown)
