"""Small helpers every simulated service uses: error bodies and lenient JSON body reading."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error in Waylay's ``ErrorResponse`` shape (``statusCode``, ``error``)."""
    return JSONResponse({"statusCode": status, "error": message}, status_code=status, headers=headers)


async def json_body(request: Request) -> Any:
    """The JSON request body; ``None`` when empty or not JSON."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return None
