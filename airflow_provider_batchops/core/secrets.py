"""Register secrets with Airflow's log masker, from sync code or from the event loop."""

from __future__ import annotations

import hashlib
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


#: Digests of the secrets this process registered from the event loop. The masker keeps a secret for
#: good, so every trigger of a connection (thousands in a triggerer) need not send it again.
_registered: set[bytes] = set()


async def amask(secret: str | None) -> None:
    """Hide ``secret`` in logs without blocking the event loop (triggerer side); once per process."""
    if not secret:
        return
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
    if digest in _registered:
        return
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - before amask_secret existed: mask in this process only
        _local_masker().add_mask(secret)
    else:
        await amask_secret(secret)
    _registered.add(digest)
