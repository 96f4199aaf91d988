"""SuperOfficeBatchTaskSensor."""

from __future__ import annotations

import pytest

from airflow_provider_batchops.core.errors import (
    InputError,
)
from airflow_provider_batchops.sensors.superoffice import SuperOfficeBatchTaskSensor
from tests.unit.superoffice.common import API, ctx, info


@pytest.mark.parametrize("bad", ["", "abc", 0, -3, True])
def test_sensor_bad_ids_send_nothing(so_conn, requests_mock, bad):
    with pytest.raises(InputError, match="batch_task_id"):
        SuperOfficeBatchTaskSensor(task_id="s", batch_task_id=bad, deferrable=True).execute(ctx())
    assert requests_mock.call_count == 0


def test_sensor_accepts_a_templated_id(so_conn, requests_mock):
    requests_mock.get(f"{API}/BatchTask/1234", json=info("SucceededManualCleanup", FileName="x.csv"))
    result = SuperOfficeBatchTaskSensor(task_id="s", batch_task_id="1234").poke(ctx())
    assert result.is_done and result.xcom_value["file_name"] == "x.csv"
