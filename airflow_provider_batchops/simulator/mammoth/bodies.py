"""Mammoth's request bodies (create, patch) and the columns of a dataset added by a control route."""

from __future__ import annotations

from dataclasses import dataclass

from .wire import COLUMN_TYPES, EXPECTED_TYPES, PATCH_OPS, bad_request, is_int


@dataclass(frozen=True)
class ColumnMapping:
    """One mapping item; ``by`` is ``c_id`` or ``c_name``."""

    by: str
    source: str
    destination: str
    expected: str


@dataclass(frozen=True)
class CreateSpec:
    """A validated ``BatchesPostRequest``."""

    source_id: int
    mapping: tuple[ColumnMapping, ...]
    validate_only: bool
    delete_source_ds: bool
    new_ds_name: str | None = None


def parse_create(body: object) -> CreateSpec:
    """Validate a ``BatchesPostRequest``; raise a 400 naming the bad field."""
    if not isinstance(body, dict):
        raise bad_request("body", "expected a BatchesPostRequest JSON object")
    for name in ("source_id", "mapping", "validate_only", "delete_source_ds"):
        if name not in body:
            raise bad_request(name, "field required")
    if not is_int(body["source_id"]) or body["source_id"] < 0:
        raise bad_request("source_id", "must be a non-negative integer")
    for name in ("validate_only", "delete_source_ds"):
        if not isinstance(body[name], bool):
            raise bad_request(name, "must be a boolean")
    mapping = body["mapping"]
    if not isinstance(mapping, list):
        raise bad_request("mapping", "must be a list of ColumnIdMapping or of ColumnNameMapping objects")
    if not mapping:
        raise bad_request("mapping", "must hold at least one column mapping")
    items: list[ColumnMapping] = []
    kind: str | None = None
    for index, item in enumerate(mapping):
        where = f"mapping[{index}]"
        if not isinstance(item, dict):
            raise bad_request(where, "expected a ColumnIdMapping or ColumnNameMapping object")
        if "source_c_id" in item or "destination_c_id" in item:
            this = "c_id"
        elif "source_c_name" in item or "destination_c_name" in item:
            this = "c_name"
        else:
            raise bad_request(where, "expected source_c_id/destination_c_id or source_c_name/destination_c_name")
        if kind is not None and this != kind:
            raise bad_request(where, "mixes ColumnIdMapping and ColumnNameMapping items; use one kind per list")
        kind = this
        for key in (f"source_{this}", f"destination_{this}"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise bad_request(f"{where}.{key}", "required non-empty string")
        expected = item.get("expected_destination_c_type")
        if expected not in EXPECTED_TYPES:
            raise bad_request(f"{where}.expected_destination_c_type", f"must be one of {', '.join(EXPECTED_TYPES)}")
        items.append(ColumnMapping(this, item[f"source_{this}"], item[f"destination_{this}"], str(expected)))
    details = body.get("new_ds_details")
    if details is not None and (not isinstance(details, dict) or not isinstance(details.get("name"), str)):
        raise bad_request("new_ds_details.name", "new_ds_details must be null or an object with a string name")
    return CreateSpec(
        source_id=body["source_id"],
        mapping=tuple(items),
        validate_only=body["validate_only"],
        delete_source_ds=body["delete_source_ds"],
        new_ds_name=details["name"] if details is not None else None,
    )


def parse_patch(body: object) -> tuple[list[int], list[int]]:
    """Validate a ``BatchesPatchRequest`` -> (suspend ids, restore ids); raise a 400 naming the field."""
    if not isinstance(body, dict):
        raise bad_request("body", "expected a BatchesPatchRequest JSON object")
    if "patch" not in body:
        raise bad_request("patch", "field required")
    patch = body["patch"]
    if not isinstance(patch, dict):
        raise bad_request("patch", "must be one BatchesPatchOperation object {op, path, value}")
    for name in ("op", "path", "value"):
        if name not in patch:
            raise bad_request(f"patch.{name}", "field required")
    if patch["op"] not in PATCH_OPS:
        raise bad_request("patch.op", f"must be one of {', '.join(PATCH_OPS)}")
    if patch["path"] != "batches":
        raise bad_request("patch.path", "must be batches")
    value = patch["value"]
    if not isinstance(value, dict):
        raise bad_request("patch.value", "must be an object with suspend and/or restore lists")
    lists: dict[str, list[int]] = {}
    for key in ("suspend", "restore"):
        ids = value.get(key)
        if ids is None:
            lists[key] = []
            continue
        if not isinstance(ids, list):
            raise bad_request(f"patch.value.{key}", "must be a list of integer batch ids or null")
        for index, item in enumerate(ids):
            if not is_int(item):
                raise bad_request(f"patch.value.{key}[{index}]", "must be an integer batch id")
        lists[key] = list(dict.fromkeys(ids))
    both = sorted(set(lists["suspend"]) & set(lists["restore"]))
    if both:
        raise bad_request("patch.value", f"batch {both[0]} is both in suspend and restore")
    return lists["suspend"], lists["restore"]


def check_columns(columns: object) -> list[dict[str, str]]:
    """Validate the columns of a new dataset; raise ``ValueError`` naming the problem."""
    if not isinstance(columns, list) or not columns:
        raise ValueError("columns must be a non-empty list of {c_id, c_name, c_type}")
    checked: list[dict[str, str]] = []
    for column in columns:
        if not isinstance(column, dict) or not all(isinstance(column.get(k), str) for k in ("c_id", "c_name")):
            raise ValueError("every column needs string c_id and c_name")
        if column.get("c_type") not in COLUMN_TYPES:
            raise ValueError(f"c_type must be one of {', '.join(COLUMN_TYPES)}")
        checked.append({"c_id": column["c_id"], "c_name": column["c_name"], "c_type": column["c_type"]})
    return checked
