"""The report tests read the same sandbox warehouse as the model tests (built once per session)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "finance_pipeline_tests_models_conftest", Path(__file__).parents[1] / "models" / "conftest.py"
)
assert _spec and _spec.loader
_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_models)

model_sandbox = _models.model_sandbox
built_warehouse = _models.built_warehouse
world = _models.world
wh = _models.wh
