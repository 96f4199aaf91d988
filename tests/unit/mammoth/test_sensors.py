"""MammothJobSensor."""

from __future__ import annotations

import pytest

from airflow_provider_batchops.core.errors import UnknownStateError
from airflow_provider_batchops.sensors.mammoth import MammothJobSensor
from tests.unit.mammoth.common import API, ctx, job


def test_sensor_pokes_and_returns_the_jobs(mm_conn, requests_mock):
    requests_mock.get(f"{API}/jobs", json={"jobs": [job(3, "success")]})
    sensor = MammothJobSensor(task_id="s", job_id="3")
    result = sensor.poke(ctx())
    assert result.is_done and result.xcom_value["jobs"][0]["status"] == "success"


def test_a_sensor_fails_on_a_lasting_unknown_state_with_its_value(mammoth_api, requests_mock, no_sleep):
    requests_mock.get(f"{mammoth_api}/jobs", json={"jobs": [{"id": 7, "status": "queued", "response": {}}]})
    sensor = MammothJobSensor(task_id="s", job_id=7, poke_interval=0.05, timeout=60, mode="poke",
                              unknown_state_reads=4)
    with pytest.raises(UnknownStateError, match="'7: queued'"):
        for _ in range(10):
            assert sensor.poke({}) is False
    assert requests_mock.call_count == 4
