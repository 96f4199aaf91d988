"""Mammoth's batch bodies restated as pydantic models: the oracle where ``mammoth-io`` models nothing.

``mammoth-io`` (Mammoth's SDK) models jobs and job acknowledgements, but passes batch bodies as plain
dicts (and sends create/patch bodies that differ from the published spec, ``../shared/api/mammoth.md``
A.6/A.7). So the batch bodies the provider sends and the simulator answers are held to these models,
written field for field from the published ``mammoth-batches-jobs`` OpenAPI document (component names
are the spec's, each model's ``title``):

- on every machine they are the oracle for those bodies, so the checks run on a fresh clone;
- where ``../shared/specs`` is beside the checkout, ``tests/simulator/test_mammoth.py``
  proves each model declares exactly the spec schema's properties, required fields and enums, and
  accepts the spec's own examples, so a restatement that drifts from the spec fails there.

Only the shapes the provider and simulator meet are restated: of the batch ``source`` variants, the
flat ones (the cloud connector sources with nested connector details are left out, so such a body is
refused rather than waved through). Like the vendors' models, these are checked with the conformance
rule that every key of a body must be declared (:func:`tests.support.conformance.model_misfit`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ColumnType = Literal["TEXT", "NUMERIC", "DATE"]

#: The spec's examples, restated (the cross-check compares them with the spec's own).
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "BatchesPostRequest": [{
        "source_id": 239169,
        "mapping": [{"destination_c_id": "c_id", "source_c_id": "c_id", "expected_destination_c_type": "TEXT"}],
        "new_ds_details": {"name": "Batch Dataset"}, "validate_only": False, "delete_source_ds": False,
    }],
    "BatchesPatchRequest": [
        {"patch": {"op": "replace", "path": "batches", "value": {"suspend": [1, 2, 8], "restore": [4, 5, 7]}}},
    ],
}


class _Schema(BaseModel):
    model_config = ConfigDict(extra="allow")  # as the vendors' models; undeclared keys are refused by the check


# --- requests -------------------------------------------------------------------------------------------


class ColumnIdMapping(_Schema):
    model_config = ConfigDict(title="ColumnIdMapping")
    destination_c_id: str
    source_c_id: str
    expected_destination_c_type: ColumnType


class ColumnNameMapping(_Schema):
    model_config = ConfigDict(title="ColumnNameMapping")
    destination_c_name: str
    source_c_name: str
    expected_destination_c_type: ColumnType


class NewDsDetails(_Schema):
    model_config = ConfigDict(title="NewDsDetails")
    name: str


class BatchesPostRequest(_Schema):
    model_config = ConfigDict(title="BatchesPostRequest")
    source_id: int
    mapping: list[ColumnIdMapping] | list[ColumnNameMapping]
    validate_only: bool
    delete_source_ds: bool
    new_ds_details: NewDsDetails | None = None


class BatchesPatchValues(_Schema):
    model_config = ConfigDict(title="BatchesPatchValues")
    suspend: list[int] | None = None
    restore: list[int] | None = None


class BatchesPatchOperation(_Schema):
    model_config = ConfigDict(title="BatchesPatchOperation")
    op: Literal["replace", "add", "remove", "command"]  # datasets_schema_OpValues
    path: Literal["batches"]  # BatchesPathValues
    value: BatchesPatchValues


class BatchesPatchRequest(_Schema):
    model_config = ConfigDict(title="BatchesPatchRequest")
    patch: BatchesPatchOperation


# --- responses ------------------------------------------------------------------------------------------


class ColumnSchema(_Schema):
    model_config = ConfigDict(title="api_ds_schema_ColumnSchema")
    c_id: str | None = None
    c_name: str | None = None
    c_type: Literal["text", "numeric", "date"] | None = None


class BatchDescriptionFile(_Schema):
    model_config = ConfigDict(title="BatchDescriptionFile")
    numeric_error_columns: list[Any] | None = None
    date_error_columns: list[Any] | None = None


class BatchDescriptionCloud(_Schema):
    model_config = ConfigDict(title="BatchDescriptionCloud")
    space_id: int | None = None
    from_date: datetime | None = None
    to_date: datetime | None = None
    data_file_path: str | None = None
    on_refresh_action: str | None = None


class BranchInBatchSource(_Schema):
    model_config = ConfigDict(title="BranchInBatchSource")
    resource_path: str | None = None
    dataview_id: int | None = None
    dataview_name: str | None = None
    dataset_name: str | None = None
    type: str | None = None


class ProjectBranchInBatchSource(_Schema):
    model_config = ConfigDict(title="ProjectBranchInBatchSource")
    dataview_id: int | None = None
    dataview_name: str | None = None
    dataset_name: str | None = None
    type: str | None = None
    project_name: str | None = None


class WebhookDsBatchSource(_Schema):
    model_config = ConfigDict(title="WebhookDsBatchSource")
    type: str | None = None


class FileDsBatchSource(_Schema):
    model_config = ConfigDict(title="FileDsBatchSource")
    type: str | None = None
    file_name: str | None = None
    url: str | None = None


class DuplicateOrCombineDsBatchSource(_Schema):
    model_config = ConfigDict(title="DuplicateOrCombineDsBatchSource")
    resource_path: str | None = None
    type: str | None = None
    dataset_id: int | None = None
    dataset_name: str | None = None


class ApiPostDsBatchSource(_Schema):
    model_config = ConfigDict(title="ApiPostDsBatchSource")
    type: str | None = None


BatchSource = (BranchInBatchSource | ProjectBranchInBatchSource | WebhookDsBatchSource | FileDsBatchSource
               | DuplicateOrCombineDsBatchSource | ApiPostDsBatchSource | None)


class BatchInfoSchema(_Schema):
    model_config = ConfigDict(title="BatchInfoSchema")
    id: int | None = None
    description: BatchDescriptionFile | BatchDescriptionCloud | dict[str, Any] | None = None
    column_count: int | None = None
    row_count: int | None = None
    source: BatchSource = None
    name: str | None = None
    created_at: datetime | None = None
    state: Literal["active", "sync_pending", "suspended", "deleting"] | None = None
    data_schema: list[ColumnSchema] | None = None


class PendingBatchSchema(_Schema):
    model_config = ConfigDict(title="PendingBatchSchema")
    dataset_id: int | None = None
    status: str
    file_object_id: int
    state: str = "pending"
    name: str | None = None
    count: int = 0
    created_at: str | None = None
    source: dict[str, Any] | None = None
    additional_data: dict[str, Any] | None = None


class BatchesList(_Schema):
    model_config = ConfigDict(title="BatchesList")
    batches: list[BatchInfoSchema]
    pending_batches: list[PendingBatchSchema] = Field(default_factory=list)
    offset: int = 0
    limit: int = 50
    next: str


class BatchDetails(_Schema):
    model_config = ConfigDict(title="BatchDetails")
    batch: BatchInfoSchema


class ErrorBody(_Schema):
    """The 400 body of the batch routes (inline in the spec: "Client Error" / "Validation Exception")."""

    status_code: int
    detail: str
    extra: dict[str, Any] | list[Any] | None = None


#: Each model restating a named component schema, by that name.
RESTATED: dict[str, type[BaseModel]] = {
    str(model.model_config.get("title")): model
    for model in (ColumnIdMapping, ColumnNameMapping, NewDsDetails, BatchesPostRequest, BatchesPatchValues,
                  BatchesPatchOperation, BatchesPatchRequest, ColumnSchema, BatchDescriptionFile,
                  BatchDescriptionCloud, BranchInBatchSource, ProjectBranchInBatchSource, WebhookDsBatchSource,
                  FileDsBatchSource, DuplicateOrCombineDsBatchSource, ApiPostDsBatchSource, BatchInfoSchema,
                  PendingBatchSchema, BatchesList, BatchDetails)
}
