"""The simulator's Mammoth Analytics batches and jobs API through real HTTP: auth, list filters and
paging, create/delete/suspend-restore jobs, control routes, faults, settings and spec conformance."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, get_args, get_origin

import pytest
import requests

from airflow_provider_batchops.simulator import (
    MAMMOTH_API_KEY,
    MAMMOTH_API_SECRET,
    SimulatorConfig,
    SimulatorServer,
    create_app,
)
from airflow_provider_batchops.simulator.__main__ import build_parser, main
from tests.support.conformance import (
    MAMMOTH,
    assert_rejected_request,
    assert_rejected_response,
    validate_request_body,
    validate_response,
)
from tests.support.mammoth_batch_models import EXAMPLES, RESTATED
from tests.support.openapi_check import load_spec, spec_available

SPEC = MAMMOTH
API = "/api/v2"
WS, PROJECT, TARGET, SOURCE = 4, 1020, 3453, 3460
BATCHES_T = "/workspaces/{workspace_id}/projects/{project_id}/datasets/{dataset_id}/batches"
BATCH_T = BATCHES_T + "/{batch_id}"
JOB_T = "/jobs/{job_id}"
JOBS_T = "/jobs"
HEADERS = {"X-API-KEY": MAMMOTH_API_KEY, "X-API-SECRET": MAMMOTH_API_SECRET, "X-WORKSPACE-ID": str(WS)}
TIMEOUT = 10
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
MIN = {"id", "name", "state", "created_at"}
STANDARD = MIN | {"description", "row_count", "column_count", "source"}
FULL = STANDARD | {"data_schema"}
COLUMNS = [
    {"c_id": "c_order_id", "c_name": "order_id", "c_type": "text"},
    {"c_id": "c_amount", "c_name": "amount", "c_type": "numeric"},
    {"c_id": "c_ordered_on", "c_name": "ordered_on", "c_type": "date"},
    {"c_id": "c_region", "c_name": "region", "c_type": "text"},
]


def batches_path(dataset: int = TARGET, workspace: int = WS, project: int = PROJECT) -> str:
    return f"/workspaces/{workspace}/projects/{project}/datasets/{dataset}/batches"


def api(sim: SimulatorServer, method: str, path: str, *, params: Any = None, body: Any = None,
        headers: dict[str, str] | None = None) -> requests.Response:
    return requests.request(method, f"{sim.url}{API}{path}", params=params, json=body,
                            headers=HEADERS if headers is None else headers, timeout=TIMEOUT)


def listing(sim: SimulatorServer, dataset: int = TARGET, **params: Any) -> dict[str, Any]:
    response = api(sim, "GET", batches_path(dataset), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def raw(sim: SimulatorServer, dataset: int = TARGET, workspace: int = WS, project: int = PROJECT) -> dict[str, Any]:
    params = {"workspace_id": workspace, "project_id": project, "dataset_id": dataset}
    response = sim.client.call("GET", "mammoth/batches", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def states(sim: SimulatorServer, dataset: int = TARGET) -> dict[int, str]:
    return {b["id"]: b["state"] for b in raw(sim, dataset)["batches"]}


def sim_jobs(sim: SimulatorServer) -> list[dict[str, Any]]:
    response = sim.client.call("GET", "mammoth/jobs")
    assert response.status_code == 200
    jobs: list[dict[str, Any]] = response.json()
    return jobs


def bulk(sim: SimulatorServer, count: int, dataset: int = TARGET, **extra: Any) -> list[int]:
    body = {"workspace_id": WS, "project_id": PROJECT, "dataset_id": dataset, "count": count, **extra}
    response = sim.client.call("POST", "mammoth/batches", body)
    assert response.status_code == 201, response.text
    ids: list[int] = response.json()["ids"]
    return ids


def wait_job(sim: SimulatorServer, job_id: int, limit: float = 5.0) -> dict[str, Any]:
    """Poll ``GET /jobs/{job_id}`` until it is no longer processing; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    for _ in range(500):
        response = api(sim, "GET", f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["job"]
        if job["status"] != "processing":
            return job
        if time.monotonic() > deadline:
            break
        time.sleep(0.03)
    raise AssertionError(f"job {job_id} still processing after {limit} s")


def wait_all_jobs(sim: SimulatorServer, limit: float = 10.0) -> list[dict[str, Any]]:
    """Every job, once none is processing; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    for _ in range(1000):
        jobs = sim_jobs(sim)
        if all(job["status"] != "processing" for job in jobs):
            return jobs
        if time.monotonic() > deadline:
            break
        time.sleep(0.03)
    raise AssertionError(f"jobs still processing after {limit} s")


def by_id(*pairs: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"source_c_id": s, "destination_c_id": d, "expected_destination_c_type": t} for s, d, t in pairs]


def by_name(*pairs: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"source_c_name": s, "destination_c_name": d, "expected_destination_c_type": t} for s, d, t in pairs]


def create_body(mapping: list[dict[str, str]] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source_id": SOURCE,
        "mapping": mapping if mapping is not None else by_id(("c_order_id", "c_order_id", "TEXT"),
                                                               ("c_amount", "c_amount", "NUMERIC")),
        "validate_only": False,
        "delete_source_ds": False,
        "new_ds_details": None,
    }
    return body | fields


def patch_body(suspend: Any = None, restore: Any = None, op: str = "replace") -> dict[str, Any]:
    return {"patch": {"op": op, "path": "batches", "value": {"suspend": suspend, "restore": restore}}}


def delete_ids(sim: SimulatorServer, ids: list[int], dataset: int = TARGET) -> requests.Response:
    return api(sim, "DELETE", batches_path(dataset), params={"ids": ",".join(map(str, ids))})


def started_job(response: requests.Response, status: int = 202) -> int:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status and body["failure_reason"] is None
    assert isinstance(body["job_id"], int)
    job_id: int = body["job_id"]
    return job_id


def seconds(stamp: str) -> float:
    assert ISO.match(stamp), stamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def mm(sim: SimulatorServer) -> SimulatorServer:
    """The reset simulator with quick Mammoth jobs."""
    sim.configure(mammoth_job_delay=0.1)
    return sim


# --- auth and addressing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-KEY": MAMMOTH_API_KEY},
        {"X-API-SECRET": MAMMOTH_API_SECRET},
        {"X-API-KEY": MAMMOTH_API_KEY, "X-API-SECRET": MAMMOTH_API_SECRET + "x"},
        {"X-API-KEY": "nope", "X-API-SECRET": MAMMOTH_API_SECRET},
    ],
)
@pytest.mark.parametrize("path", [batches_path(), "/jobs/5001", "/jobs?job_ids=5001"])
def test_missing_or_wrong_credentials_get_401(mm: SimulatorServer, headers: dict[str, str], path: str) -> None:
    response = api(mm, "GET", path, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["status_code"] == 401 and body["detail"]


def test_the_workspace_header_is_optional_but_must_be_an_integer(mm: SimulatorServer) -> None:
    keys = {"X-API-KEY": MAMMOTH_API_KEY, "X-API-SECRET": MAMMOTH_API_SECRET}
    assert api(mm, "GET", batches_path(), headers=keys).status_code == 200
    assert api(mm, "GET", batches_path(), headers={**keys, "X-WORKSPACE-ID": "4"}).status_code == 200
    response = api(mm, "GET", batches_path(), headers={**keys, "X-WORKSPACE-ID": "four"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("X-WORKSPACE-ID: ")
    assert response.json()["extra"] == {"field": "X-WORKSPACE-ID"}


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (batches_path(workspace=5), "Workspace 5 not found"),
        (batches_path(project=1021), "Project 1021 not found in workspace 4"),
        (batches_path(dataset=9999), "Dataset 9999 not found in project 1020"),
        (batches_path() + "/999999", "Batch 999999 not found in dataset 3453"),
        ("/jobs/999999", "Job 999999 not found"),
    ],
)
def test_unknown_things_get_404_in_mammoths_shape(mm: SimulatorServer, path: str, detail: str) -> None:
    response = api(mm, "GET", path)
    assert response.status_code == 404
    assert response.json() == {"status_code": 404, "detail": detail}


@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH"])
def test_writes_to_an_unknown_dataset_get_404(mm: SimulatorServer, method: str) -> None:
    body = patch_body([101]) if method == "PATCH" else create_body() if method == "POST" else None
    response = api(mm, method, batches_path(dataset=9999), params={"ids": "101"}, body=body)
    assert response.status_code == 404 and response.json()["status_code"] == 404
    assert sim_jobs(mm) == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/workspaces/four/projects/1020/datasets/3453/batches", "workspace_id"),
        ("/workspaces/0/projects/1020/datasets/3453/batches", "workspace_id"),
        ("/workspaces/4/projects/x/datasets/3453/batches", "project_id"),
        ("/workspaces/4/projects/1020/datasets/-1/batches", "dataset_id"),
        ("/workspaces/4/projects/1020/datasets/3453/batches/abc", "batch_id"),
        ("/jobs/abc", "job_id"),
    ],
)
def test_non_integer_path_parameters_get_400_naming_them(mm: SimulatorServer, path: str, field: str) -> None:
    response = api(mm, "GET", path)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")
    assert response.json()["extra"] == {"field": field}


# --- the seeded store --------------------------------------------------------------------------------


def test_the_seeded_store_has_the_target_and_the_source_dataset(mm: SimulatorServer) -> None:
    target, source = raw(mm), raw(mm, SOURCE)
    assert (target["workspace_id"], target["project_id"], target["dataset_id"]) == (WS, PROJECT, TARGET)
    assert target["columns"] == COLUMNS and source["columns"] == COLUMNS
    batches = target["batches"]
    assert len(batches) == 40
    ids = [b["id"] for b in batches]
    assert ids == sorted(ids) and len(set(ids)) == 40
    created = [seconds(b["created_at"]) for b in batches]
    assert created == sorted(created)  # ids follow creation order
    now = time.time()
    assert all(now - 200 * 86400 - 5 <= c <= now for c in created)
    assert created[-1] - created[0] > 100 * 86400  # spread over the period
    counted = {state: sum(b["state"] == state for b in batches) for state in ("active", "suspended", "sync_pending")}
    assert counted == {"active": 34, "suspended": 4, "sync_pending": 2}
    assert all(b["source"] == {"type": "file"} and b["column_count"] == 4 and b["row_count"] > 0 for b in batches)
    assert all(b["data_schema"] == COLUMNS for b in batches)
    assert len(source["batches"]) == 2 and source["batches"][0]["id"] > ids[-1]
    assert source["rows"] == sum(b["row_count"] for b in source["batches"])


def test_the_seed_is_deterministic() -> None:
    def store(seed: int) -> list[tuple[Any, ...]]:
        state = create_app(SimulatorConfig(seed=seed)).state.sim.mammoth
        items = [b for d in state.datasets.values() for b in d.batches.values()]
        return [(b.id, b.dataset_id, b.state, b.row_count, b.name[-7:], b.created - items[0].created) for b in items]

    first, second, other = store(7), store(7), store(8)
    assert [row[:5] for row in first] == [row[:5] for row in second]
    assert all(abs(a[5] - b[5]) < 1e-3 for a, b in zip(first, second, strict=True))
    assert [row[:5] for row in first] != [row[:5] for row in other]


def test_reset_with_state_reseeds_the_store_and_forgets_jobs(mm: SimulatorServer) -> None:
    before = [(b["id"], b["name"], b["state"]) for b in raw(mm)["batches"]]
    bulk(mm, 5)
    started_job(delete_ids(mm, [101]))
    mm.reset(state=True)
    assert [(b["id"], b["name"], b["state"]) for b in raw(mm)["batches"]] == before
    assert sim_jobs(mm) == []
    assert bulk(mm, 1)[0] == 143  # ids start again after the seeded batches


# --- listing -----------------------------------------------------------------------------------------


def test_the_default_page(mm: SimulatorServer) -> None:
    page = listing(mm)
    assert page["offset"] == 0 and page["limit"] == 50 and page["pending_batches"] == []
    assert page["next"] == ""  # 40 batches fit on one page
    assert [b["id"] for b in page["batches"]] == list(range(101, 141))
    first = page["batches"][0]
    assert set(first) == STANDARD
    assert first["description"] == {"numeric_error_columns": [], "date_error_columns": []}
    assert ISO.match(first["created_at"])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("__min", MIN),
        ("__standard", STANDARD),
        ("__full", FULL),
        ("", STANDARD),
        ("id,name", {"id", "name"}),
        ("row_count, data_schema", {"row_count", "data_schema"}),
        ("__min,row_count", MIN | {"row_count"}),
    ],
)
def test_fields_select_what_is_returned(mm: SimulatorServer, fields: str, expected: set[str]) -> None:
    batches = listing(mm, fields=fields)["batches"]
    assert batches and all(set(b) == expected for b in batches)
    if "data_schema" in expected:
        assert batches[0]["data_schema"] == COLUMNS
    single = api(mm, "GET", f"{batches_path()}/{batches[0]['id'] if 'id' in expected else 101}",
                 params={"fields": fields}).json()["batch"]
    assert set(single) == expected


@pytest.mark.parametrize("fields", ["colour", "id,status", "__everything"])
def test_unknown_fields_get_400(mm: SimulatorServer, fields: str) -> None:
    for path in (batches_path(), batches_path() + "/101"):
        response = api(mm, "GET", path, params={"fields": fields})
        assert response.status_code == 400
        assert response.json()["detail"].startswith("fields: ") and response.json()["extra"] == {"field": "fields"}


def test_the_id_filter(mm: SimulatorServer) -> None:
    assert [b["id"] for b in listing(mm, id="110,103,999999,103")["batches"]] == [103, 110]
    assert [b["id"] for b in listing(mm, id=" 105 ")["batches"]] == [105]
    assert [b["id"] for b in listing(mm, id="141")["batches"]] == []  # a batch of the source dataset


def test_the_created_at_range_with_both_or_one_bound(mm: SimulatorServer) -> None:
    batches = raw(mm)["batches"]
    low, high = batches[9]["created_at"], batches[29]["created_at"]
    ids = [b["id"] for b in batches]
    both = listing(mm, created_at=f"(from:'{low}',to:'{high}')", limit=100)["batches"]
    assert [b["id"] for b in both] == ids[9:30]  # bounds are inclusive
    since = listing(mm, created_at=f"(from:'{low}')", limit=100)["batches"]
    assert [b["id"] for b in since] == ids[9:]
    until = listing(mm, created_at=f"(to:'{high}')", limit=100)["batches"]
    assert [b["id"] for b in until] == ids[:30]
    moment = datetime.fromisoformat(low.replace("Z", "+00:00")).astimezone(timezone(timedelta(hours=2)))
    offset = listing(mm, created_at=f"(from:'{moment.isoformat()}')", limit=100)["batches"]
    assert [b["id"] for b in offset] == ids[9:]  # +02:00 offsets work (the '+' percent-encoded)
    assert listing(mm, created_at="(from:'2000-01-01T00:00:00Z',to:'2000-01-02T00:00:00Z')")["batches"] == []


@pytest.mark.parametrize(
    "value",
    [
        "from:'2024-01-01T00:00:00Z'",
        "(from:2024-01-01T00:00:00Z)",
        "(from:'yesterday')",
        "(since:'2024-01-01T00:00:00Z')",
        "()",
        "(from:'2024-01-01T00:00:00Z',from:'2024-01-02T00:00:00Z')",
        "(from:'2024-02-01T00:00:00Z',to:'2024-01-01T00:00:00Z')",
    ],
)
def test_a_malformed_created_at_gets_400_naming_it(mm: SimulatorServer, value: str) -> None:
    response = api(mm, "GET", batches_path(), params={"created_at": value})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("created_at: ")
    assert response.json()["extra"] == {"field": "created_at"}


def test_the_status_filter_matches_the_state(mm: SimulatorServer) -> None:
    found = listing(mm, status="suspended,sync_pending")["batches"]
    assert len(found) == 6 and {b["state"] for b in found} == {"suspended", "sync_pending"}
    assert len(listing(mm, status="active", limit=100)["batches"]) == 34
    assert listing(mm, status="deleting")["batches"] == []
    response = api(mm, "GET", batches_path(), params={"status": "active,archived"})
    assert response.status_code == 400 and response.json()["detail"].startswith("status: ")


def test_the_row_count_filter(mm: SimulatorServer) -> None:
    batches = raw(mm)["batches"]
    wanted = {batches[3]["row_count"], batches[17]["row_count"]}
    found = listing(mm, row_count=",".join(map(str, sorted(wanted))), limit=100)["batches"]
    assert found and {b["row_count"] for b in found} == wanted
    assert {b["id"] for b in found} == {b["id"] for b in batches if b["row_count"] in wanted}
    response = api(mm, "GET", batches_path(), params={"row_count": "10,many"})
    assert response.status_code == 400 and response.json()["detail"].startswith("row_count: ")


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("(id:asc)", lambda b: b["id"]),
        ("(id:desc)", lambda b: -b["id"]),
        ("(row_count:desc)", lambda b: (-b["row_count"], b["id"])),
        ("(created_at:desc)", lambda b: (-seconds(b["created_at"]), b["id"])),
        ("(state:asc),(id:desc)", lambda b: (b["state"], -b["id"])),
        ("(name:desc)", lambda b: tuple(-ord(c) for c in b["name"])),
        ("(column_count:asc),(row_count:asc)", lambda b: (b["column_count"], b["row_count"], b["id"])),
    ],
)
def test_sorting(mm: SimulatorServer, sort: str, key: Any) -> None:
    found = listing(mm, sort=sort, limit=100)["batches"]
    assert len(found) == 40
    assert found == sorted(found, key=key)
    assert ([b["id"] for b in found] == list(range(101, 141))) == (sort == "(id:asc)")


@pytest.mark.parametrize("sort", ["id:asc", "(id:up)", "(colour:asc)", "(id:asc)(state:asc)", "(id:asc),"])
def test_a_malformed_sort_gets_400(mm: SimulatorServer, sort: str) -> None:
    response = api(mm, "GET", batches_path(), params={"sort": sort})
    assert response.status_code == 400 and response.json()["detail"].startswith("sort: ")


def test_limit_bounds(mm: SimulatorServer) -> None:
    assert listing(mm, limit=0) == {"batches": [], "next": "", "offset": 0, "limit": 0, "pending_batches": []}
    assert len(listing(mm, limit=100)["batches"]) == 40
    page = listing(mm, limit=1)
    assert [b["id"] for b in page["batches"]] == [101] and page["next"].endswith("?limit=1&offset=1")


@pytest.mark.parametrize(("name", "value"), [("limit", "-1"), ("limit", "101"), ("limit", "ten"),
                                             ("limit", "1.5"), ("offset", "-1"), ("offset", "x")])
def test_limit_and_offset_out_of_range_get_400(mm: SimulatorServer, name: str, value: str) -> None:
    response = api(mm, "GET", batches_path(), params={name: value})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{name}: ") and response.json()["extra"] == {"field": name}


def test_offset(mm: SimulatorServer) -> None:
    page = listing(mm, offset=35, limit=10)
    assert [b["id"] for b in page["batches"]] == list(range(136, 141))
    assert page["offset"] == 35 and page["next"] == ""
    assert listing(mm, offset=1000)["batches"] == [] and listing(mm, offset=1000)["next"] == ""
    exact = listing(mm, offset=20, limit=20)
    assert len(exact["batches"]) == 20 and exact["next"] == ""  # the last page, exactly full
    assert listing(mm, offset=0, limit=20)["next"].endswith("batches?limit=20&offset=20")


def test_next_keeps_the_other_query_parameters(mm: SimulatorServer) -> None:
    page = listing(mm, fields="__min", status="active", sort="(created_at:desc)", limit=7)
    assert page["next"] == (f"api/v2{batches_path()}?limit=7&offset=7&fields=__min&status=active"
                            "&sort=(created_at:desc)")


def test_paging_through_next_reaches_the_end(mm: SimulatorServer) -> None:
    low = raw(mm)["batches"][2]["created_at"].replace("Z", "+00:00")
    params = {"fields": "__min", "status": "active,suspended", "sort": "(created_at:desc)",
              "created_at": f"(from:'{low}')", "limit": 7}
    expected = listing(mm, **{**params, "limit": 100})["batches"]
    assert 25 < len(expected) < 40
    seen: list[dict[str, Any]] = []
    response = api(mm, "GET", batches_path(), params=params)
    for _ in range(20):
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(page["batches"])
        if page["next"] == "":
            break
        assert page["next"].startswith(f"api/v2{batches_path()}?limit=7&offset={len(seen)}&")
        response = requests.get(f"{mm.url}/{page['next']}", headers=HEADERS, timeout=TIMEOUT)
    else:
        raise AssertionError("next never became empty")
    assert seen == expected
    assert len(page["batches"]) == len(expected) % 7 or len(page["batches"]) == 7


# --- create ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mapping",
    [
        by_id(("c_order_id", "c_order_id", "TEXT"), ("c_amount", "c_amount", "NUMERIC")),
        by_name(("ordered_on", "ordered_on", "DATE"), ("region", "region", "TEXT")),
    ],
)
def test_create_runs_a_job_that_appends_a_batch(mm: SimulatorServer, mapping: list[dict[str, str]]) -> None:
    mm.configure(mammoth_job_delay=0.3)
    source_rows = raw(mm, SOURCE)["rows"]
    response = api(mm, "POST", batches_path(), body=create_body(mapping))
    job_id = started_job(response, 200)
    running = api(mm, "GET", f"/jobs/{job_id}").json()["job"]
    assert running["status"] == "processing" and running["response"] == {}
    assert len(raw(mm)["batches"]) == 40
    job = wait_job(mm, job_id)
    assert job["status"] == "success" and job["operation"] == "create_batch"
    assert job["path"] == f"{API}{batches_path()}"
    new_id = job["response"]["batch_id"]
    assert job["response"] == {"batch_id": new_id} and new_id > 142
    assert seconds(job["last_updated_at"]) - seconds(job["created_at"]) >= 0.29
    batch = api(mm, "GET", f"{batches_path()}/{new_id}").json()["batch"]
    assert batch["state"] == "active" and batch["row_count"] == source_rows and batch["column_count"] == 4
    assert batch["source"]["type"] == "datasource" and batch["source"]["dataset_id"] == SOURCE
    assert len(raw(mm)["batches"]) == 41 and raw(mm, SOURCE)["rows"] == source_rows


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        (by_id(("c_amount", "c_amount", "TEXT")), "Column type mismatch: destination column c_amount is NUMERIC, "
                                                  "expected TEXT"),
        (by_name(("order_id", "order_id", "TEXT"), ("ordered_on", "ordered_on", "NUMERIC")),
         "Column type mismatch: destination column ordered_on is DATE, expected NUMERIC"),
        (by_id(("c_nope", "c_amount", "NUMERIC")), "Column not found: source column c_nope"),
        (by_name(("amount", "total", "NUMERIC")), "Column not found: destination column total"),
    ],
)
def test_a_bad_mapping_fails_the_job_and_creates_nothing(mm: SimulatorServer, mapping: list[dict[str, str]],
                                                         error: str) -> None:
    job = wait_job(mm, started_job(api(mm, "POST", batches_path(), body=create_body(mapping)), 200))
    assert job["status"] == "failure"
    assert job["response"]["error"].startswith(error)
    assert len(raw(mm)["batches"]) == 40


def test_a_type_mismatch_against_a_dataset_with_other_column_types(mm: SimulatorServer) -> None:
    columns = [{"c_id": "c_order_id", "c_name": "order_id", "c_type": "text"},
               {"c_id": "c_amount", "c_name": "amount", "c_type": "text"}]
    bulk(mm, 2, dataset=9100, columns=columns)
    body = create_body(by_id(("c_amount", "c_amount", "NUMERIC")))
    job = wait_job(mm, started_job(api(mm, "POST", batches_path(9100), body=body), 200))
    assert job["status"] == "failure" and job["response"]["error"].startswith("Column type mismatch: ")
    ok = wait_job(mm, started_job(api(mm, "POST", batches_path(9100),
                                      body=create_body(by_id(("c_amount", "c_amount", "TEXT")))), 200))
    assert ok["status"] == "success" and len(raw(mm, 9100)["batches"]) == 3


def test_an_unknown_source_dataset_fails_the_job(mm: SimulatorServer) -> None:
    job = wait_job(mm, started_job(api(mm, "POST", batches_path(), body=create_body(source_id=77)), 200))
    assert job["status"] == "failure" and job["response"] == {"error": "Source dataset 77 not found"}


def test_validate_only_answers_at_once_and_creates_nothing(mm: SimulatorServer) -> None:
    response = api(mm, "POST", batches_path(), body=create_body(validate_only=True))
    assert response.status_code == 200
    assert response.json() == {"status_code": 200, "job_id": None, "failure_reason": None}
    bad = api(mm, "POST", batches_path(),
              body=create_body(by_id(("c_amount", "c_amount", "DATE")), validate_only=True))
    assert bad.status_code == 200
    assert bad.json()["job_id"] is None and bad.json()["status_code"] == 400
    assert bad.json()["failure_reason"].startswith("Column type mismatch: ")
    assert sim_jobs(mm) == [] and len(raw(mm)["batches"]) == 40


def test_delete_source_ds_removes_the_source_dataset(mm: SimulatorServer) -> None:
    job = wait_job(mm, started_job(api(mm, "POST", batches_path(), body=create_body(delete_source_ds=True)), 200))
    assert job["status"] == "success"
    gone = requests.get(f"{mm.url}/_sim/mammoth/batches",
                        params={"workspace_id": WS, "project_id": PROJECT, "dataset_id": SOURCE}, timeout=TIMEOUT)
    assert gone.status_code == 404
    assert api(mm, "GET", batches_path(SOURCE)).status_code == 404
    again = wait_job(mm, started_job(api(mm, "POST", batches_path(), body=create_body()), 200))
    assert again["status"] == "failure" and again["response"]["error"] == f"Source dataset {SOURCE} not found"


INVALID_CREATE = [
    ({k: v for k, v in create_body().items() if k != "source_id"}, "source_id"),
    (create_body(source_id="3460"), "source_id"),
    (create_body(source_id=True), "source_id"),
    (create_body(validate_only="yes"), "validate_only"),
    ({k: v for k, v in create_body().items() if k != "delete_source_ds"}, "delete_source_ds"),
    (create_body(mapping={"c_amount": "c_amount"}), "mapping"),
    (create_body(mapping=[]), "mapping"),
    (create_body(mapping=["c_amount"]), "mapping[0]"),
    (create_body(mapping=[{"expected_destination_c_type": "TEXT"}]), "mapping[0]"),
    (create_body(mapping=by_id(("a", "a", "TEXT")) + by_name(("b", "b", "TEXT"))), "mapping[1]"),
    (create_body(mapping=by_id(("a", "a", "text"))), "mapping[0].expected_destination_c_type"),
    (create_body(mapping=[{"source_c_id": "a", "expected_destination_c_type": "TEXT"}]),
     "mapping[0].destination_c_id"),
    (create_body(new_ds_details={"title": "x"}), "new_ds_details.name"),
    (["source_id", 3460], "body"),
    (None, "body"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_CREATE)
def test_invalid_create_bodies_get_400_naming_the_field(mm: SimulatorServer, body: Any, field: str) -> None:
    response = api(mm, "POST", batches_path(), body=body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["status_code"] == 400 and payload["detail"].startswith(f"{field}: ")
    assert payload["extra"] == {"field": field}
    assert sim_jobs(mm) == []


# --- delete ------------------------------------------------------------------------------------------


def test_deleting_many_marks_them_deleting_then_removes_them(mm: SimulatorServer) -> None:
    mm.configure(mammoth_job_delay=0.3)
    before = states(mm)
    job_id = started_job(delete_ids(mm, [103, 101, 120]))
    listed = listing(mm, status="deleting")["batches"]
    assert [b["id"] for b in listed] == [101, 103, 120]  # still listed while the job runs
    assert len(listing(mm, limit=100)["batches"]) == 40
    job = wait_job(mm, job_id)
    assert job["status"] == "success" and job["operation"] == "delete_batches"
    assert job["response"] == {"deleted_ids": [103, 101, 120]}
    after = states(mm)
    assert set(before) - set(after) == {101, 103, 120} and len(after) == 37
    assert all(after[i] == before[i] for i in after)
    assert listing(mm, status="deleting")["batches"] == []


@pytest.mark.parametrize("extra_id", [999999, 141])  # unknown, and a batch of the source dataset
def test_ids_not_in_the_dataset_fail_the_job_and_nothing_is_deleted(mm: SimulatorServer, extra_id: int) -> None:
    before = states(mm)
    job_id = started_job(delete_ids(mm, [101, extra_id, 102]))
    assert states(mm) == before  # nothing marked deleting
    job = wait_job(mm, job_id)
    assert job["status"] == "failure"
    assert job["response"]["failed_ids"] == [extra_id] and str(extra_id) in job["response"]["error"]
    assert states(mm) == before
    assert len(raw(mm, SOURCE)["batches"]) == 2


def test_a_locked_batch_ends_the_job_in_error_and_nothing_is_deleted(mm: SimulatorServer) -> None:
    mm.configure(mammoth_job_delay=0.3)
    locked = bulk(mm, 1, name_prefix="locked")[0]
    before = states(mm)
    job_id = started_job(delete_ids(mm, [101, locked, 104]))
    assert {i: s for i, s in states(mm).items() if i in (101, locked, 104)} == dict.fromkeys((101, 104, locked),
                                                                                              "deleting")
    job = wait_job(mm, job_id)
    assert job["status"] == "error"
    assert job["response"] == {"response": {"detail": f"Batch {locked} is locked"}}
    assert states(mm) == before  # the previous states are back


def test_a_too_long_url_gets_414(mm: SimulatorServer) -> None:
    ids = ",".join(str(100000 + n) for n in range(1400))  # 9,800 bytes of ids
    url = f"{mm.url}{API}{batches_path()}?ids={ids}"
    response = requests.delete(url, headers=HEADERS, timeout=TIMEOUT)
    assert response.status_code == 414
    assert response.json() == {"status_code": 414, "detail": "Request-URI Too Long"}
    assert sim_jobs(mm) == []
    short = requests.delete(f"{mm.url}{API}{batches_path()}?ids={ids[:7000].rpartition(',')[0]}",
                            headers=HEADERS, timeout=TIMEOUT)
    assert short.status_code == 202  # under the limit it is accepted (and the job fails: unknown ids)
    counters = mm.counters()["statuses"]
    assert counters[f"DELETE {API}{BATCHES_T} 414"] == 1 and counters[f"DELETE {API}{BATCHES_T} 202"] == 1


@pytest.mark.parametrize("query", [{}, {"ids": ""}, {"ids": "101,abc"}, {"ids": "-3"}])
def test_delete_without_valid_ids_gets_400(mm: SimulatorServer, query: dict[str, str]) -> None:
    response = api(mm, "DELETE", batches_path(), params=query)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("ids: ") and response.json()["extra"] == {"field": "ids"}


def test_get_one_and_delete_one(mm: SimulatorServer) -> None:
    one = api(mm, "GET", f"{batches_path()}/105")
    assert one.status_code == 200 and set(one.json()) == {"batch"}
    assert one.json()["batch"] == {k: v for k, v in raw(mm)["batches"][4].items() if k in STANDARD}
    assert api(mm, "GET", f"{batches_path(SOURCE)}/105").status_code == 404  # not in that dataset
    response = api(mm, "DELETE", f"{batches_path()}/105")
    job_id = started_job(response)
    assert states(mm)[105] == "deleting"
    job = wait_job(mm, job_id)
    assert job["status"] == "success" and job["operation"] == "delete_batch"
    assert job["response"] == {"deleted_ids": [105]} and job["path"] == f"{API}{batches_path()}/105"
    assert api(mm, "GET", f"{batches_path()}/105").status_code == 404
    assert api(mm, "DELETE", f"{batches_path()}/105").status_code == 404


def test_deleting_one_locked_batch_ends_in_error(mm: SimulatorServer) -> None:
    locked = bulk(mm, 1, name_prefix="still-locked", state="suspended")[0]
    job = wait_job(mm, started_job(api(mm, "DELETE", f"{batches_path()}/{locked}")))
    assert job["status"] == "error" and job["response"]["response"]["detail"] == f"Batch {locked} is locked"
    assert states(mm)[locked] == "suspended"


# --- suspend and restore -----------------------------------------------------------------------------


def test_patch_suspends_and_restores(mm: SimulatorServer) -> None:
    suspended = [i for i, s in states(mm).items() if s == "suspended"]
    job_id = started_job(api(mm, "PATCH", batches_path(), body=patch_body([101, 102], suspended[:2])))
    job = wait_job(mm, job_id)
    assert job["status"] == "success" and job["operation"] == "update_batches"
    assert job["response"] == {"suspended": [101, 102], "restored": suspended[:2]}
    after = states(mm)
    assert after[101] == after[102] == "suspended"
    assert all(after[i] == "active" for i in suspended[:2])
    only_restore = wait_job(mm, started_job(api(mm, "PATCH", batches_path(), body=patch_body(None, [101]))))
    assert only_restore["status"] == "success" and states(mm)[101] == "active"


def test_patch_with_unknown_or_deleting_batches_fails_and_changes_nothing(mm: SimulatorServer) -> None:
    before = states(mm)
    job = wait_job(mm, started_job(api(mm, "PATCH", batches_path(), body=patch_body([101, 999999]))))
    assert job["status"] == "failure" and job["response"]["failed_ids"] == [999999]
    assert states(mm) == before
    mm.configure(mammoth_job_delay=1.0)
    started_job(delete_ids(mm, [102]))
    mm.configure(mammoth_job_delay=0.1)
    busy = wait_job(mm, started_job(api(mm, "PATCH", batches_path(), body=patch_body([101, 102]))))
    assert busy["status"] == "failure" and busy["response"] == {"error": "Batch 102 is being deleted",
                                                                "failed_ids": [102]}
    assert states(mm)[101] == before[101]


INVALID_PATCH = [
    ({"patch": [patch_body([1])["patch"]]}, "patch"),
    ({}, "patch"),
    ({"patch": {"path": "batches", "value": {}}}, "patch.op"),
    (patch_body([1], op="set"), "patch.op"),
    ({"patch": {"op": "replace", "path": "batch", "value": {}}}, "patch.path"),
    ({"patch": {"op": "replace", "path": "batches"}}, "patch.value"),
    ({"patch": {"op": "replace", "path": "batches", "value": [1]}}, "patch.value"),
    (patch_body("1,2"), "patch.value.suspend"),
    (patch_body(None, [1, "2"]), "patch.value.restore[1]"),
    (patch_body([True]), "patch.value.suspend[0]"),
    (patch_body([101], [101]), "patch.value"),
    ("suspend", "body"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_PATCH)
def test_invalid_patch_bodies_get_400_naming_the_field(mm: SimulatorServer, body: Any, field: str) -> None:
    response = api(mm, "PATCH", batches_path(), body=body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ") and response.json()["extra"] == {"field": field}
    assert sim_jobs(mm) == []


# --- jobs --------------------------------------------------------------------------------------------


def test_jobs_single_and_list(mm: SimulatorServer) -> None:
    first = started_job(delete_ids(mm, [101]))
    second = started_job(api(mm, "PATCH", batches_path(), body=patch_body([102])))
    single = api(mm, "GET", f"/jobs/{first}").json()
    assert set(single) == {"job"} and single["job"]["id"] == first
    assert set(single["job"]) == {"id", "status", "response", "path", "operation", "created_at", "last_updated_at"}
    assert ISO.match(single["job"]["created_at"]) and ISO.match(single["job"]["last_updated_at"])
    listed = api(mm, "GET", "/jobs", params={"job_ids": f"{second},424242,{first},{second}"}).json()
    assert [job["id"] for job in listed["jobs"]] == [second, first]  # unknown left out, duplicates once
    assert api(mm, "GET", "/jobs", params={"job_ids": ""}).json() == {"jobs": []}
    assert api(mm, "GET", "/jobs").json() == {"jobs": []}
    wait_all_jobs(mm)


@pytest.mark.parametrize("value", ["1,x", "5001;5002", "-1", "1.0"])
def test_a_malformed_job_id_list_gets_400(mm: SimulatorServer, value: str) -> None:
    response = api(mm, "GET", "/jobs", params={"job_ids": value})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("job_ids: ") and response.json()["extra"] == {"field": "job_ids"}


def test_reading_the_job_list_applies_outcomes(mm: SimulatorServer) -> None:
    mm.configure(mammoth_job_delay=0.2)
    job_id = started_job(delete_ids(mm, [101, 102]))
    state = mm.app_state.mammoth
    assert state.jobs[job_id].status == "processing"
    time.sleep(0.3)
    assert state.jobs[job_id].status == "processing"  # outcomes are applied lazily, on a request
    jobs = api(mm, "GET", "/jobs", params={"job_ids": str(job_id)}).json()["jobs"]
    assert [(job["id"], job["status"]) for job in jobs] == [(job_id, "success")]
    assert 101 not in state.datasets[TARGET].batches


def test_jobs_reach_their_outcomes_in_due_order(mm: SimulatorServer) -> None:
    mm.configure(mammoth_job_delay=0.2)
    suspend = started_job(api(mm, "PATCH", batches_path(), body=patch_body([101])))
    restore = started_job(api(mm, "PATCH", batches_path(), body=patch_body(None, [101])))
    mm.configure(mammoth_job_delay=0.05)
    early = started_job(api(mm, "PATCH", batches_path(), body=patch_body([102])))  # due before the others
    time.sleep(0.3)
    jobs = {job["id"]: job for job in wait_all_jobs(mm)}  # all due: applied in one request
    assert [jobs[i]["status"] for i in (suspend, restore, early)] == ["success"] * 3
    assert jobs[early]["last_updated_at"] < jobs[suspend]["last_updated_at"] < jobs[restore]["last_updated_at"]
    assert states(mm)[101] == "active" and states(mm)[102] == "suspended"


def test_the_job_delay_setting(mm: SimulatorServer) -> None:
    assert requests.get(f"{mm.url}/_sim/config", timeout=TIMEOUT).json()["mammoth_job_delay"] == 0.1
    mm.configure(mammoth_job_delay=0.5)
    job_id = started_job(delete_ids(mm, [101]))
    time.sleep(0.2)
    assert api(mm, "GET", f"/jobs/{job_id}").json()["job"]["status"] == "processing"
    job = wait_job(mm, job_id)
    assert 0.49 <= seconds(job["last_updated_at"]) - seconds(job["created_at"]) < 0.6
    refused = requests.post(f"{mm.url}/_sim/config", json={"mammoth_job_delay": -1}, timeout=TIMEOUT)
    assert refused.status_code == 400
    mm.reset(state=True)
    assert requests.get(f"{mm.url}/_sim/config", timeout=TIMEOUT).json()["mammoth_job_delay"] == 1.0


# --- faults and counters -----------------------------------------------------------------------------


def test_faults_and_counters_use_the_route_templates(mm: SimulatorServer) -> None:
    job_id = started_job(delete_ids(mm, [101]))
    mm.add_fault(route=f"GET {API}{JOB_T}", kind="status", status=503, retry_after=1, times=1)
    mm.add_fault(route=f"{API}{BATCHES_T}", kind="status", status=429, times=1)  # any method
    failed = api(mm, "GET", f"/jobs/{job_id}")
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"
    assert api(mm, "GET", f"/jobs/{job_id}").status_code == 200
    assert api(mm, "PATCH", batches_path(), body=patch_body([102])).status_code == 429
    assert api(mm, "GET", batches_path()).status_code == 200
    assert api(mm, "GET", "/jobs", params={"job_ids": str(job_id)}).status_code == 200
    counters = mm.counters()
    assert counters["requests"][f"GET {API}{JOB_T}"] == 2
    assert counters["statuses"][f"GET {API}{JOB_T} 503"] == 1
    assert counters["statuses"][f"GET {API}{JOB_T} 200"] == 1
    assert counters["statuses"][f"PATCH {API}{BATCHES_T} 429"] == 1
    assert counters["statuses"][f"DELETE {API}{BATCHES_T} 202"] == 1
    assert counters["requests"][f"GET {API}{JOBS_T}"] == 1
    requests.get(f"{mm.url}/_sim/mammoth/jobs", timeout=TIMEOUT)
    assert not any("_sim" in key for key in mm.counters()["requests"])  # control routes are not counted


# --- control routes ----------------------------------------------------------------------------------


def test_bulk_add_places_batches_in_time_and_creates_the_dataset(mm: SimulatorServer) -> None:
    ids = bulk(mm, 3, dataset=9200, start="2024-02-01T00:00:00Z", step_hours=12, state="suspended",
               name_prefix="feb", row_count=7, dataset_name="february")
    assert ids == [143, 144, 145]
    store = raw(mm, 9200)
    assert store["name"] == "february" and store["columns"] == COLUMNS and store["rows"] == 0
    assert [(b["name"], b["state"], b["row_count"], b["created_at"]) for b in store["batches"]] == [
        ("feb-1", "suspended", 7, "2024-02-01T00:00:00.000000Z"),
        ("feb-2", "suspended", 7, "2024-02-01T12:00:00.000000Z"),
        ("feb-3", "suspended", 7, "2024-02-02T00:00:00.000000Z"),
    ]
    assert bulk(mm, 2, dataset=9200) == [146, 147]  # the dataset exists now: appended
    assert len(raw(mm, 9200)["batches"]) == 5


def test_bulk_add_creates_missing_workspaces_and_projects(mm: SimulatorServer) -> None:
    path = batches_path(dataset=9400, workspace=7, project=77)
    assert api(mm, "GET", path).status_code == 404
    added = requests.post(f"{mm.url}/_sim/mammoth/batches",
                          json={"workspace_id": 7, "project_id": 77, "dataset_id": 9400, "count": 2}, timeout=TIMEOUT)
    assert added.status_code == 201 and added.json() == {"ids": [143, 144], "count": 2, "total": 2}
    page = api(mm, "GET", path).json()
    assert [(b["id"], b["name"], b["state"], b["row_count"]) for b in page["batches"]] == [
        (143, "batch-1", "active", 100), (144, "batch-2", "active", 100)]
    assert api(mm, "GET", batches_path(dataset=9400)).status_code == 404  # not in project 1020


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453},
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453, "count": -1},
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453, "count": 100_001},
        {"workspace_id": 0, "project_id": 1020, "dataset_id": 3453, "count": 1},
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453, "count": 1, "state": "gone"},
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453, "count": 1, "start": "soon"},
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453, "count": 1, "step_hours": "1"},
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 3453, "count": 1, "colour": "red"},
        {"workspace_id": 4, "project_id": 1020, "dataset_id": 9500, "count": 1, "columns": [{"c_id": "a"}]},
        {"workspace_id": 5, "project_id": 1020, "dataset_id": 9500, "count": 1},  # project 1020 is in 4
        {"workspace_id": 4, "project_id": 1021, "dataset_id": 3453, "count": 1},  # dataset 3453 is in 1020
    ],
)
def test_bulk_add_refuses_bad_bodies(mm: SimulatorServer, body: Any) -> None:
    response = requests.post(f"{mm.url}/_sim/mammoth/batches", json=body, timeout=TIMEOUT)
    assert response.status_code == 400 and response.json()["error"]
    assert len(raw(mm)["batches"]) == 40


@pytest.mark.parametrize(
    ("query", "status"),
    [({}, 400), ({"workspace_id": 4, "project_id": 1020}, 400), ({"workspace_id": 4, "project_id": 1020,
                                                                  "dataset_id": 1}, 404)],
)
def test_the_raw_store_route_checks_its_query(mm: SimulatorServer, query: dict[str, int], status: int) -> None:
    response = requests.get(f"{mm.url}/_sim/mammoth/batches", params=query, timeout=TIMEOUT)
    assert response.status_code == status and response.json()["error"]


def test_ten_thousand_batches_are_paged_and_deleted_in_chunks(mm: SimulatorServer) -> None:
    ids = bulk(mm, 10_000, dataset=9000, start="2025-01-01T00:00:00Z", step_hours=0.5)
    assert len(ids) == 10_000 and ids == list(range(ids[0], ids[0] + 10_000))
    seen: list[int] = []
    response = api(mm, "GET", batches_path(9000), params={"limit": 100, "fields": "__min"})
    for _ in range(150):
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(b["id"] for b in page["batches"])
        if not page["next"]:
            break
        response = requests.get(f"{mm.url}/{page['next']}", headers=HEADERS, timeout=TIMEOUT)
    assert seen == ids
    mm.configure(mammoth_job_delay=1.0)
    job_ids = []
    for start in range(0, len(ids), 1000):
        chunk = ",".join(map(str, ids[start:start + 1000]))
        job_ids.append(started_job(requests.delete(f"{mm.url}{API}{batches_path(9000)}?ids={chunk}",
                                                   headers=HEADERS, timeout=TIMEOUT)))
    assert len(listing(mm, 9000, status="deleting", limit=100)["batches"]) == 100
    jobs = {job["id"]: job for job in wait_all_jobs(mm, limit=30)}
    assert [jobs[i]["status"] for i in job_ids] == ["success"] * 10
    assert raw(mm, 9000)["batches"] == []
    assert listing(mm, 9000) == {"batches": [], "next": "", "offset": 0, "limit": 50, "pending_batches": []}


def test_the_control_job_list_shows_every_job_with_its_status(mm: SimulatorServer) -> None:
    mm.configure(mammoth_job_delay=5)
    slow = started_job(delete_ids(mm, [101]))
    mm.configure(mammoth_job_delay=0)
    quick = started_job(delete_ids(mm, [999999]))
    jobs = sim_jobs(mm)
    assert [(job["id"], job["status"]) for job in jobs] == [(slow, "processing"), (quick, "failure")]
    mm.reset(state=True)
    assert sim_jobs(mm) == []


# --- command line ------------------------------------------------------------------------------------


def test_the_cli_describes_the_mammoth_emulation() -> None:
    parser = build_parser()
    text = " ".join(parser.format_help().split())
    assert "Mammoth Analytics batches and jobs" in text and "--mammoth-job-delay" in text
    assert parser.parse_args(["--mammoth-job-delay", "0.25"]).mammoth_job_delay == 0.25
    assert parser.parse_args([]).mammoth_job_delay == 1.0
    with pytest.raises(SystemExit) as refused:
        main(["--mammoth-job-delay", "-1"])
    assert refused.value.code == 2


# --- conformance: mammoth-io's models (jobs, acks), the restated batch schemas, and the spec when present ---
# mammoth-io models the job acknowledgement and the job bodies only; the batch bodies (create and patch
# requests, list and detail answers, 400 errors) are held to tests/support/mammoth_batch_models.py, which the
# spec checks where present (../shared/specs). See tests/support/conformance.py.

CREATE_BODIES = [
    create_body(),
    create_body(by_name(("amount", "amount", "NUMERIC")), new_ds_details={"name": "combined"}),
    create_body(validate_only=True, delete_source_ds=True),
]


@pytest.mark.parametrize("body", CREATE_BODIES)
def test_create_acks_conform(mm: SimulatorServer, body: dict[str, Any]) -> None:
    response = api(mm, "POST", batches_path(), body=body)
    assert response.status_code == 200
    validate_response(SPEC, "POST", BATCHES_T, 200, response.json())
    if response.json()["job_id"] is not None:
        assert wait_job(mm, response.json()["job_id"])["status"] == "success"


@pytest.mark.parametrize(("method", "body"), [*(("POST", body) for body in CREATE_BODIES),
                                              ("PATCH", patch_body([101], [102]))])
def test_create_and_patch_bodies_conform(mm: SimulatorServer, method: str, body: dict[str, Any]) -> None:
    validate_request_body(SPEC, method, BATCHES_T, body)
    assert api(mm, method, batches_path(), body=body).status_code in (200, 202)


@pytest.mark.parametrize("fields", ["__min", "__standard", "__full", "id,source,description"])
def test_list_and_get_responses_conform(mm: SimulatorServer, fields: str) -> None:
    wait_job(mm, started_job(api(mm, "POST", batches_path(), body=create_body()), 200))  # a datasource batch
    # Jobs now outlast the test, so batch 101 stays 'deleting' however slow the machine is.
    requests.post(f"{mm.url}/_sim/config", json={"mammoth_job_delay": 60}, timeout=TIMEOUT).raise_for_status()
    started_job(delete_ids(mm, [101]))  # and one deleting
    page = api(mm, "GET", batches_path(), params={"fields": fields, "limit": 100, "sort": "(id:desc)"})
    validate_response(SPEC, "GET", BATCHES_T, 200, page.json())
    paged = api(mm, "GET", batches_path(), params={"fields": fields, "limit": 10})
    assert paged.json()["next"]
    validate_response(SPEC, "GET", BATCHES_T, 200, paged.json())
    for batch_id in (101, page.json()["batches"][0].get("id", 143)):
        one = api(mm, "GET", f"{batches_path()}/{batch_id}", params={"fields": fields})
        validate_response(SPEC, "GET", BATCH_T, 200, one.json())


def test_write_acks_and_job_bodies_conform(mm: SimulatorServer) -> None:
    # The first job is read while still processing: give the five calls before that read a second, not 0.1 s.
    mm.configure(mammoth_job_delay=1.0)
    locked = bulk(mm, 1, name_prefix="locked")[0]
    calls = [
        ("PATCH", BATCHES_T, api(mm, "PATCH", batches_path(), body=patch_body([101], [102]))),
        ("DELETE", BATCHES_T, delete_ids(mm, [103, 104])),
        ("DELETE", BATCHES_T, delete_ids(mm, [999999])),
        ("DELETE", BATCH_T, api(mm, "DELETE", f"{batches_path()}/{locked}")),
        ("POST", BATCHES_T, api(mm, "POST", batches_path(), body=create_body(by_id(("c_amount", "c_amount",
                                                                                     "DATE"))))),
    ]
    job_ids = []
    for method, template, response in calls:
        validate_response(SPEC, method, template, response.status_code, response.json())
        job_ids.append(response.json()["job_id"])
    processing = api(mm, "GET", f"/jobs/{job_ids[0]}").json()
    assert processing["job"]["status"] == "processing"
    validate_response(SPEC, "GET", JOB_T, 200, processing)
    outcomes = [wait_job(mm, job_id)["status"] for job_id in job_ids]
    assert outcomes == ["success", "success", "failure", "error", "failure"]
    for job_id in job_ids:
        validate_response(SPEC, "GET", JOB_T, 200, api(mm, "GET", f"/jobs/{job_id}").json())
    listed = api(mm, "GET", "/jobs", params={"job_ids": ",".join(map(str, job_ids))}).json()
    assert len(listed["jobs"]) == 5
    validate_response(SPEC, "GET", JOBS_T, 200, listed)


@pytest.mark.parametrize(
    ("method", "template", "path", "params", "body"),
    [
        ("GET", BATCHES_T, batches_path(), {"created_at": "(from:yesterday)"}, None),
        ("GET", BATCHES_T, batches_path(), {"limit": "500"}, None),
        ("POST", BATCHES_T, batches_path(), None, INVALID_CREATE[9][0]),
        ("PATCH", BATCHES_T, batches_path(), None, INVALID_PATCH[0][0]),
        ("DELETE", BATCHES_T, batches_path(), {"ids": "a"}, None),
        ("GET", BATCH_T, batches_path() + "/101", {"fields": "colour"}, None),
        ("DELETE", BATCH_T, batches_path() + "/x", None, None),
        ("GET", JOB_T, "/jobs/x", None, None),
        ("GET", JOBS_T, "/jobs", {"job_ids": "x"}, None),
    ],
)
def test_400_bodies_conform(mm: SimulatorServer, method: str, template: str, path: str, params: Any,
                            body: Any) -> None:
    response = api(mm, method, path, params=params, body=body)
    assert response.status_code == 400
    validate_response(SPEC, method, template, 400, response.json())  # skips for batch routes without the spec
    # The job routes document their 400 without a body schema: the shape is the same as elsewhere.
    assert set(response.json()) == {"status_code", "detail", "extra"}


def _literals(annotation: Any) -> set[Any]:
    """The values of every ``Literal`` inside an annotation (``None`` left out)."""
    if get_origin(annotation) is Literal:
        return {value for value in get_args(annotation) if value is not None}
    return set().union(*(_literals(arg) for arg in get_args(annotation)))


def _spec_enum(schema: dict[str, Any], schemas: dict[str, Any]) -> set[Any]:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    values = {value for value in schema.get("enum", ()) if value is not None}
    return values.union(*(_spec_enum(member, schemas) for member in schema.get("oneOf", ())))


def test_the_examples_are_accepted_and_the_restated_models_match_the_spec() -> None:
    """The batch bodies' oracle (mammoth_batch_models) is the spec restated: where the spec is beside the
    checkout, each restated schema must declare exactly its properties, required fields, enums and
    defaults, and carry its examples; everywhere, the examples must be accepted."""
    examples = {name: list(bodies) for name, bodies in EXAMPLES.items()}
    if spec_available(SPEC):
        schemas = load_spec(SPEC)["components"]["schemas"]
        for name, model in RESTATED.items():
            schema, fields = schemas[name], model.model_fields
            assert set(fields) == set(schema.get("properties", {})), name
            assert {key for key, field in fields.items() if field.is_required()} == set(schema.get("required", [])), name
            for key, field in fields.items():
                prop = schema["properties"][key]
                assert _literals(field.annotation) == _spec_enum(prop, schemas), f"{name}.{key}"
                if "default" in prop:
                    assert field.get_default(call_default_factory=True) == prop["default"], f"{name}.{key}"
        for name in EXAMPLES:
            assert examples[name] == schemas[name]["examples"], name
        examples["JobsGetResponse"] = schemas["JobsGetResponse"]["examples"]
    for example in examples["BatchesPostRequest"]:
        validate_request_body(SPEC, "POST", BATCHES_T, example)
    for example in examples["BatchesPatchRequest"]:
        validate_request_body(SPEC, "PATCH", BATCHES_T, example)
    for example in examples.get("JobsGetResponse", []):
        validate_response(SPEC, "GET", JOBS_T, 200, example)


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("POST", BATCHES_T, create_body(by_id(("a", "a", "text")))),
        ("POST", BATCHES_T, INVALID_CREATE[9][0]),
        ("POST", BATCHES_T, create_body(source_id="3460")),
        ("PATCH", BATCHES_T, INVALID_PATCH[0][0]),
        ("PATCH", BATCHES_T, patch_body([1], op="set")),
        ("PATCH", BATCHES_T, patch_body(["1"])),
    ],
)
def test_the_oracles_reject_bad_mammoth_requests(method: str, template: str, body: Any) -> None:
    assert_rejected_request(SPEC, method, template, body)


@pytest.mark.parametrize(
    ("method", "template", "status", "body"),
    [
        ("GET", BATCHES_T, 200, {"batches": []}),
        ("GET", BATCHES_T, 200, {"batches": [{"id": 1, "state": "gone"}], "next": ""}),
        ("GET", BATCHES_T, 200, {"batches": [], "next": None}),
        ("GET", BATCH_T, 200, {"batch": {"id": 1, "data_schema": [{"c_type": "TEXT"}]}}),
        ("GET", JOB_T, 200, {"job": {"id": 1, "status": "done", "response": {}, "path": "/p", "operation": "o",
                                     "created_at": "2024-01-01T00:00:00Z", "last_updated_at": "2024-01-01T00:00:00Z"}}),
        ("GET", JOB_T, 200, {"job": {"id": 1, "status": "success", "response": "ok", "path": "/p", "operation": "o",
                                     "created_at": "2024-01-01T00:00:00Z", "last_updated_at": "2024-01-01T00:00:00Z"}}),
        ("DELETE", BATCHES_T, 202, {"status_code": 202, "job_id": "5001"}),
        ("POST", BATCHES_T, 400, {"status_code": 400}),
        ("GET", BATCH_T, 404, {"status_code": 404, "detail": "undocumented status"}),
    ],
)
def test_the_oracles_reject_bad_mammoth_responses(method: str, template: str, status: int, body: Any) -> None:
    assert_rejected_response(SPEC, method, template, status, body)  # skips for batch bodies without the spec
