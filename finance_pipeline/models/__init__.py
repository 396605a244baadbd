"""SQL models: one `.sql` file per table, run by DuckDB, wrapped in a thin Dagster asset.

A file `models/<layer>/<name>.sql` becomes the asset `<layer>/<name>` and the table
`<layer>.<name>`. Its upstream assets are read from the SQL itself (every `raw.x`, `staging.y`
or `marts.z` it mentions), so the lineage in the UI is always what the SQL really reads.

Shared SQL functions live in `models/macros/*.sql` (DuckDB `CREATE OR REPLACE TEMP MACRO ...`)
and are loaded into the connection before any model runs.

A model file may start with comment lines of the form `-- key: value`:
    -- description: what the table is, for the UI
    -- columns: name type description | name type description | ...   (optional)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MODELS_DIR = Path(__file__).parent
LAYERS = ("staging", "marts")
_REF = re.compile(r"\b(raw|staging|marts)\.([a-z_][a-z0-9_]*)\b")
_HEADER = re.compile(r"^--\s*(\w+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class SqlModel:
    layer: str
    name: str
    path: Path
    sql: str
    description: str
    upstream: tuple[tuple[str, str], ...]
    header: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def load_model(path: Path) -> SqlModel:
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if not line.strip().startswith("--"):
            break
        if match:
            header[match.group(1).lower()] = match.group(2).strip()
    layer = path.parent.name
    refs = sorted(
        {(m.group(1), m.group(2)) for m in _REF.finditer(_strip_comments(text))}
        - {(layer, path.stem)}
    )
    return SqlModel(
        layer=layer,
        name=path.stem,
        path=path,
        sql=text,
        description=header.get("description", f"{layer}.{path.stem}"),
        upstream=tuple(refs),
        header=header,
    )


def discover_models() -> list[SqlModel]:
    models = []
    for layer in LAYERS:
        for path in sorted((MODELS_DIR / layer).glob("*.sql")):
            models.append(load_model(path))
    return models


def macro_sql() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((MODELS_DIR / "macros").glob("*.sql"))]


def in_build_order(models: list[SqlModel]) -> list[SqlModel]:
    """Models sorted so that each comes after every model it reads."""
    by_table = {(m.layer, m.name): m for m in models}
    ordered: list[SqlModel] = []
    state: dict[tuple[str, str], str] = {}

    def visit(key: tuple[str, str]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            raise ValueError(f"models form a cycle through {key[0]}.{key[1]}")
        state[key] = "visiting"
        for up in by_table[key].upstream:
            if up in by_table:
                visit(up)
        state[key] = "done"
        ordered.append(by_table[key])

    for key in by_table:
        visit(key)
    return ordered
