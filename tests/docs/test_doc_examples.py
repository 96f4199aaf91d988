"""Every piece of code in the documentation is imported or run here.

- Files the pages include (``--8<-- "path"``, pymdownx.snippets) exist; the DAG files among them
  import with zero import errors; every file in ``docs/examples`` is included by some page.
- The DAGs of ``docs/examples`` and the ``example_dags`` the pages show run green with ``dag.test()``
  against the simulator, and their XCom return values have the keys of the sample values the pages
  show (``docs/examples/xcom/<dag>.<task>.json``). ``BATCHOPS_WRITE_DOC_SAMPLES=1`` rewrites the
  samples from the run instead of comparing.
- Inline fenced blocks: ``python`` blocks are executed (connections point at the simulator), ``json``
  blocks parse, and in ``bash`` blocks every ``AIRFLOW_CONN_*`` variable and every
  ``airflow connections add`` builds a working hook client of the documented type.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import set_connection

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
SAMPLES = EXAMPLES / "xcom"
WRITE_SAMPLES = os.environ.get("BATCHOPS_WRITE_DOC_SAMPLES") == "1"
SNIPPET = re.compile(r'^\s*-{2}8<-{2}\s+"([^"]+)"\s*$', re.MULTILINE)
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.MULTILINE | re.DOTALL)


# -- what the pages contain ---------------------------------------------------------------------
def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def included_files() -> dict[str, list[str]]:
    """Every file a page includes, relative to the repository root -> the pages including it."""
    found: dict[str, list[str]] = {}
    for page in pages():
        for path in SNIPPET.findall(page.read_text()):
            found.setdefault(path, []).append(page.name)
    return found


def fenced_blocks(lang: str) -> list[tuple[str, int, str]]:
    """(page, line, code) of every inline fenced block in ``lang`` (snippet includes left out)."""
    blocks = []
    for page in pages():
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match.group("lang") != lang:
                continue
            body = "\n".join(line[len(match.group("indent")):] for line in match.group("body").splitlines())
            if SNIPPET.search(body):
                assert not SNIPPET.sub("", body).strip(), f"{page.name}: mix of include and inline code"
                continue
            blocks.append((page.name, text[: match.start()].count("\n") + 1, body))
    return blocks


def included_dag_files() -> list[Path]:
    return sorted(ROOT / p for p in included_files() if p.endswith(".py"))


def test_the_pages_include_files_that_exist():
    included = included_files()
    assert included, "no page includes a file"
    missing = [p for p in included if not (ROOT / p).is_file()]
    assert not missing, f"included but missing: {missing}"


def test_every_docs_example_is_shown_on_a_page():
    shown = {ROOT / p for p in included_files()}
    orphans = [p.name for p in sorted(EXAMPLES.glob("*.py")) + sorted(SAMPLES.glob("*.json")) if p not in shown]
    assert not orphans, f"examples no page includes: {orphans}"


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert not [p.name for p in pages() if p.name not in nav]


def _dagbag(folder: Path):
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:  # pragma: no cover
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=str(folder))


@pytest.fixture(scope="module")
def dagbags(airflow_db) -> dict[str, Any]:
    """The DAGs of every folder the pages include DAG files from, by dag id."""
    folders = {p.parent for p in included_dag_files()}
    bags = [_dagbag(folder) for folder in sorted(folders)]
    errors = {path: err for bag in bags for path, err in bag.import_errors.items()}
    assert errors == {}, errors
    return {dag_id: bag.get_dag(dag_id) for bag in bags for dag_id in bag.dag_ids}


@pytest.fixture(scope="module")
def airflow_db():
    """A migrated database, and a DAG bundle per folder of included DAGs (``dag.test()`` needs them)."""
    import subprocess
    import sys

    bundles = [{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {}}]
    bundles += [{"name": f"docs-{folder.name}", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                 "kwargs": {"path": str(folder)}}
                for folder in sorted({p.parent for p in included_dag_files()})
                if folder != Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=os.environ.copy(), check=True,
                       capture_output=True, timeout=600)
        yield


def test_every_included_dag_file_imports_without_errors(dagbags):
    files = {str(p) for p in included_dag_files()}
    defined = {dag.fileloc for dag in dagbags.values()}
    assert files <= defined, f"included files that define no DAG: {sorted(files - defined)}"


# -- running the DAGs against the simulator --------------------------------------------------------
@pytest.fixture
def sim_conns(sim, monkeypatch):
    """``waylay_default``, ``mammoth_default`` and ``superoffice_default`` pointing at the simulator."""
    from airflow_provider_batchops.simulator import MAMMOTH_API_KEY, MAMMOTH_API_SECRET, SIM_API_KEY, SIM_API_SECRET
    from airflow_provider_batchops.simulator.superoffice import SO_ACCESS_TOKEN

    set_connection(monkeypatch, "waylay_default", host=sim.url, login=SIM_API_KEY, password=SIM_API_SECRET)
    set_connection(monkeypatch, "mammoth_default", conn_type="mammoth", host=f"{sim.url}/api/v2",
                   login=MAMMOTH_API_KEY, password=MAMMOTH_API_SECRET)
    set_connection(monkeypatch, "superoffice_default", conn_type="superoffice", host=f"{sim.url}/Cust12345",
                   password=SO_ACCESS_TOKEN)
    sim.client.configure(batch_delay=0.3, job_step_delay=0.2, so_step_delay=0.1, mammoth_job_delay=0.3)
    return sim


def quick(dag, seconds: float = 0.2):
    """The DAG with its waits shortened for the test (the pages show realistic intervals)."""
    for task in dag.tasks:
        for name in ("poll_interval", "poke_interval"):
            if isinstance(getattr(task, name, None), (int, float)):
                setattr(task, name, seconds)
    return dag


def run_dag(dag, **conf: Any):
    if "poll_interval" in dag.params:  # the example_dags take their poll interval from a param
        conf.setdefault("poll_interval", 0.2)
    run = quick(dag).test(run_conf=conf or None)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), states
    return run


def return_values(run) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.dag_id == run.dag_id,
                                                       XComModel.run_id == run.run_id,
                                                       XComModel.key == "return_value")).all()
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def shape(value: Any) -> Any:
    """The keys that matter: a dict's keys, and for a list of dicts the keys of its first item."""
    if isinstance(value, dict):
        return sorted(value)
    if isinstance(value, list):
        return ["list", shape(value[0]) if value else None]
    return type(value).__name__


def shorten(value: Any, keep: int = 3) -> Any:
    """A sample fit for a page: lists cut to their first ``keep`` items."""
    if isinstance(value, dict):
        return {k: shorten(v, keep) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v, keep) for v in value[:keep]]
    return value


def check_samples(run, values: dict[str, Any], tasks: list[str]) -> None:
    """The documented sample of each task's return value has the keys of the real one."""
    for task_id in tasks:
        assert task_id in values, f"{task_id} returned nothing"
        sample = SAMPLES / f"{run.dag_id}.{task_id}.json"
        if WRITE_SAMPLES:
            sample.write_text(json.dumps(shorten(values[task_id]), indent=2, default=str) + "\n")
            continue
        assert sample.is_file(), f"no documented sample {sample.name}"
        documented = json.loads(sample.read_text())
        actual = values[task_id]
        assert shape(documented) == shape(actual), f"{sample.name} differs from the return value: {actual!r}"
        if isinstance(actual, dict):
            for key, item in actual.items():
                if isinstance(item, list) and item and isinstance(item[0], dict):
                    assert shape(documented[key]) == shape(item), f"{sample.name}: items of {key!r}"


def test_waylay_plug_upgrade(dagbags, sim_conns):
    run = run_dag(dagbags["waylay_plug_upgrade"], plug="mySensor", to_version="2.0.1")
    values = return_values(run)
    assert isinstance(values["start_upgrade"], str)  # the batch id, as wait_for_completion=False returns it
    assert values["wait_for_upgrade"]["batch_id"] == values["start_upgrade"]
    assert values["wait_for_upgrade"]["action"] == "updatePlugins"
    assert values["tag_upgraded_tasks"]["action"] == "updateProperties"
    using = [t for t in sim_conns.client.tasks() if any(
        p.startswith("mySensor:") for p in t.get("plugins", []))]
    assert using, "the simulator's seed has tasks with the plug"
    assert all("mySensor:2.0.1" in t["plugins"] and t["tags"].get("plugVersion") == "2.0.1" for t in using)
    assert shape(values["wait_for_upgrade"]) == shape(values["tag_upgraded_tasks"])  # "the same summary"
    check_samples(run, values, ["tag_upgraded_tasks"])


def test_waylay_registry_builds(dagbags, sim_conns):
    for version in ("1.4.0", "1.4.1"):
        for job_type in ("build", "deploy"):
            sim_conns.client.create_job(type=job_type, function={"functionType": "plugs", "name": "temperatureAlarm",
                                                                 "version": version})
    sim_conns.client.create_job(type="build", function={"functionType": "plugs", "name": "otherPlug", "version": "1.0.0"})

    run = run_dag(dagbags["waylay_registry_builds"], plug="temperatureAlarm")

    summary = return_values(run)["wait_for_builds"]
    assert summary["jobs"] == 4 and summary["states"] == {"completed": 4}
    check_samples(run, return_values(run), ["wait_for_builds"])


def test_mammoth_append_batch(dagbags, sim_conns):
    before = sim_conns.client.mammoth_dataset(4, 1020, 3453)["batches"]

    run = run_dag(dagbags["mammoth_append_batch"])

    values = return_values(run)
    after = sim_conns.client.mammoth_dataset(4, 1020, 3453)["batches"]
    assert len(after) == len(before) + 1  # the validation created nothing, the append one batch
    assert values["new_batch_id"] in {b["id"] for b in after} - {b["id"] for b in before}
    assert values["check_mapping"]["job_ids"] == [] and values["check_mapping"]["validate_only"] is True
    check_samples(run, values, ["check_mapping", "append"])


def test_mammoth_rollback_import(dagbags, sim_conns):
    def batches() -> dict[int, str]:
        listed = sim_conns.client.mammoth_dataset(4, 1020, 3453)
        return {b["id"]: b["state"] for b in listed["batches"]}

    states = batches()
    active = sorted(i for i, s in states.items() if s == "active")
    suspended = sorted(i for i, s in states.items() if s == "suspended")
    bad, previous = active[-2:], suspended[:1]

    run = run_dag(dagbags["mammoth_rollback_import"], bad_batch_ids=bad, previous_batch_ids=previous)

    after = batches()
    assert not set(bad) & set(after)
    assert after[previous[0]] == "active"
    values = return_values(run)
    assert values["delete_bad_batches"] == values["wait_for_delete"]["job_ids"]
    check_samples(run, values, ["suspend_bad_restore_previous", "wait_for_delete"])


def test_superoffice_import_watch(dagbags, sim_conns):
    run = run_dag(dagbags["superoffice_import_watch"])

    values = return_values(run)
    assert isinstance(values["start_import"], int)
    assert values["wait_for_import"]["state"] == "Succeeded"
    assert values["wait_for_import"]["batch_task_id"] == values["start_import"]
    check_samples(run, values, ["wait_for_import"])


def test_example_dags_return_what_the_pages_show(dagbags, sim_conns):
    """The return values of the example DAGs the pages include (their behaviour: tests/dags)."""
    ids = [f"site7-sensor-{n:04d}" for n in range(1200)]
    sim_conns.client.put_resources([{"id": i, "name": i, "resourceTypeId": "sensor"} for i in ids]
             + [{"id": "site8-gateway", "name": "gw", "resourceTypeId": "sensor", "parentId": ids[0]}])
    run = run_dag(dagbags["waylay_resources_bulk_delete"], resource_ids=ids)
    check_samples(run, return_values(run), ["delete_resources"])

    run = run_dag(dagbags["waylay_rules_cleanup"])
    check_samples(run, return_values(run), ["preview_old_one_off_tasks", "delete_old_one_off_tasks"])

    job = sim_conns.client.create_job(type="verify", children=True,
        function={"functionType": "plugs", "name": "temperatureAlarm", "version": "1.4.0"})
    run = run_dag(dagbags["waylay_plug_release"], verify_job_id=job["id"])
    check_samples(run, return_values(run), ["wait_for_verify_job"])

    run = run_dag(dagbags["mammoth_batch_cleanup"])
    check_samples(run, return_values(run), ["list_old_batches", "delete_old_batches"])

    run = run_dag(dagbags["superoffice_nightly_export"])
    check_samples(run, return_values(run), ["export_contacts"])


# -- inline code ------------------------------------------------------------------------------------
PYTHON_BLOCKS = fenced_blocks("python")


def test_there_is_inline_python_to_check():
    assert PYTHON_BLOCKS


@pytest.mark.parametrize(("page", "line", "code"), PYTHON_BLOCKS, ids=[f"{p}:{n}" for p, n, _ in PYTHON_BLOCKS])
def test_inline_python_runs(page, line, code, sim_conns):
    namespace: dict[str, Any] = {"__name__": f"docs_{page}_{line}"}
    exec(compile(code, f"docs/{page}:{line}", "exec"), namespace)


def test_json_on_the_pages_parses():
    """Inline JSON blocks and the JSON files the pages include."""
    for page, line, code in fenced_blocks("json"):
        try:
            json.loads(code)
        except ValueError as exc:
            raise AssertionError(f"docs/{page}:{line}: {exc}") from None
    files = [ROOT / p for p in included_files() if p.endswith(".json")]
    assert files
    for path in files:
        assert isinstance(json.loads(path.read_text()), (dict, list, str, int)), path.name


def _commands(code: str) -> list[str]:
    """Shell commands of a block, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _conn_examples() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(page, conn id, conn type, fields) of every connection a bash block defines."""
    found = []
    for page, _line, code in fenced_blocks("bash"):
        for command in _commands(code):
            words = shlex.split(command, comments=True)
            if words[:1] == ["export"] and words[1].startswith("AIRFLOW_CONN_"):
                name, _, value = words[1].partition("=")
                data = json.loads(value)
                conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
                found.append((page, conn_id, data["conn_type"], data))
            elif words[:3] == ["airflow", "connections", "add"]:
                conn_id, options = words[3], iter(words[4:])
                data = {}
                for option in options:
                    assert option.startswith("--conn-"), f"{page}: unexpected {option!r}"
                    key, _, value = option.partition("=")
                    data[key.removeprefix("--conn-").replace("-", "_")] = value or next(options)
                data["extra"] = json.loads(data.get("extra", "{}"))
                found.append((page, conn_id, data.pop("type"), data))
    return found


CONN_EXAMPLES = _conn_examples()


def test_the_pages_show_a_connection_of_every_type():
    assert {c[2] for c in CONN_EXAMPLES} >= {"waylay", "mammoth", "superoffice"}


@pytest.mark.parametrize(("page", "conn_id", "conn_type", "fields"), CONN_EXAMPLES,
                         ids=[f"{c[0]}:{c[1]}:{n}" for n, c in enumerate(CONN_EXAMPLES)])
def test_documented_connections_build_a_client(page, conn_id, conn_type, fields, monkeypatch):
    from airflow_provider_batchops.hooks.mammoth import MammothHook
    from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
    from airflow_provider_batchops.hooks.waylay import WaylayHook

    hooks = {"waylay": WaylayHook, "mammoth": MammothHook, "superoffice": SuperOfficeHook}
    data = {k: v for k, v in fields.items() if k != "conn_type"}
    set_connection(monkeypatch, conn_id, conn_type=conn_type, **data)
    hook = hooks[conn_type](conn_id)
    client = hook.client  # reads the connection and checks every field; no request is sent
    assert client.base_url.startswith(("http://", "https://"))


# -- the connection sections against the code --------------------------------------------------------
SERVICE_PAGES = {"waylay": "waylay.md", "mammoth": "mammoth.md", "superoffice": "superoffice.md"}


def _documented_extras(page: str) -> set[str]:
    """The names in the first column of the page's ``| extra | meaning |`` table."""
    text = (DOCS / page).read_text()
    table = text[text.index("| extra | meaning |"):]
    rows = table.split("\n\n", 1)[0].splitlines()[2:]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def _extras_read_by(conn_type: str) -> set[str]:
    import importlib
    import inspect

    import airflow_provider_batchops.core.hook as core_hook

    module = importlib.import_module(f"airflow_provider_batchops.hooks.{conn_type}")
    source = inspect.getsource(module) + inspect.getsource(core_hook)
    found = set(re.findall(r"extras(?:\.get\(|\[)\"(\w+)\"", source))
    return found | set(getattr(module, "_HEADER_EXTRAS", {}))


@pytest.mark.parametrize("conn_type", sorted(SERVICE_PAGES))
def test_the_extras_tables_list_exactly_what_the_hooks_read(conn_type):
    assert _documented_extras(SERVICE_PAGES[conn_type]) == _extras_read_by(conn_type)


@pytest.mark.parametrize("conn_type", sorted(SERVICE_PAGES))
def test_the_field_tables_use_the_form_labels(conn_type):
    from airflow_provider_batchops.get_provider_info import CONNECTION_FORMS

    text = (DOCS / SERVICE_PAGES[conn_type]).read_text()
    for field, label in CONNECTION_FORMS[conn_type]["relabeling"].items():
        assert f"| {label} (`{field}`) |" in text, f"{conn_type}: {label} ({field})"
    assert f"](img/connection-{conn_type}.png)" in text
    assert (DOCS / "img" / f"connection-{conn_type}.png").is_file()


@pytest.mark.parametrize(("page", "conn_id", "conn_type", "fields"), CONN_EXAMPLES,
                         ids=[f"{c[0]}:{c[1]}:{n}" for n, c in enumerate(CONN_EXAMPLES)])
def test_documented_connections_use_documented_extras(page, conn_id, conn_type, fields):
    assert set(fields.get("extra") or {}) <= _documented_extras(SERVICE_PAGES[conn_type])


@pytest.mark.parametrize("conn_type", sorted(SERVICE_PAGES))
def test_the_test_button_works_against_the_simulator(conn_type, sim_conns):
    """The pages say what *Test* does; it answers True against the simulator."""
    from airflow_provider_batchops.hooks.mammoth import MammothHook
    from airflow_provider_batchops.hooks.superoffice import SuperOfficeHook
    from airflow_provider_batchops.hooks.waylay import WaylayHook

    hook = {"waylay": WaylayHook, "mammoth": MammothHook, "superoffice": SuperOfficeHook}[conn_type]()
    ok, message = hook.test_connection()
    assert ok, message
