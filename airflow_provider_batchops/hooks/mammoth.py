"""Mammoth Analytics: dataset batches (list, create, delete, suspend/restore) and their jobs.

Connection ``mammoth``: host = API base (default ``https://app.mammoth.io/api/v2``), login = API
key (sent as ``X-API-KEY``), password = API secret (``X-API-SECRET``). Extra ``workspace_id`` is
sent as ``X-WORKSPACE-ID``; extra ``timeout`` sets the per-request timeout in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_batchops.core.auth import StaticAuth
from airflow_provider_batchops.core.errors import (
    ApiError,
    BatchOpsError,
    ConnectionConfigError,
    InputError,
)
from airflow_provider_batchops.core.hook import ApiHook, start_each, ui_field_behaviour
from airflow_provider_batchops.core.http import ApiClient, Call, Reply
from airflow_provider_batchops.core.reading import Reader
from airflow_provider_batchops.core.state import ReportSet, StatusReport
from airflow_provider_batchops.core.validation import check_int, whole_number_text
from airflow_provider_batchops.models.mammoth import (
    MAX_PAGE_SIZE,
    ack_job_id,
    check_ids,
    dataset_path,
    id_chunks,
    job_report,
    job_reports,
    list_params,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

BATCHES = "/workspaces/{workspace_id}/projects/{project_id}/datasets/{dataset_id}/batches"
#: Job ids per ``GET /jobs?job_ids=`` request.
JOBS_PER_REQUEST = 100
#: Upper bound on pages read by one listing (100 rows each): a guard against a server that never ends.
MAX_PAGES = 10_000


class MammothHook(ApiHook):
    """Talk to the Mammoth Analytics dataset batches and jobs API.

    :param mammoth_conn_id: the Airflow connection id (type ``mammoth``).
    """

    conn_name_attr = "mammoth_conn_id"
    default_conn_name = "mammoth_default"
    conn_type = "mammoth"
    hook_name = "Mammoth Analytics"
    default_host = "https://app.mammoth.io/api/v2"
    error_fields = ("detail", "error", "message")

    def __init__(self, mammoth_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=mammoth_conn_id, **kwargs)
        self.mammoth_conn_id = self.conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return ui_field_behaviour("mammoth")

    def build_client(self, conn: Connection) -> ApiClient:
        extras = self.extras(conn)
        headers = {
            "X-API-KEY": self.require(conn, "login", "API key (login)"),
            "X-API-SECRET": self.require(conn, "password", "API secret (password)"),
        }
        if extras.get("workspace_id") is not None:
            try:
                headers["X-WORKSPACE-ID"] = str(check_int(extras["workspace_id"], "workspace_id"))
            except InputError as exc:
                raise ConnectionConfigError(self.conn_id, "extra.workspace_id", exc.problem) from None
        return ApiClient(self.base_url(conn), StaticAuth(headers), timeouts=self.timeouts(extras),
                         error_message=self.error_message)

    # -- batches ---------------------------------------------------------------------------------
    def list_batches_page(
        self, workspace_id: Any, project_id: Any, dataset_id: Any, *, limit: int = MAX_PAGE_SIZE,
        offset: int = 0, **filters: Any,
    ) -> dict[str, Any]:
        """One ``GET .../batches`` page: ``{"batches", "next", "offset", "limit", ...}``.

        Filters: ``fields``, ``ids``, ``created_from``, ``created_to``, ``states``, ``row_count``,
        ``sort`` (see :func:`~airflow_provider_batchops.models.mammoth.list_params`).
        """
        if not 0 <= check_int(limit, "limit", minimum=0) <= MAX_PAGE_SIZE:
            raise InputError("limit", f"expected 0..{MAX_PAGE_SIZE}, got {limit!r}")
        params = {**list_params(**filters), "limit": limit, "offset": check_int(offset, "offset", minimum=0)}
        call = Call("GET", BATCHES, path_params=dataset_path(workspace_id, project_id, dataset_id), params=params)
        return self.call(call)

    def iter_batches(
        self, workspace_id: Any, project_id: Any, dataset_id: Any, *, page_size: int = MAX_PAGE_SIZE,
        **filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every batch matching the filters, page after page until the last one.

        The list has no total count: a page shorter than the page size, or an empty ``next``, ends it.
        """
        offset = 0
        for _ in range(MAX_PAGES):
            page = self.list_batches_page(workspace_id, project_id, dataset_id, limit=page_size, offset=offset,
                                          **filters)
            rows = page.get("batches") or []
            yield from rows
            if len(rows) < page_size or not page.get("next") or page_size == 0:
                return
            offset += len(rows)
        raise BatchOpsError(f"Mammoth listed more than {MAX_PAGES} pages of batches; stopped")

    def list_batches(self, workspace_id: Any, project_id: Any, dataset_id: Any, **filters: Any) -> list[dict]:
        """Every batch matching the filters (all pages)."""
        return list(self.iter_batches(workspace_id, project_id, dataset_id, **filters))

    def create_batch(self, workspace_id: Any, project_id: Any, dataset_id: Any, body: dict[str, Any]) -> Any:
        """``POST .../batches`` with a ``BatchesPostRequest``; returns the acknowledgement (not re-sent)."""
        path = dataset_path(workspace_id, project_id, dataset_id)
        return self.send_start(Call("POST", BATCHES, path_params=path, json_body=body), _ack)

    def update_batches(self, workspace_id: Any, project_id: Any, dataset_id: Any, body: dict[str, Any]) -> Any:
        """``PATCH .../batches`` with a ``BatchesPatchRequest`` (suspend/restore); the acknowledgement."""
        path = dataset_path(workspace_id, project_id, dataset_id)
        return self.send_start(Call("PATCH", BATCHES, path_params=path, json_body=body), _ack)

    @staticmethod
    def delete_batches_call(workspace_id: Any, project_id: Any, dataset_id: Any, batch_ids: list[int]) -> Call:
        """One ``DELETE .../batches?ids=``; deleting is idempotent, so a lost answer is sent again."""
        path = dataset_path(workspace_id, project_id, dataset_id)
        return Call("DELETE", BATCHES, path_params=path, params={"ids": ",".join(map(str, batch_ids))},
                    idempotent=True)

    def delete_some_batches(self, workspace_id: Any, project_id: Any, dataset_id: Any, batch_ids: Any) -> Any:
        """One ``DELETE .../batches?ids=`` (ids within :data:`MAX_IDS_QUERY_CHARS`); the acknowledgement."""
        ids = check_ids(batch_ids, "batch_ids")
        return self.send_start(self.delete_batches_call(workspace_id, project_id, dataset_id, ids), _ack)

    def delete_batches(self, workspace_id: Any, project_id: Any, dataset_id: Any, batch_ids: Any) -> list[Any]:
        """``DELETE .../batches?ids=`` in as few requests as the URL length allows; one ack each.

        A failed request after earlier ones were accepted raises
        :class:`~airflow_provider_batchops.core.errors.StartAcceptedError` naming the accepted acks.
        """
        chunks = id_chunks(check_ids(batch_ids, "batch_ids"))
        return start_each(chunks, lambda chunk: [self.delete_some_batches(workspace_id, project_id, dataset_id, chunk)],
                          key="acknowledgements")

    def get_batch(self, workspace_id: Any, project_id: Any, dataset_id: Any, batch_id: Any,
                  fields: Any = None) -> dict[str, Any]:
        """``GET .../batches/{batch_id}``: the batch (``BatchInfoSchema``)."""
        path = {**dataset_path(workspace_id, project_id, dataset_id), "batch_id": check_int(batch_id, "batch_id")}
        params = list_params(fields=fields) if fields is not None else None
        body = self.call(Call("GET", BATCHES + "/{batch_id}", path_params=path, params=params))
        return body["batch"] if isinstance(body, dict) and isinstance(body.get("batch"), dict) else body

    def delete_batch(self, workspace_id: Any, project_id: Any, dataset_id: Any, batch_id: Any) -> Any:
        """``DELETE .../batches/{batch_id}``; returns the acknowledgement (sent again when lost)."""
        path = {**dataset_path(workspace_id, project_id, dataset_id), "batch_id": check_int(batch_id, "batch_id")}
        return self.send_start(Call("DELETE", BATCHES + "/{batch_id}", path_params=path), _ack)

    # -- jobs ------------------------------------------------------------------------------------
    @staticmethod
    def get_job_call(job_id: Any) -> Call:
        return Call("GET", "/jobs/{job_id}", path_params={"job_id": check_int(job_id, "job_id")})

    @staticmethod
    def get_jobs_calls(job_ids: list[int]) -> list[Call]:
        return [
            Call("GET", "/jobs", params={"job_ids": ",".join(map(str, job_ids[i : i + JOBS_PER_REQUEST]))})
            for i in range(0, len(job_ids), JOBS_PER_REQUEST)
        ]

    def get_job(self, job_id: Any) -> dict[str, Any]:
        """``GET /jobs/{job_id}``: the ``JobSchema``."""
        return self.run(job_reader(job_id))

    def get_jobs(self, job_ids: Any) -> list[dict[str, Any]]:
        """``GET /jobs?job_ids=``: several jobs, 100 per request.

        The list leaves unknown ids out; each missing one is read alone (``GET /jobs/{id}``), so an
        id Mammoth does not know fails with its 404 instead of being waited on forever.
        """
        return self.run(jobs_reader(check_ids(job_ids, "job_ids")))

    def get_jobs_report(self, job_ids: Any) -> StatusReport:
        """The report of the jobs of one operation (see :func:`jobs_report_reader`, sync or async)."""
        return self.run(jobs_report_reader(job_reports(check_ids(job_ids, "job_ids"))))

    def test_connection(self) -> tuple[bool, str]:
        """Ask for a job that cannot exist: an empty list (or a 404) proves the credentials work."""
        try:
            self.call(Call("GET", "/jobs", params={"job_ids": "1"}))
        except ApiError as exc:
            if exc.status != 404:
                return False, str(exc)
        except BatchOpsError as exc:
            return False, str(exc)
        return True, f"Connected to {self.client.base_url}"


# -- readers: each status read written once, run sync (hook.run) or async (hook.arun) -----------------
def job_reader(job_id: Any) -> Reader[dict[str, Any]]:
    """One job (``GET /jobs/{job_id}``)."""
    body = yield MammothHook.get_job_call(job_id)
    return _job_of(body)


def jobs_reader(job_ids: list[int]) -> Reader[list[dict[str, Any]]]:
    """The jobs of ``job_ids``: listed 100 at a time, and each one the list left out read alone."""
    bodies = yield MammothHook.get_jobs_calls(job_ids)
    jobs = [job for body in bodies for job in _jobs_of(body)]
    missing = _missing(job_ids, jobs)
    if missing:
        alone = yield [MammothHook.get_job_call(job_id) for job_id in missing]
        jobs.extend(_job_of(body) for body in alone)
    return jobs


def jobs_report_reader(reports: ReportSet) -> Reader[StatusReport]:
    """Read the unfinished jobs of ``reports`` and combine every job's latest report."""
    pending = set(reports.pending())
    jobs = yield from jobs_reader(sorted(pending, key=reports.ids.index))
    return reports.update({job["id"]: job_report(job) for job in jobs if job["id"] in pending})


def _job_of(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("job"), dict):
        raise BatchOpsError("Mammoth answered without a job")
    return _checked_job(body["job"])


def _checked_job(job: dict[str, Any]) -> dict[str, Any]:
    """A job whose id can be matched: an integer (a numeric string is read as one)."""
    job_id = job.get("id")
    if isinstance(job_id, str) and whole_number_text(job_id.strip()):
        job = {**job, "id": int(job_id.strip())}
    elif isinstance(job_id, bool) or not isinstance(job_id, int):
        raise BatchOpsError(f"Mammoth answered a job without a whole-number id: {job_id!r}")
    return job


def _ack(reply: Reply) -> Any:
    body = reply.json()
    ack_job_id(body)  # readable, or the start fails without Airflow's retries
    return body


def _missing(ids: list[int], jobs: list[dict[str, Any]]) -> list[int]:
    seen = {job.get("id") for job in jobs}
    return [i for i in ids if i not in seen]


def _jobs_of(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        raise BatchOpsError("Mammoth answered without a job list")
    return [_checked_job(job) for job in body["jobs"] if isinstance(job, dict)]
