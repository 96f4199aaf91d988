"""Small helpers every simulated service uses: control route errors, lenient JSON body reading, timestamps."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error of a control route: ``{"statusCode", "error"}``."""
    return JSONResponse({"statusCode": status, "error": message}, status_code=status, headers=headers)


async def json_body(request: Request) -> Any:
    """The JSON request body; ``None`` when empty or not JSON."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def iso_time(seconds: float) -> str:
    """UTC ISO-8601 with milliseconds and a ``Z``, e.g. ``2026-03-10T09:54:44.051Z``."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(seconds: float) -> int:
    """Unix epoch milliseconds."""
    return int(seconds * 1000)


def query_flag(value: str | None) -> bool:
    """A ``?replace=true``-style query flag."""
    return (value or "").lower() in ("1", "true", "yes")
