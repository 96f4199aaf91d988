"""Running a trigger as the triggerer does: serialized, rebuilt from its classpath, run to its first event."""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import Any

from airflow.triggers.base import BaseTrigger


async def run_rebuilt(trigger: BaseTrigger, limit: float = 30.0) -> dict[str, Any]:
    """Serialize, rebuild from the classpath as the triggerer does, run, return the first event."""
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # trigger kwargs are plain JSON
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    events = rebuilt.run()
    try:
        event = await asyncio.wait_for(events.__anext__(), timeout=limit)
    finally:
        await events.aclose()
    return event.payload
