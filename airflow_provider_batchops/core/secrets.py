"""Register secrets with Airflow's log masker, from sync code or from the event loop."""

from __future__ import annotations

from typing import Any


def _local_masker() -> Any:
    try:
        from airflow.sdk._shared.secrets_masker import _secrets_masker  # Airflow >= 3.2
    except ImportError:  # pragma: no cover - older task SDK layout
        from airflow.sdk.execution_time.secrets_masker import _secrets_masker  # type: ignore[no-redef]
    return _secrets_masker()


def mask(secret: str | None) -> None:
    """Hide ``secret`` in task logs (worker side; may talk to the supervisor synchronously)."""
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
    mask_secret(secret)


async def amask(secret: str | None) -> None:
    """Hide ``secret`` in logs without blocking the event loop (triggerer side)."""
    if not secret:
        return
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - before amask_secret existed: mask in this process only
        _local_masker().add_mask(secret)
        return
    await amask_secret(secret)
