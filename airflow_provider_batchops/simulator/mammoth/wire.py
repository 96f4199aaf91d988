"""Mammoth's wire: credentials, limits, seeded ids, value sets, the error type and timestamps."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from ..middleware import CONTROL_PREFIX
from ..service import ApiError

MAMMOTH_API_KEY = "mammoth-sim-key-7c41e2d9a05b"
MAMMOTH_API_SECRET = "mammoth-sim-secret-3f9b6a18d2c4e075"

API_PREFIX = "/api/v2"
SIM_PREFIX = CONTROL_PREFIX + "/mammoth"
#: Longest accepted request URL (path and query, in bytes); longer ones get 414.
MAX_URL_BYTES = 8000

SEED_WORKSPACE_ID = 4
SEED_PROJECT_ID = 1020
TARGET_DATASET_ID = 3453
SOURCE_DATASET_ID = 3460
#: Columns of both seeded datasets (the source's match the target's by id, name and type).
SEED_COLUMNS: tuple[dict[str, str], ...] = (
    {"c_id": "c_order_id", "c_name": "order_id", "c_type": "text"},
    {"c_id": "c_amount", "c_name": "amount", "c_type": "numeric"},
    {"c_id": "c_ordered_on", "c_name": "ordered_on", "c_type": "date"},
    {"c_id": "c_region", "c_name": "region", "c_type": "text"},
)
SEED_BATCHES = 40
SEED_DAYS = 200
FIRST_BATCH_ID = 101
FIRST_JOB_ID = 5001

STATES = ("active", "sync_pending", "suspended", "deleting")
JOB_STATUSES = ("success", "failure", "processing", "error")
COLUMN_TYPES = ("text", "numeric", "date")
EXPECTED_TYPES = ("TEXT", "NUMERIC", "DATE")
PATCH_OPS = ("replace", "add", "remove", "command")
MIN_FIELDS = ("id", "name", "state", "created_at")
STANDARD_FIELDS = (*MIN_FIELDS, "description", "row_count", "column_count", "source")
FULL_FIELDS = (*STANDARD_FIELDS, "data_schema")
FIELD_PRESETS = {"__min": MIN_FIELDS, "__standard": STANDARD_FIELDS, "__full": FULL_FIELDS}
SORT_FIELDS = ("id", "name", "state", "created_at", "row_count", "column_count")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_BULK = 100_000

JsonDict = dict[str, Any]


class MammothError(ApiError):
    """An API error answered with Mammoth's body ``{"status_code", "detail"[, "extra"]}``."""

    def __init__(self, status: int, detail: str, extra: JsonDict | None = None) -> None:
        super().__init__(status, detail)
        self.extra = extra

    @property
    def detail(self) -> str:
        """What went wrong."""
        return self.message

    def body(self) -> JsonDict:
        """Mammoth's error body."""
        body: JsonDict = {"status_code": self.status, "detail": self.message}
        if self.extra is not None:
            body["extra"] = self.extra
        return body


def bad_request(name: str, message: str) -> MammothError:
    """A 400 naming the field (``"<name>: <message>"``, ``extra.field``)."""
    return MammothError(400, f"{name}: {message}", {"field": name})


def iso(seconds: float) -> str:
    """UTC ISO-8601 with microseconds and ``Z``, e.g. ``2024-02-04T14:44:41.532345Z``."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(name: str, text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp (naive means UTC); 400 naming ``name`` if invalid."""
    value = text.strip()
    if "T" in value:
        value = re.sub(r" (\d\d:?\d\d)$", r"+\1", value)  # a '+' that arrived as a space
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(name, f"invalid ISO-8601 timestamp '{text}'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def is_int(value: object) -> bool:
    """An integer, not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)
