"""Packaging: the sdist and the wheel build, pass ``twine check``, carry what users need, and install.

``python -m build`` builds the sdist and then the wheel from the unpacked sdist (so a file missing
from the sdist breaks the wheel too). The wheel is then installed into a fresh virtual environment,
with Airflow and the other dependencies pinned to the versions of this test environment, and
``airflow providers list`` there must show the provider with its version. That install is the
slow part (about 40 s with a warm pip cache); it runs once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import airflow_provider_batchops
from airflow_provider_batchops.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "airflow_provider_batchops"
VERSION = airflow_provider_batchops.__version__
PIP_QUIET = ["--quiet", "--disable-pip-version-check", "--no-input"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this suite's Airflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(extra)
    return env


def run(args: list[str | Path], timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False,
                            **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], timeout=600, env=clean_env())
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="session")
def wheel_names(dists) -> set[str]:
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        return set(wheel.namelist())


def test_twine_check_passes(dists):
    result = run([sys.executable, "-m", "twine", "check", "--strict", dists["wheel"], dists["sdist"]], timeout=120)
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_version_comes_from_one_place(dists):
    """``__version__`` is the metadata's version, the provider's version and the changelog's newest."""
    assert dists["wheel"].name.startswith(f"airflow_provider_batchops-{VERSION}-")
    assert dists["sdist"].name == f"airflow_provider_batchops-{VERSION}.tar.gz"
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        metadata = wheel.read(f"airflow_provider_batchops-{VERSION}.dist-info/METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    assert get_provider_info()["versions"] == [VERSION]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = [line for line in changelog.splitlines() if line.startswith("## ")]
    assert headings and headings[0].startswith(f"## {VERSION}"), headings[:1]


def test_the_wheel_ships_every_module_the_typing_marker_and_no_tests(wheel_names):
    source = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    shipped = {n for n in wheel_names if n.endswith(".py")}
    assert source == shipped
    assert "airflow_provider_batchops/py.typed" in wheel_names
    assert {n for n in shipped if n.startswith("airflow_provider_batchops/simulator/")} >= {
        "airflow_provider_batchops/simulator/__main__.py", "airflow_provider_batchops/simulator/server.py"}
    assert not [n for n in wheel_names if n.startswith(("tests/", "docs/", "example_dags/", "bench/", "scripts/"))]


def test_the_wheel_declares_the_provider_entry_point_and_the_simulator_command(dists):
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        entry_points = wheel.read(f"airflow_provider_batchops-{VERSION}.dist-info/entry_points.txt").decode()
    assert "[apache_airflow_provider]\nprovider_info = airflow_provider_batchops.get_provider_info:get_provider_info" \
        in entry_points
    assert "batchops-simulator = airflow_provider_batchops.simulator.__main__:main" in entry_points


def test_the_sdist_carries_docs_examples_tests_and_changelog(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for needed in ("README.md", "CHANGELOG.md", "mkdocs.yml", "pyproject.toml", "airflow_provider_batchops/py.typed",
                   "docs/index.md", "docs/img/connection-waylay.png", "example_dags/waylay_rules_cleanup.py",
                   "docs/examples/waylay_plug_upgrade.py", "tests/conftest.py"):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.startswith((".venv", "site/"))]


def _constraints(path: Path) -> Path:
    """This environment's versions, so the fresh install resolves to what the suite runs on."""
    frozen = run([sys.executable, "-m", "pip", "freeze", "--exclude-editable", *PIP_QUIET], timeout=120).stdout
    pins = [line for line in frozen.splitlines()
            if "==" in line and not line.lower().startswith("airflow-provider-batchops")]
    path.write_text("\n".join(pins) + "\n")
    return path


def test_the_wheel_installs_in_a_fresh_venv_and_airflow_lists_it(dists, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=120)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", *PIP_QUIET, "-c", _constraints(tmp_path / "constraints.txt"),
         dists["wheel"]], timeout=600, env=clean_env())

    home = tmp_path / "airflow-home"
    home.mkdir()
    env = clean_env(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    listed = run([venv / "bin" / "airflow", "providers", "list", "--output", "json"], timeout=300, env=env).stdout
    providers = {p["package_name"]: p for p in json.loads(listed[listed.index("["):])}
    assert providers["airflow-provider-batchops"]["version"] == VERSION

    typed = run([python, "-c", "import pathlib, airflow_provider_batchops as p; "
                 "print(pathlib.Path(p.__file__).with_name('py.typed').is_file())"], timeout=120, env=env)
    assert typed.stdout.strip() == "True"
    run([venv / "bin" / "batchops-simulator", "--help"], timeout=120, env=env)
