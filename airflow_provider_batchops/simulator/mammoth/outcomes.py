"""What a Mammoth job does when it is due: create, delete or suspend/restore batches, and its outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .bodies import CreateSpec

if TYPE_CHECKING:
    from .store import Dataset, Job, MammothState


def mapping_problem(mm: MammothState, target: Dataset, spec: CreateSpec) -> str | None:
    source = mm.datasets.get(spec.source_id)
    if source is None:
        return f"Source dataset {spec.source_id} not found"
    if source is target:
        return f"Source dataset {source.id} is the destination dataset"
    for item in spec.mapping:
        if source.column(item.by, item.source) is None:
            return f"Column not found: source column {item.source} ({item.by}) in dataset {source.id}"
        column = target.column(item.by, item.destination)
        if column is None:
            return f"Column not found: destination column {item.destination} ({item.by}) in dataset {target.id}"
        if column["c_type"].upper() != item.expected:
            return (f"Column type mismatch: destination column {item.destination} is "
                    f"{column['c_type'].upper()}, expected {item.expected}")
    return None

def finish_create(mm: MammothState, job: Job) -> tuple[str, Any]:
    spec: CreateSpec = job.params["spec"]
    target = mm.datasets.get(job.params["dataset_id"])
    if target is None:
        return "failure", {"error": f"Dataset {job.params['dataset_id']} not found"}
    problem = mapping_problem(mm, target, spec)
    if problem is not None:
        return "failure", {"error": problem}
    source = mm.datasets[spec.source_id]
    origin = {"type": "datasource", "dataset_id": source.id, "dataset_name": source.name,
              "resource_path": f"/workspace:{source.workspace_id}/project:{source.project_id}"
                               f"/datasource:{source.name}:{source.id}"}
    batch = mm.new_batch(target, source.name, "active", job.due, source.rows(), origin)
    if spec.delete_source_ds:
        del mm.datasets[source.id]
    return "success", {"batch_id": batch.id}

def _restore(dataset: Dataset | None, previous: dict[int, str]) -> None:
    for batch_id, state in previous.items():
        batch = dataset.batches.get(batch_id) if dataset is not None else None
        if batch is not None and batch.state == "deleting":
            batch.state = state

def finish_delete(mm: MammothState, job: Job) -> tuple[str, Any]:
    ids: list[int] = job.params["ids"]
    dataset = mm.datasets.get(job.params["dataset_id"])
    if dataset is None:
        return "failure", {"error": f"Dataset {job.params['dataset_id']} not found", "failed_ids": ids}
    missing = [i for i in ids if i not in dataset.batches]
    if missing:
        _restore(dataset, job.params["previous"])
        shown = ", ".join(str(i) for i in missing[:20]) + (", ..." if len(missing) > 20 else "")
        return "failure", {"error": f"Batches not found in dataset {dataset.id}: {shown}", "failed_ids": missing}
    locked = next((i for i in ids if "locked" in dataset.batches[i].name), None)
    if locked is not None:
        _restore(dataset, job.params["previous"])
        return "error", {"response": {"detail": f"Batch {locked} is locked"}}
    for batch_id in ids:
        del dataset.batches[batch_id]
    return "success", {"deleted_ids": ids}

def finish_patch(mm: MammothState, job: Job) -> tuple[str, Any]:
    suspend: list[int] = job.params["suspend"]
    restore: list[int] = job.params["restore"]
    dataset = mm.datasets.get(job.params["dataset_id"])
    if dataset is None:
        return "failure", {"error": f"Dataset {job.params['dataset_id']} not found",
                           "failed_ids": suspend + restore}
    missing = [i for i in suspend + restore if i not in dataset.batches]
    if missing:
        return "failure", {"error": f"Batches not found in dataset {dataset.id}: "
                                    + ", ".join(str(i) for i in missing[:20]), "failed_ids": missing}
    busy = [i for i in suspend + restore if dataset.batches[i].state == "deleting"]
    if busy:
        return "failure", {"error": f"Batch {busy[0]} is being deleted", "failed_ids": busy}
    for batch_id in suspend:
        dataset.batches[batch_id].state = "suspended"
    for batch_id in restore:
        dataset.batches[batch_id].state = "active"
    return "success", {"suspended": suspend, "restored": restore}
