"""Constants and answers shared by the Mammoth unit tests."""

from __future__ import annotations

from unittest.mock import MagicMock
from urllib.parse import parse_qs, urlsplit

API = "https://mammoth.test/api/v2"
DS = f"{API}/workspaces/4/projects/1020/datasets/3453/batches"
KEY, SECRET = "mammoth-key", "mammoth-secret-value"
WHERE = {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453}


def ctx():
    ti = MagicMock(start_date=None, task_id="t")
    return {"ti": ti}


def job(job_id, status, response=None):
    return {"id": job_id, "status": status, "response": response or {}, "path": "/x", "operation": "op",
            "created_at": "2026-01-01T00:00:00", "last_updated_at": "2026-01-01T00:00:01"}


def query(request):
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query, keep_blank_values=True).items()}
