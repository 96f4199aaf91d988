"""The suite's warning filters (pyproject.toml): a DeprecationWarning from our package fails the test."""

from __future__ import annotations

import warnings

import pytest

OWN = ["error::DeprecationWarning:airflow_provider_batchops(\\.|$)",
       # Airflow's DeprecatedImportWarning (a deprecated import path) is a FutureWarning
       "error::FutureWarning:airflow_provider_batchops(\\.|$)"]


def test_the_filter_is_configured_and_nothing_ignores_deprecations_wholesale(pytestconfig: pytest.Config) -> None:
    filters = pytestconfig.getini("filterwarnings")
    assert set(OWN) <= set(filters)
    for line in filters:
        action, message, category, module = [*line.split(":"), "", "", ""][:4]
        if action == "ignore":  # every ignore names one message and one module
            assert message and module and category, line


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])
@pytest.mark.parametrize("module", ["airflow_provider_batchops", "airflow_provider_batchops.core.hook",
                                    "airflow_provider_batchops.simulator.app"])
def test_a_deprecation_warning_attributed_to_the_package_is_an_error(module: str, category: type[Warning]) -> None:
    with pytest.raises(category, match="old API"):
        warnings.warn_explicit("old API", category, "x.py", 1, module=module)


def test_a_deprecation_warning_raised_in_package_code_is_an_error() -> None:
    # Code whose module is a package module calls warnings.warn as a deprecated API would.
    code = compile("import warnings\nwarnings.warn('old API', DeprecationWarning, stacklevel=1)\n", "m.py", "exec")
    with pytest.raises(DeprecationWarning, match="old API"):
        exec(code, {"__name__": "airflow_provider_batchops.operators.fake"})


@pytest.mark.parametrize("module", ["airflow_provider_batchops_other", "somewhere.airflow_provider_batchops"])
def test_other_modules_only_warn(module: str) -> None:
    with pytest.warns(DeprecationWarning, match="old API"):
        warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module=module)
