"""MammothHook, MammothJobTrigger and the clean-up operator against the live simulator."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from unittest.mock import MagicMock

import pytest

from airflow_provider_batchops.core.errors import ApiError, BatchOpsError
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.operators.mammoth import MammothBatchCleanupOperator, MammothDeleteBatchesOperator
from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET
from airflow_provider_batchops.triggers.mammoth import MammothJobTrigger
from tests.support.helpers import set_connection
from tests.support.triggers import run_rebuilt

WHERE = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}


@pytest.fixture
def mm_sim(sim, monkeypatch):
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=f"{sim.url}/api/v2",
                   login=MAMMOTH_API_KEY, password=MAMMOTH_API_SECRET, extra={"workspace_id": 4})
    sim.client.configure(mammoth_job_delay=0.1)
    return sim


def seed(sim, dataset_id: int, count: int, start: datetime, **extra) -> list[int]:
    body = {"workspace_id": 4, "project_id": 1020, "dataset_id": dataset_id, "count": count,
            "start": start.isoformat(), **extra}
    return list(sim.client.add_mammoth_batches(body)["ids"])


def ctx():
    return {"ti": MagicMock(start_date=None, task_id="t")}


def mammoth_requests(sim) -> dict[str, int]:
    counts = sim.client.counters()["requests"]
    return {k: v for k, v in counts.items() if "/api/v2/" in k}


async def test_a_delete_job_is_followed_to_success(mm_sim):
    ids = [b["id"] for b in MammothHook().list_batches(**WHERE, states=["suspended"])]
    ack = MammothHook().delete_batches(**WHERE, batch_ids=ids)[0]
    event = await run_rebuilt(MammothJobTrigger(job_id=ack["job_id"], poll_interval=0.05))
    assert event["status"] == "success"
    assert MammothHook().list_batches(**WHERE, states=["suspended"]) == []


async def test_a_locked_batch_fails_the_job_with_its_reason(mm_sim):
    locked = seed(mm_sim, 3453, 1, datetime(2020, 1, 1, tzinfo=timezone.utc), name_prefix="locked")
    ack = MammothHook().delete_batches(**WHERE, batch_ids=locked)[0]
    event = await run_rebuilt(MammothJobTrigger(job_ids=[ack["job_id"]], poll_interval=0.05))
    assert event["status"] == "failed"
    assert f"Batch {locked[0]} is locked" in event["message"]


async def test_an_unknown_job_fails_with_the_404(mm_sim):
    event = await run_rebuilt(MammothJobTrigger(job_id=999_999, poll_interval=0.05))
    assert event["status"] == "error" and "404" in event["message"]


def test_list_pages_to_the_end_with_filters(mm_sim):
    seed(mm_sim, 9001, 250, datetime(2024, 1, 1, tzinfo=timezone.utc), step_hours=24)
    hook = MammothHook()
    everything = hook.list_batches(4, 1020, 9001)
    assert len(everything) == 250
    recent = hook.list_batches(4, 1020, 9001, created_from="2024-06-01T00:00:00Z", sort=[("created_at", "desc")])
    stamps = [b["created_at"] for b in recent]
    assert stamps == sorted(stamps, reverse=True) and len(recent) == 250 - 152
    assert mammoth_requests(mm_sim)["GET /api/v2/workspaces/{workspace_id}/projects/{project_id}"
                                    "/datasets/{dataset_id}/batches"] == 3 + 1


def test_delete_operator_splits_ten_thousand_ids_and_waits(mm_sim):
    ids = seed(mm_sim, 9002, 10_000, datetime(2024, 1, 1, tzinfo=timezone.utc))
    summary = MammothDeleteBatchesOperator(task_id="t", workspace_id=4, project_id=1020, dataset_id=9002,
                                           batch_ids=ids, poll_interval=0.2).execute(ctx())
    assert summary["state"] == "succeeded" and summary["deleted_count"] == 10_000
    deletes = mammoth_requests(mm_sim)["DELETE /api/v2/workspaces/{workspace_id}/projects/{project_id}"
                                       "/datasets/{dataset_id}/batches"]
    assert deletes == len(summary["job_ids"]) > 1  # split to keep each URL short, one job per request
    assert MammothHook().list_batches(4, 1020, 9002) == []


def test_cleanup_of_ten_thousand_batches(mm_sim, capsys):
    now = datetime.now(timezone.utc)
    old = seed(mm_sim, 9003, 10_000, now - timedelta(days=400), step_hours=0.5)  # the newest is ~192 days old
    recent = seed(mm_sim, 9003, 20, now - timedelta(days=10))
    started = time.monotonic()
    summary = MammothBatchCleanupOperator(task_id="t", workspace_id=4, project_id=1020, dataset_id=9003,
                                          older_than=timedelta(days=90), keep_latest=25, max_delete=10_000,
                                          poll_interval=0.2).execute(ctx())
    elapsed = time.monotonic() - started
    deleted = {b["id"] for b in summary["deleted"]}
    assert summary["deleted_count"] == 10_000 - 5 and deleted == set(old[:-5])  # the newest 25: 20 recent + 5 old
    left = {b["id"] for b in MammothHook().list_batches(4, 1020, 9003)}
    assert left == set(old[-5:]) | set(recent)
    counts = mammoth_requests(mm_sim)
    total = sum(counts.values())
    assert total < 200, counts
    with capsys.disabled():
        print(f"\nMammoth clean-up of 10,000 batches: {total} requests ({counts}), {elapsed:.1f} s")


def test_cleanup_over_max_delete_deletes_nothing(mm_sim):
    seed(mm_sim, 9004, 30, datetime(2020, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(BatchOpsError, match="30 batches match, more than max_delete=10"):
        MammothBatchCleanupOperator(task_id="t", workspace_id=4, project_id=1020, dataset_id=9004,
                                    max_delete=10).execute(ctx())
    assert not any(k.startswith("DELETE") for k in mammoth_requests(mm_sim))


def test_unknown_dataset_is_a_404_with_the_detail(mm_sim):
    with pytest.raises(ApiError, match="404"):
        MammothHook().get_batch(4, 1020, 777_777, 1)
