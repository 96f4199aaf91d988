"""Manual runs without a logical date: the example DAGs and the README's DAG code render and run.

Airflow 3 triggers manual runs with ``logical_date=None``; ``logical_date``, ``ds``, ``ts`` and the
like are then *undefined* in templates (Airflow's Jinja environment is strict), so ``{{ ds }}`` or
even ``{{ logical_date or dag_run.run_after }}`` fail the task. ``dag_run`` is always there.

- Every example DAG runs green with ``dag.test(logical_date=None)`` against the simulator, and the
  dates it sent are the run's ``run_after``.
- Every templated field of every operator of the example DAGs and of the README's Python blocks
  renders in a manual-run context built the way Airflow builds it (no date keys; ``dag_run`` with
  ``logical_date=None``); the templates these files used before fail in that same context.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tests.support.helpers import set_connection

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
EXAMPLE_DAG_IDS = ("waylay_rules_cleanup", "waylay_resources_bulk_delete", "waylay_plug_release",
                   "superoffice_nightly_export", "mammoth_batch_cleanup", "waylay_rules_cleanup_report",
                   "waylay_deploy_verification")
DAY_MS = 86_400_000
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dagbag() -> Any:
    """The example DAGs, in a migrated metadata database."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=os.environ.copy(), check=True,
                   capture_output=True, timeout=600)
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:  # pragma: no cover
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    return bag


@pytest.fixture
def sim_conns(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The three default connections pointing at the simulator, with quick remote work."""
    from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, SIM_API_KEY, SIM_API_SECRET
    from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN

    set_connection(monkeypatch, "waylay_default", host=sim.url, login=SIM_API_KEY, password=SIM_API_SECRET)
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=f"{sim.url}/api/v2",
                   login=MAMMOTH_API_KEY, password=MAMMOTH_API_SECRET)
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_ACCESS_TOKEN)
    sim.configure(batch_delay=0.3, job_step_delay=0.2, so_step_delay=0.1, mammoth_job_delay=0.2)
    return sim


# --- the run conf each example DAG needs, and the simulator state it acts on ----------------------


def _rules_cleanup(sim: Any) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    sim.put_tasks([{"id": "old", "type": "onetime", "status": "stopped", "finishedTime": now_ms - 45 * DAY_MS},
                   {"id": "recent", "type": "onetime", "status": "stopped", "finishedTime": now_ms - 5 * DAY_MS}],
                  replace=True)
    return {}


def _bulk_delete(sim: Any) -> dict[str, Any]:
    ids = [f"site9-sensor-{n}" for n in range(3)]
    sim.put_resources([{"id": i, "name": i, "resourceTypeId": "sensor"} for i in ids])
    return {"resource_ids": ids}


def _plug_release(sim: Any) -> dict[str, Any]:
    job = sim.create_job(type="verify", children=True,
                         function={"functionType": "plugs", "name": "p", "version": "1.0.0"})
    return {"verify_job_id": job["id"]}


def _deploy_verification(sim: Any) -> dict[str, Any]:
    """A deploy job of the plug the DAG verifies (scheduled on its watcher's asset; by hand: the conf)."""
    job = sim.create_job(type="deploy", function={"functionType": "plugs", "name": "temperatureAlarm",
                                                  "version": "1.4.0"}, step_delay=0.05)
    return {"job_id": job["id"]}


def _nothing(sim: Any) -> dict[str, Any]:
    return {}


PREPARE: dict[str, Callable[[Any], dict[str, Any]]] = {
    "waylay_rules_cleanup": _rules_cleanup,
    "waylay_resources_bulk_delete": _bulk_delete,
    "waylay_plug_release": _plug_release,
    "superoffice_nightly_export": _nothing,
    "mammoth_batch_cleanup": _nothing,
    "waylay_rules_cleanup_report": _nothing,
    "waylay_deploy_verification": _deploy_verification,
}


def manual_run(dag: Any, conf: dict[str, Any]) -> Any:
    """``dag.test()`` as a manual run without a logical date; the run must succeed."""
    if "poll_interval" in dag.params:
        conf = {"poll_interval": 0.2, **conf}
    run = dag.test(logical_date=None, run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), states
    assert run.logical_date is None
    return run


def test_every_example_dag_is_covered(dagbag: Any) -> None:
    assert set(dagbag.dag_ids) == set(EXAMPLE_DAG_IDS) == set(PREPARE)


@pytest.mark.parametrize("dag_id", EXAMPLE_DAG_IDS)
def test_every_example_dag_runs_manually_without_a_logical_date(dagbag: Any, sim_conns: Any, dag_id: str) -> None:
    manual_run(dagbag.get_dag(dag_id), PREPARE[dag_id](sim_conns))


def test_the_nightly_export_sends_the_day_it_was_triggered(dagbag: Any, sim_conns: Any) -> None:
    run = manual_run(dagbag.get_dag("superoffice_nightly_export"), {})
    day = run.run_after.astimezone(timezone.utc).strftime("%Y-%m-%d")
    [started] = sim_conns.app_state.superoffice.by_state("All")
    assert started["ParameterObject"] == {"FromDate": day}
    assert started["Description"] == f"Nightly export for {day}"


def test_the_rules_cleanup_cuts_off_30_days_before_it_was_triggered(dagbag: Any, sim_conns: Any) -> None:
    run = manual_run(dagbag.get_dag("waylay_rules_cleanup"), _rules_cleanup(sim_conns))
    cutoff = int((run.run_after - timedelta(days=30)).timestamp() * 1000)
    [batch] = sim_conns.app_state.waylay.batches.batches.values()
    assert f"finishedBefore={cutoff}" in batch.description
    assert batch.item_ids == ["old"]


# --- rendering every templated field in a manual-run context ----------------------------------------


def manual_context(task: Any, conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template context of a manual run without a logical date, keyed as Airflow's task runner keys it.

    Airflow adds ``logical_date``, ``ds``, ``ts``, ``data_interval_*`` ... only when the run has a
    logical date; ``dag_run`` (``logical_date=None``, ``run_after`` set), ``params`` and ``macros`` are
    always there.
    """
    from airflow.sdk.api.datamodels._generated import DagRun
    from airflow.sdk.execution_time.context import MacrosAccessor

    now = datetime.now(timezone.utc)
    dag = task.dag
    params = copy.deepcopy(dag.params)
    params.update(conf or {})
    dag_run = DagRun.model_construct(
        dag_id=dag.dag_id, run_id=f"manual__{now.isoformat()}", logical_date=None, data_interval_start=None,
        data_interval_end=None, run_after=now, start_date=now, end_date=None, run_type="manual", state="running",
        conf=conf or {}, consumed_asset_events=[], partition_key=None,
    )
    return {"dag": dag, "task": task, "ti": None, "task_instance": None, "run_id": dag_run.run_id,
            "dag_run": dag_run, "params": params.validate(), "macros": MacrosAccessor()}


def _is_xcom_arg(value: Any) -> bool:
    """Whether ``value`` holds an upstream output (resolved from XCom at run time, not a template)."""
    from airflow.sdk.definitions.xcom_arg import XComArg

    if isinstance(value, XComArg):
        return True
    if isinstance(value, dict):
        return any(_is_xcom_arg(v) for v in value.values())
    if isinstance(value, list | tuple | set):
        return any(_is_xcom_arg(v) for v in value)
    return False


def render_all(task: Any, context: dict[str, Any]) -> dict[str, Any]:
    """Every templated field of ``task`` rendered in ``context`` with the DAG's (strict) Jinja environment."""
    env = task.get_template_env()
    rendered = {}
    for name in task.template_fields:
        value = getattr(task, name)
        if not _is_xcom_arg(value):
            rendered[name] = task.render_template(value, context, env)
    return rendered


#: Conf a manual run of each example DAG needs (the params without a usable default).
CONF: dict[str, dict[str, Any]] = {
    "waylay_plug_release": {"verify_job_id": "a-job"},
    "waylay_resources_bulk_delete": {"resource_ids": ["r"]},
}


@pytest.mark.parametrize("dag_id", EXAMPLE_DAG_IDS)
def test_every_templated_field_of_the_example_dags_renders_in_a_manual_run(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.get_dag(dag_id)
    for task in dag.tasks:
        if getattr(task, "_is_mapped", False):
            continue  # a mapped task's fields are rendered per map index; the manual run above runs it
        render_all(task, manual_context(task, CONF.get(dag_id)))


def readme_blocks() -> list[tuple[int, str]]:
    """(line, code) of every Python block of the README."""
    text = (ROOT / "README.md").read_text()
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in PYTHON_BLOCK.finditer(text)]


README_BLOCKS = readme_blocks()


def readme_tasks(code: str, line: int) -> Iterator[Any]:
    """The operators a README block defines; fragments run inside a DAG, with the imports they assume."""
    from airflow.sdk import DAG, BaseOperator, task

    import airflow_provider_batchops.operators.mammoth as mammoth
    import airflow_provider_batchops.operators.superoffice as superoffice
    import airflow_provider_batchops.operators.waylay as waylay

    namespace: dict[str, Any] = {"__name__": f"readme_{line}", "DAG": DAG, "task": task, "timedelta": timedelta,
                                 "datetime": datetime}
    for module in (waylay, mammoth, superoffice):
        namespace.update({name: getattr(module, name) for name in dir(module) if name.endswith("Operator")})
    with DAG(dag_id=f"readme_line_{line}", schedule=None) as fragment_dag:
        exec(compile(code, f"README.md:{line}", "exec"), namespace)
    dags = {fragment_dag.dag_id: fragment_dag}
    for value in namespace.values():
        if isinstance(value, BaseOperator) and value.has_dag():
            dags[value.dag.dag_id] = value.dag
    for dag in dags.values():
        yield from dag.tasks


def test_the_readme_has_dag_code_with_templates() -> None:
    assert any("{{" in code for _, code in README_BLOCKS)


@pytest.mark.parametrize(("line", "code"), README_BLOCKS, ids=[f"README.md:{n}" for n, _ in README_BLOCKS])
def test_every_templated_field_of_the_readme_dag_code_renders_in_a_manual_run(line: int, code: str) -> None:
    tasks = list(readme_tasks(code, line))
    assert tasks
    for task in tasks:
        render_all(task, manual_context(task))


def test_the_readme_cleanup_cuts_off_30_days_before_the_run() -> None:
    [(line, code)] = [(n, c) for n, c in README_BLOCKS if "RulesBatchDeleteOperator(" in c and "{{" in c]
    [delete] = [t for t in readme_tasks(code, line) if t.task_id == "delete_old_one_off_tasks"]
    context = manual_context(delete)
    cutoff = int(render_all(delete, context)["query"]["finished_before"])
    assert cutoff == int((context["dag_run"].run_after - timedelta(days=30)).timestamp() * 1000)


#: What the example DAGs and the README used before: each fails in a manual run without a logical date.
OLD_TEMPLATES = [
    "Nightly export for {{ ds }}",
    "{{ ds }}",
    "{{ (logical_date - macros.timedelta(days=30)).int_timestamp * 1000 }}",
    "{{ ((logical_date or dag_run.run_after) - macros.timedelta(days=params.retention_days)).int_timestamp * 1000 }}",
]


@pytest.mark.parametrize("template", OLD_TEMPLATES)
def test_the_templates_used_before_fail_in_a_manual_run_and_work_with_a_logical_date(template: str) -> None:
    from airflow.sdk import DAG, Param

    from airflow_provider_batchops.operators.superoffice import SuperOfficeBatchTaskOperator

    with DAG(dag_id="old_templates", schedule=None, params={"retention_days": Param(30, type="integer")}):
        export = SuperOfficeBatchTaskOperator(task_id="export", name="ExportContacts", description=template)
    context = manual_context(export)
    with pytest.raises(jinja2.UndefinedError, match="'(ds|logical_date)' is undefined"):
        render_all(export, context)
    import pendulum

    logical_date = pendulum.now("UTC")
    scheduled = {**context, "logical_date": logical_date, "ds": logical_date.strftime("%Y-%m-%d")}
    assert render_all(export, scheduled)["description"]

