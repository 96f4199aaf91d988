"""Bad input: every operator, sensor and connection type refuses malformed input before any request.

Each case resets the simulator's counters, runs the component the way a worker does
(``execute(context)``; a hook call for some connection cases), and checks that it failed with an
error naming the field and that the simulator saw no request at all. The one exception is an
unreachable host: that fails at the first request, with a connection error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowException

from airflow_provider_batchops.core.errors import ApiError, InputError, TransientApiError
from airflow_provider_batchops.hooks.mammoth import MammothHook
from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
from airflow_provider_batchops.hooks.waylay import WaylayHook
from airflow_provider_batchops.operators.mammoth import (
    MammothBatchCleanupOperator,
    MammothCreateBatchOperator,
    MammothDeleteBatchesOperator,
    MammothUpdateBatchesOperator,
)
from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator
from airflow_provider_batchops.operators.waylay import (
    ResourcesBatchDeleteOperator,
    RulesBatchDeleteOperator,
    RulesBatchOperator,
)
from airflow_provider_batchops.sensors.mammoth import MammothJobSensor
from airflow_provider_batchops.sensors.superoffice import SuperOfficeBatchTaskSensor
from airflow_provider_batchops.sensors.waylay import (
    WaylayBatchSensor,
    WaylayRegistryJobSensor,
    WaylayRegistryJobsSensor,
)
from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, SIM_API_KEY, SIM_API_SECRET
from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN
from tests.support import reliability_report
from tests.support.helpers import AIRFLOW_VERSION, set_connection
from tests.support.reliability_sim import (
    MAMMOTH_WHERE,
    closed_loopback_port,
    connect_all,
    context,
    counters,
    quick_retry,  # noqa: F401 - a fixture, used by name
    short,
)

BAD = reliability_report.section(
    "bad-input",
    "Bad input",
    ["component", "input", "field named", "error message", "requests seen"],
    intro=(
        "Malformed parameters and connections (`tests/reliability/test_bad_input.py`). Each case runs "
        "the component as a worker does (`execute(context)`, or a hook call) against the simulator, with "
        "its counters reset first; *requests seen* is what the simulator counted afterwards. Every case "
        "but the unreachable host must fail before any request, with a message naming the field."
    ),
)

#: Operators: wait in the worker, quickly, with no task state store; a bounded wait in any case.
OP_WAIT: dict[str, Any] = {"deferrable": False, "poll_interval": 0.2, "timeout": 5, "durable": False}
SENSOR_WAIT: dict[str, Any] = {"deferrable": False, "poke_interval": 0.2, "timeout": 5}
MAPPING = [{"source_c_name": "name", "destination_c_name": "name", "expected_destination_c_type": "TEXT"}]
#: Valid arguments of each component; a case overrides one or two of them.
VALID: dict[type, dict[str, Any]] = {
    RulesBatchOperator: {"action": "delete", "ids": ["t-1"], **OP_WAIT},
    RulesBatchDeleteOperator: {"ids": ["t-1"], **OP_WAIT},
    ResourcesBatchDeleteOperator: {"ids": ["r-1"], **OP_WAIT},
    WaylayBatchSensor: {"service": "rules", "batch_id": "b-1", **SENSOR_WAIT},
    WaylayRegistryJobSensor: {"job_type": "build", "job_id": "j-1", **SENSOR_WAIT},
    WaylayRegistryJobsSensor: {"job_type": "build", **SENSOR_WAIT},
    MammothDeleteBatchesOperator: {**MAMMOTH_WHERE, "batch_ids": [101], **OP_WAIT},
    MammothCreateBatchOperator: {**MAMMOTH_WHERE, "source_id": 3460, "mapping": MAPPING, **OP_WAIT},
    MammothUpdateBatchesOperator: {**MAMMOTH_WHERE, "suspend": [101], **OP_WAIT},
    MammothBatchCleanupOperator: {**MAMMOTH_WHERE, "older_than": timedelta(days=90), **OP_WAIT},
    MammothJobSensor: {"job_id": 1, **SENSOR_WAIT},
    SuperOfficeBatchTaskOperator: {"name": "ExportContacts", **OP_WAIT},
    SuperOfficeBatchTaskSensor: {"batch_task_id": 1001, **SENSOR_WAIT},
}


@dataclass(frozen=True)
class Bad:
    """One malformed input: which component, what is wrong, which field the error must name."""

    component: str
    input: str
    field: str
    run: Callable[[], Any]
    #: ``(conn_id, connection fields)`` defined before the run; ``{sim}`` in the host is the simulator URL.
    connection: tuple[str, dict[str, Any]] | None = None

    @property
    def id(self) -> str:
        return f"{self.component}-{self.input}"


def case(cls: type, field: str, start_date: datetime | None = None, what: str | None = None, **changes: Any) -> Bad:
    """``cls`` built with its valid arguments overridden by ``changes``, then executed.

    :param what: how the input is described in the report (default: the changed arguments).
    """

    def run() -> Any:
        return cls(task_id="bad_input", **{**VALID[cls], **changes}).execute(context(start_date))

    return Bad(cls.__name__, what or ", ".join(f"{k}={shown(v)}" for k, v in changes.items()), field, run)


def shown(value: Any) -> str:
    if isinstance(value, timedelta):
        return f"timedelta(seconds={value.total_seconds():g})"
    return repr(value)


def conn_case(cls: type, conn_type: str, what: str, field: str, **fields: Any) -> Bad:
    """``cls`` run with a connection ``bad_<type>`` that has a problem (``fields`` replace good ones)."""
    conn_arg = {"waylay": "waylay_conn_id", "superoffice": "superoffice_conn_id", "mammoth": "mammoth_conn_id"}
    good: dict[str, dict[str, Any]] = {
        "waylay": {"host": "{sim}", "login": SIM_API_KEY, "password": SIM_API_SECRET},
        "superoffice": {"host": "{sim}/Cust12345", "password": SO_ACCESS_TOKEN},
        "mammoth": {"host": "{sim}/api/v2", "login": MAMMOTH_API_KEY, "password": MAMMOTH_API_SECRET},
    }
    conn_id = f"bad_{conn_type}"
    spec = {k: v for k, v in {**good[conn_type], **fields, "conn_type": conn_type}.items() if v is not None}

    def run() -> Any:
        return cls(task_id="bad_conn", **{**VALID[cls], conn_arg[conn_type]: conn_id}).execute(context())

    return Bad(f"{cls.__name__} / {conn_type} connection", what, field, run, (conn_id, spec))


def hook_case(name: str, hook: Callable[[], Any], conn_type: str, what: str, field: str, **fields: Any) -> Bad:
    """A hook call (described as ``name``) through a connection ``bad_<type>`` with a problem."""
    base = conn_case(RulesBatchDeleteOperator, conn_type, what, field, **fields)
    return Bad(f"{name} / {conn_type} connection", what, field, hook, base.connection)


PAST = datetime.now(timezone.utc) - timedelta(hours=2)


def rendered_none() -> RulesBatchDeleteOperator:
    """A delete whose ``ids`` template rendered ``None`` (an upstream task returned nothing)."""
    op = RulesBatchDeleteOperator(task_id="bad_input", ids="{{ ti.xcom_pull('upstream') }}", **OP_WAIT)
    op.ids = None
    return op

CASES: list[Bad] = [
    # -- Waylay rules ---------------------------------------------------------------------------------
    case(RulesBatchOperator, "action", action="purge"),
    case(RulesBatchOperator, "action", action=None),
    case(RulesBatchOperator, "query", what="query={'status': 'stopped'} and ids=['t-1'] (both)",
         query={"status": "stopped"}),
    case(RulesBatchOperator, "query", what="neither query nor ids", ids=None),
    case(RulesBatchDeleteOperator, "query", ids=None, query="status=stopped"),
    case(RulesBatchDeleteOperator, "query.status", ids=None, query={"status": "deleted"}),
    case(RulesBatchDeleteOperator, "query.type", ids=None, query={"type": "hourly"}),
    case(RulesBatchDeleteOperator, "query", ids=None, query={}),
    case(RulesBatchDeleteOperator, "query.colour", ids=None, query={"colour": "red"}),
    case(RulesBatchDeleteOperator, "query.finished_before", ids=None, query={"finished_before": -5}),
    case(RulesBatchDeleteOperator, "query.finished_before", ids=None, query={"finished_before": "last week"}),
    case(RulesBatchDeleteOperator, "ids", ids=[]),
    case(RulesBatchDeleteOperator, "ids[0]", ids=[""]),
    case(RulesBatchDeleteOperator, "ids[1]", ids=["t-1", 42]),
    case(RulesBatchDeleteOperator, "ids", ids="t-1"),
    case(RulesBatchDeleteOperator, "ids", ids="[t-1, t-2"),
    case(RulesBatchOperator, "action_parameters", action_parameters={"parallel": True}),
    case(RulesBatchOperator, "action_parameters", action="updatePlugins"),
    case(RulesBatchOperator, "action_parameters.to_version", action="updatePlugins",
         action_parameters={"name": "p", "from_version": "any", "to_version": "latest"}),
    case(RulesBatchOperator, "action_parameters", action="updateProperties", action_parameters={}),
    # -- preview and guard of batches by query (issue 15) -----------------------------------------------
    case(RulesBatchDeleteOperator, "max_tasks", ids=None, query={"status": "stopped"}, max_tasks=-1),
    case(RulesBatchDeleteOperator, "max_tasks", ids=None, query={"status": "stopped"}, max_tasks="many"),
    case(RulesBatchDeleteOperator, "max_tasks", ids=None, query={"status": "stopped"}, max_tasks=True),
    case(RulesBatchDeleteOperator, "max_tasks", ids=None, query={"status": "stopped"}, max_tasks=2.5),
    case(RulesBatchOperator, "max_tasks", action="stop", ids=None, query={"status": "stopped"}, max_tasks="all"),
    case(RulesBatchDeleteOperator, "dry_run", dry_run="yes"),
    case(RulesBatchDeleteOperator, "query.tags.site", ids=None, query={"tags": {"site": ["plant-1", "plant-2"]}}),
    case(RulesBatchDeleteOperator, "outlets", ids=None, query={"status": "stopped"}, dry_run=True,
         outlets=[Asset("waylay://rules/cleaned")]),
    # -- wait parameters (shared by every operator) ----------------------------------------------------
    case(RulesBatchDeleteOperator, "poll_interval", poll_interval=0),
    case(RulesBatchDeleteOperator, "poll_interval", poll_interval=-1),
    case(RulesBatchDeleteOperator, "poll_interval", poll_interval="soon"),
    case(RulesBatchDeleteOperator, "poll_interval", poll_interval=float("nan")),
    case(RulesBatchDeleteOperator, "max_poll_interval", poll_interval=5, max_poll_interval=1),
    case(RulesBatchDeleteOperator, "timeout", timeout=-5),
    case(RulesBatchDeleteOperator, "timeout", timeout=timedelta(seconds=-1)),
    case(RulesBatchDeleteOperator, "timeout", timeout="tomorrow"),
    case(RulesBatchDeleteOperator, "on_item_failure", on_item_failure="ignore"),
    case(RulesBatchDeleteOperator, "execution_timeout", execution_timeout=5),
    case(RulesBatchDeleteOperator, "execution_timeout", start_date=datetime.now(timezone.utc),
         execution_timeout=timedelta(seconds=-5)),
    case(RulesBatchDeleteOperator, "execution_timeout", start_date=PAST, execution_timeout=timedelta(hours=1),
         what="execution_timeout=1 h, task started 2 h ago (deadline passed)"),
    case(RulesBatchDeleteOperator, "wait_for_completion", wait_for_completion="false"),
    case(RulesBatchDeleteOperator, "deferrable", deferrable="false"),
    # -- Waylay resources ------------------------------------------------------------------------------
    case(ResourcesBatchDeleteOperator, "entity", entity="device"),
    case(ResourcesBatchDeleteOperator, "ids", ids=[]),
    case(ResourcesBatchDeleteOperator, "ids[0]", ids=["   "]),
    case(ResourcesBatchDeleteOperator, "ids", ids={"r-1": True}),
    case(ResourcesBatchDeleteOperator, "cascade", cascade=["alarms", "events"]),
    case(ResourcesBatchDeleteOperator, "cascade", entity="resourcetype", cascade=["alarms"]),
    case(ResourcesBatchDeleteOperator, "max_batch_size", max_batch_size=0),
    case(ResourcesBatchDeleteOperator, "max_batch_size", max_batch_size=2.5),
    # -- Waylay sensors --------------------------------------------------------------------------------
    case(WaylayBatchSensor, "service", service="alarms"),
    case(WaylayBatchSensor, "batch_id", batch_id=""),
    case(WaylayBatchSensor, "batch_id", batch_id=".."),
    case(WaylayBatchSensor, "batch_id", batch_id="."),
    case(WaylayBatchSensor, "batch_id", batch_id=[]),
    case(WaylayBatchSensor, "batch_id[1]", batch_id=["b-1", None]),
    case(WaylayBatchSensor, "poke_interval", poke_interval=0),
    case(WaylayBatchSensor, "poke_interval", poke_interval=-1),
    case(WaylayBatchSensor, "timeout", timeout=-1),
    case(WaylayBatchSensor, "max_poll_interval", deferrable=True, poke_interval=5, max_poll_interval=1),
    case(WaylayBatchSensor, "on_item_failure", on_item_failure="skip"),
    case(WaylayBatchSensor, "deferrable", deferrable="false"),
    case(WaylayRegistryJobSensor, "job_type", job_type="compile"),
    case(WaylayRegistryJobSensor, "job_id", job_id=""),
    case(WaylayRegistryJobSensor, "job_id", job_id=".."),
    case(WaylayRegistryJobSensor, "job_id", job_id=123),
    case(WaylayRegistryJobSensor, "children", children="no"),
    case(WaylayRegistryJobSensor, "use_events", use_events="off"),
    case(WaylayRegistryJobsSensor, "states", states=["done"]),
    case(WaylayRegistryJobsSensor, "function_type", function_type="lambdas"),
    case(WaylayRegistryJobsSensor, "created_after", created_after="last week"),
    case(WaylayRegistryJobsSensor, "created_before", created_before=timedelta(hours=-1)),
    case(WaylayRegistryJobsSensor, "job_type", job_type="cleanup"),
    case(WaylayRegistryJobsSensor, "limit", limit=-1),
    case(WaylayRegistryJobsSensor, "function_name", function_name=""),
    # -- Mammoth ---------------------------------------------------------------------------------------
    case(MammothDeleteBatchesOperator, "batch_ids", batch_ids=[]),
    case(MammothDeleteBatchesOperator, "batch_ids[0]", batch_ids=["../x"]),
    case(MammothDeleteBatchesOperator, "batch_ids[1]", batch_ids="101,102/103"),
    case(MammothDeleteBatchesOperator, "batch_ids[0]", batch_ids=[True]),
    case(MammothDeleteBatchesOperator, "workspace_id", workspace_id="4/../5"),
    case(MammothDeleteBatchesOperator, "project_id", project_id=0),
    case(MammothDeleteBatchesOperator, "dataset_id", dataset_id=-1),
    case(MammothCreateBatchOperator, "mapping", mapping=[]),
    case(MammothCreateBatchOperator, "mapping[0].expected_destination_c_type",
         mapping=[{**MAPPING[0], "expected_destination_c_type": "STRING"}]),
    case(MammothCreateBatchOperator, "mapping[0].source_c_name", mapping=[{"expected_destination_c_type": "TEXT"}]),
    case(MammothCreateBatchOperator, "validate_only", validate_only="yes"),
    case(MammothCreateBatchOperator, "source_id", source_id="abc"),
    case(MammothCreateBatchOperator, "new_ds_details.name", new_ds_details={"name": ""}),
    case(MammothUpdateBatchesOperator, "suspend", suspend=None),
    case(MammothUpdateBatchesOperator, "restore", suspend=[101], restore=[101]),
    case(MammothBatchCleanupOperator, "older_than", older_than=timedelta(days=-1)),
    case(MammothBatchCleanupOperator, "older_than", created_before="2026-01-01T00:00:00Z",
         what="older_than=90 days and created_before='2026-01-01T00:00:00Z' (both)"),
    case(MammothBatchCleanupOperator, "created_before", older_than=None, created_before="yesterday"),
    case(MammothBatchCleanupOperator, "states", states=["deleting"]),
    case(MammothBatchCleanupOperator, "states", states=["archived"]),
    case(MammothBatchCleanupOperator, "keep_latest", keep_latest=-1),
    case(MammothBatchCleanupOperator, "max_delete", max_delete="many"),
    case(MammothBatchCleanupOperator, "dry_run", dry_run="yes"),
    case(MammothBatchCleanupOperator, "poll_interval", poll_interval=0),
    case(MammothJobSensor, "job_id", job_id="abc"),
    case(MammothJobSensor, "job_id", job_id=0),
    case(MammothJobSensor, "job_id", job_id=[]),
    # -- SuperOffice -----------------------------------------------------------------------------------
    case(SuperOfficeBatchTaskOperator, "name", name=""),
    case(SuperOfficeBatchTaskOperator, "name", name=42),
    case(SuperOfficeBatchTaskOperator, "parameters", parameters="FromDate=2026-01-01"),
    case(SuperOfficeBatchTaskOperator, "description", description=5),
    case(SuperOfficeBatchTaskOperator, "cancellation_behaviour", cancellation_behaviour="Maybe"),
    case(SuperOfficeBatchTaskOperator, "timeout", timeout=0),
    case(SuperOfficeBatchTaskSensor, "batch_task_id", batch_task_id="../1001"),
    case(SuperOfficeBatchTaskSensor, "batch_task_id", batch_task_id=0),
    # -- issue 12: filters that select everything, every action -----------------------------------------
    *[case(RulesBatchOperator, field, ids=None, query=query, action=action,
           action_parameters={"tags": {"x": 1}} if action == "updateProperties" else None)
      for action in ("delete", "stop", "restart", "updateProperties")
      for query, field in (({"tags": {}}, "query.tags"), ({"name": " "}, "query.name"),
                           ({"tags": {"site": None}}, "query.tags.site"), ({"status": None}, "query"))],
    case(RulesBatchDeleteOperator, "query.created_after", ids=None, query={"created_after": 1_767_225_600}),
    case(RulesBatchDeleteOperator, "query.finished_before", ids=None, query={"finished_before": True}),
    case(RulesBatchDeleteOperator, "query", ids=None,
         query={"created_after": "2026-06-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"}),
    Bad("RulesBatchDeleteOperator", "ids='{{ ... }}' rendered None", "ids", lambda: rendered_none().execute(context())),
    case(RulesBatchOperator, "action_parameters", action="updateProperties",
         action_parameters={"variables": {"x": float("nan")}}),
    # -- issue 12: ids and connection ids, every service -------------------------------------------------
    case(RulesBatchDeleteOperator, "ids[0]", ids=["None"]),
    case(RulesBatchDeleteOperator, "ids[0]", ids=[" t-1"]),
    case(ResourcesBatchDeleteOperator, "ids[0]", ids=["r-1\n"]),
    case(WaylayBatchSensor, "batch_id", batch_id="None"),
    case(WaylayBatchSensor, "batch_id[1]", batch_id="['b-1', '']"),
    case(WaylayRegistryJobSensor, "job_id", job_id="j\x00"),
    case(MammothJobSensor, "job_id", job_id=" 7"),
    case(MammothJobSensor, "job_id[1]", job_id="1,x"),
    case(SuperOfficeBatchTaskSensor, "batch_task_id", batch_task_id="None"),
    case(RulesBatchDeleteOperator, "waylay_conn_id", waylay_conn_id=""),
    case(WaylayBatchSensor, "waylay_conn_id", waylay_conn_id=" "),
    case(MammothDeleteBatchesOperator, "mammoth_conn_id", mammoth_conn_id=""),
    case(SuperOfficeBatchTaskOperator, "superoffice_conn_id", superoffice_conn_id=""),
    # -- issue 12: value ranges ----------------------------------------------------------------------
    case(RulesBatchDeleteOperator, "poll_interval", poll_interval=0.001),
    case(RulesBatchDeleteOperator, "poll_interval", poll_interval=float("inf")),
    case(RulesBatchDeleteOperator, "timeout", timeout=1e12),
    case(RulesBatchDeleteOperator, "unknown_state_reads", unknown_state_reads=0),
    case(WaylayBatchSensor, "unknown_state_reads", unknown_state_reads=-1),
    case(MammothBatchCleanupOperator, "older_than", older_than=float("nan")),
    case(MammothCreateBatchOperator, "mapping[1]", mapping=[MAPPING[0], {
        "source_c_id": "a", "destination_c_id": "b", "expected_destination_c_type": "TEXT"}]),
    case(SuperOfficeBatchTaskOperator, "parameters", parameters={"FromDate": float("inf")}),
    case(SuperOfficeBatchTaskOperator, "parameters", parameters={"when": datetime(2026, 1, 1)}),
    # -- connections ----------------------------------------------------------------------------------
    conn_case(RulesBatchDeleteOperator, "waylay", "extra timeout 1e12", "extra.timeout", extra={"timeout": 1e12}),
    conn_case(MammothJobSensor, "mammoth", "extra timeout 0.001", "extra.timeout", extra={"timeout": 0.001}),
    conn_case(RulesBatchDeleteOperator, "waylay", "no login (API key)", "login", login=None),
    conn_case(RulesBatchDeleteOperator, "waylay", "no password (API secret)", "password", password=None),
    conn_case(RulesBatchDeleteOperator, "waylay", "extra '{not json'", "extra", extra="{not json"),
    conn_case(RulesBatchDeleteOperator, "waylay", "extra '[1, 2]'", "extra", extra="[1, 2]"),
    conn_case(RulesBatchDeleteOperator, "waylay", "extra auth 'oauth2'", "extra.auth", extra={"auth": "oauth2"}),
    conn_case(WaylayBatchSensor, "waylay", "extra timeout 'fast'", "extra.timeout", extra={"timeout": "fast"}),
    conn_case(ResourcesBatchDeleteOperator, "waylay", "extra timeout 0", "extra.timeout", extra={"timeout": 0}),
    conn_case(RulesBatchDeleteOperator, "waylay", "extra timeout -3", "extra.timeout", extra={"timeout": -3}),
    conn_case(RulesBatchDeleteOperator, "waylay", "extra token 12345 (not a JWT string)", "extra.token",
              extra={"token": 12345}),
    conn_case(WaylayRegistryJobSensor, "waylay", "host 'ftp://127.0.0.1:1'", "host", host="ftp://127.0.0.1:1"),
    hook_case("WaylayHook.get_batch", lambda: WaylayHook("bad_waylay").get_batch("rules", "b-1"), "waylay",
              "basic auth without login", "login", login=None, extra={"auth": "basic"}),
    conn_case(SuperOfficeBatchTaskOperator, "superoffice", "no host", "host", host=None),
    conn_case(SuperOfficeBatchTaskOperator, "superoffice", "no password (token)", "password", password=None),
    conn_case(SuperOfficeBatchTaskSensor, "superoffice", "extra auth 'ntlm'", "extra.auth", extra={"auth": "ntlm"}),
    conn_case(SuperOfficeBatchTaskOperator, "superoffice", "basic auth without login", "login",
              extra={"auth": "basic"}),
    hook_case("SuperOfficeHook.get_task", lambda: SuperOfficeHook("bad_superoffice").get_task(1001),
              "superoffice", "extra timeout 'slow'", "extra.timeout", extra={"timeout": "slow"}),
    conn_case(MammothDeleteBatchesOperator, "mammoth", "no login (API key)", "login", login=None),
    conn_case(MammothJobSensor, "mammoth", "no password (API secret)", "password", password=None),
    conn_case(MammothDeleteBatchesOperator, "mammoth", "extra workspace_id 'four'", "extra.workspace_id",
              extra={"workspace_id": "four"}),
    conn_case(MammothBatchCleanupOperator, "mammoth", "extra workspace_id -4", "extra.workspace_id",
              extra={"workspace_id": -4}),
    hook_case("MammothHook.get_jobs", lambda: MammothHook("bad_mammoth").get_jobs([1]), "mammoth",
              "extra timeout 'soon'", "extra.timeout", extra={"timeout": "soon"}),
    hook_case("MammothHook.get_jobs", lambda: MammothHook("bad_mammoth").get_jobs([1]), "mammoth",
              "extra 'workspace_id=4' (not JSON)", "extra", extra="workspace_id=4"),
    Bad("WaylayHook.get_batch", "conn id 'no_such_conn' (not defined)", "no_such_conn",
        lambda: WaylayHook("no_such_conn").get_batch("rules", "b-1")),
]


@pytest.fixture(scope="module", autouse=True)
def module_clock():
    started = time.monotonic()
    yield
    BAD.note(f"{len(BAD.rows)} cases; module runtime {time.monotonic() - started:.1f} s.")


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_before_any_request(bad: Bad, sim, monkeypatch):
    connect_all(sim, monkeypatch)
    if bad.connection is not None:
        conn_id, spec = bad.connection
        if AIRFLOW_VERSION < (3, 2) and isinstance(spec.get("extra"), str) and not _is_json_object(spec["extra"]):
            pytest.skip("Airflow 3.1 itself refuses a connection whose extra is not an object")
        fields = {k: v.replace("{sim}", sim.url) if k == "host" else v for k, v in spec.items()}
        set_connection(monkeypatch, conn_id, **fields)
    sim.client.reset()
    assert counters(sim)["total"] == 0

    # Airflow 3.1's BaseSensorOperator refuses some values itself (an AirflowException naming the field).
    refusals = (ValueError, AirflowNotFoundException) + ((AirflowException,) if AIRFLOW_VERSION < (3, 2) else ())
    with pytest.raises(refusals) as raised:
        bad.run()
    error = raised.value
    seen = counters(sim)["total"]
    named = error.field if isinstance(error, InputError) else bad.field
    BAD.add(bad.component, bad.input, named, short(error), seen)

    assert seen == 0, f"{seen} request(s) reached the simulator: {counters(sim)['requests']}"
    if isinstance(error, InputError):
        assert error.field == bad.field, f"names {error.field!r}, expected {bad.field!r}: {error}"
    assert bad.field in str(error), str(error)


def _is_json_object(text: str) -> bool:
    import json

    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


UNREACHABLE: list[tuple[str, Callable[[], Any]]] = [
    ("waylay", lambda: RulesBatchDeleteOperator(task_id="x", **VALID[RulesBatchDeleteOperator]).execute(context())),
    ("superoffice", lambda: SuperOfficeBatchTaskOperator(task_id="x", **VALID[SuperOfficeBatchTaskOperator])
     .execute(context())),
    ("mammoth", lambda: MammothHook().get_jobs([1])),
]


@pytest.mark.parametrize(("conn_type", "run"), UNREACHABLE, ids=[u[0] for u in UNREACHABLE])
def test_unreachable_host_fails_at_the_first_request(conn_type, run, sim, monkeypatch, quick_retry):  # noqa: F811
    port = closed_loopback_port()
    connect_all(sim, monkeypatch)
    base = {"waylay": "", "superoffice": "/Cust12345", "mammoth": "/api/v2"}[conn_type]
    good = {
        "waylay": {"login": SIM_API_KEY, "password": SIM_API_SECRET},
        "superoffice": {"password": SO_ACCESS_TOKEN},
        "mammoth": {"login": MAMMOTH_API_KEY, "password": MAMMOTH_API_SECRET},
    }[conn_type]
    set_connection(monkeypatch, f"{conn_type}_default", conn_type=conn_type, host=f"http://127.0.0.1:{port}{base}",
                   **good)
    sim.client.reset()

    started = time.monotonic()
    with pytest.raises(TransientApiError) as raised:
        run()
    elapsed = time.monotonic() - started
    seen = counters(sim)["total"]
    component = {"waylay": "RulesBatchDeleteOperator", "superoffice": "SuperOfficeBatchTaskOperator",
                 "mammoth": "MammothHook.get_jobs"}[conn_type]
    BAD.add(f"{component} / {conn_type} connection", f"host 127.0.0.1:{port} (nothing listening)",
            "— (connection error at the first request)", short(raised.value),
            f"{seen} (the request went to the closed port; retried, failed in {elapsed:.1f} s)")
    assert raised.value.status is None
    assert "connection could not be opened" in str(raised.value)
    assert seen == 0


def test_path_characters_in_string_ids_are_sent_as_one_segment(sim, monkeypatch):
    """Waylay ids are free text: ``../x`` or ``a/b`` is percent-encoded, not refused; ``.``/``..`` are refused."""
    connect_all(sim, monkeypatch)
    hook = WaylayHook()
    reads = {"GET /rules/v1/batch/{batchId}": lambda i: hook.get_batch("rules", i),
             "GET /registry/v2/jobs/{type}/{id}": lambda i: hook.get_job("build", i)}
    for route, read in reads.items():
        for odd in ("../x", "a/b"):
            sim.client.reset()
            with pytest.raises(ApiError) as raised:
                read(odd)
            assert raised.value.status == 404 and raised.value.path.endswith("/" + quote(odd, safe=""))
            # The API saw the whole id on the intended route, not a shorter or resolved path.
            statuses = {k: n for k, n in counters(sim)["statuses"].items() if not k.startswith("POST /accounts/")}
            assert statuses == {f"{route} 404": 1}, statuses
    BAD.note("Waylay string ids with path characters (`../x`, `a/b`) are legitimate: they are sent "
             "percent-encoded as one path segment and reached the batch and job routes intact (404 for an "
             "unknown id); only `.` and `..`, which HTTP clients resolve to another URL, are refused.")
