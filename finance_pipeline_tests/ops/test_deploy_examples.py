"""The instance and workspace examples under deploy/ load against Dagster's own schemas.

Class-based sections (run_launcher, compute_logs, ...) are checked for their shape (module,
class, config) and the documented module/class names; their `config:` bodies belong to
packages this project does not install (dagster-k8s, dagster-celery-k8s), so Dagster cannot
validate them here. Everything else, including the Postgres storage (whose schema ships with
dagster itself), is validated field by field, with every referenced environment variable set.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import Shape, process_config
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema
from dagster._core.workspace.config_schema import ensure_workspace_config

from finance_pipeline.config import load_settings
from finance_pipeline.warehouse.resource import WarehouseResource

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTANCE_EXAMPLES = sorted(p.name for p in DEPLOY.glob("dagster*.yaml"))
CLASS_SECTIONS = ("run_launcher", "run_coordinator", "compute_logs", "scheduler")


def _env_refs(node: Any) -> set[str]:
    """Every NAME in `{env: NAME}` anywhere in the YAML tree."""
    if isinstance(node, dict):
        found = {node["env"]} if set(node) == {"env"} else set()
        return found.union(*(_env_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_env_refs(v) for v in node))
    return set()


def _load_instance_config(tmp_path: Path, name: str) -> dict[str, Any]:
    """Load `name` as DAGSTER_HOME/dagster.yaml the way Dagster does, then resolve `{env: ...}`."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    shutil.copy(DEPLOY / name, home / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    # Dagster resolves environment variables when a section is used (e.g. when the Postgres
    # storage is built); process_config does the same resolution for the whole file now.
    resolved = process_config(Shape(dagster_instance_config_schema()), dict(config))
    if not resolved.success:
        raise ValueError("; ".join(error.message for error in resolved.errors or []))
    return dict(resolved.value)


def test_examples_exist() -> None:
    assert "dagster.local.yaml" in INSTANCE_EXAMPLES
    assert "dagster.postgres-k8s.yaml" in INSTANCE_EXAMPLES


@pytest.mark.parametrize("name", INSTANCE_EXAMPLES)
def test_instance_example_is_valid(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = yaml.safe_load((DEPLOY / name).read_text())
    for variable in _env_refs(raw):
        monkeypatch.setenv(variable, f"example-{variable.lower()}")
    config = _load_instance_config(tmp_path, name)
    for section in CLASS_SECTIONS:
        if section in config:
            assert set(config[section]) <= {"module", "class", "config"}
    # Pools: the SQL models' `duckdb_writer` pool gets a limit of 1 from default_limit.
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["concurrency"]["pools"]["granularity"] == "op"


def test_instance_example_fails_on_a_misspelled_field(tmp_path: Path) -> None:
    # The validation above really checks fields: a typo is caught.
    home = tmp_path / "home"
    home.mkdir()
    text = (DEPLOY / "dagster.local.yaml").read_text().replace("default_limit", "default_limt")
    (home / "dagster.yaml").write_text(text)
    with pytest.raises(Exception, match="default_limt"):
        dagster_instance_config(str(home))


def test_postgres_k8s_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "dagster.postgres-k8s.yaml"
    raw = yaml.safe_load((DEPLOY / name).read_text())
    expected_env = {
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_DB",
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
        "FINANCE_PIPELINE_IMAGE",
    }
    assert _env_refs(raw) == expected_env
    for variable in expected_env:
        monkeypatch.setenv(variable, f"example-{variable.lower()}")
    config = _load_instance_config(tmp_path, name)

    pg = config["storage"]["postgres"]["postgres_db"]
    assert pg["hostname"] == "example-dagster_pg_host"
    assert pg["password"] == "example-dagster_pg_password"

    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    launcher_config = launcher["config"]
    # The launcher's own config is dagster-k8s's to validate; its env reference keeps its shape.
    assert launcher_config["job_image"] == {"env": "FINANCE_PIPELINE_IMAGE"}
    for field in ("instance_config_map", "service_account_name", "job_namespace", "dagster_home"):
        assert isinstance(launcher_config[field], str) and launcher_config[field]

    # The run pods get the shared warehouse: a MotherDuck path the pipeline accepts as is.
    env = dict(item.split("=", 1) for item in launcher_config["env_vars"] if "=" in item)
    warehouse = env["FINANCE_WAREHOUSE"]
    assert warehouse.startswith("md:") and "token" not in warehouse
    settings = load_settings({"FINANCE_PIPELINE_MODE": "sandbox", "FINANCE_WAREHOUSE": warehouse})
    assert str(settings.warehouse_file) == warehouse
    resource = WarehouseResource(path=str(settings.warehouse_file))
    assert resource.exists()  # an md: path is remote: nothing to find on the local disk

    # Run-level limits: at most one run per schedule at a time.
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {
        "key": "dagster/schedule_name",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in limits


def test_postgres_example_needs_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_DB",
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FINANCE_PIPELINE_IMAGE", "image")
    with pytest.raises(Exception, match="DAGSTER_PG_"):
        _load_instance_config(tmp_path, "dagster.postgres-k8s.yaml")


def test_grpc_workspace_example(monkeypatch: pytest.MonkeyPatch) -> None:
    path = DEPLOY / "workspace.grpc.yaml"
    monkeypatch.setenv("FINANCE_CODE_SERVER_HOST", "finance-pipeline-code")
    config = ensure_workspace_config(yaml.safe_load(path.read_text()), str(path))
    (entry,) = config["load_from"]
    assert entry["grpc_server"]["host"] == "finance-pipeline-code"
    assert entry["grpc_server"]["location_name"] == "finance_pipeline"


def test_repo_workspace_is_valid() -> None:
    path = DEPLOY.parent / "workspace.yaml"
    config = ensure_workspace_config(yaml.safe_load(path.read_text()), str(path))
    (entry,) = config["load_from"]
    assert entry["python_module"]["module_name"] == "finance_pipeline.definitions"
