"""SQL models: one `.sql` file per table, run by DuckDB, wrapped in a thin Dagster asset.

A file `models/<layer>/<name>.sql` becomes the asset `<layer>/<name>` and the table
`<layer>.<name>`. Its upstream assets are read from the SQL itself (every `raw.x`, `staging.y`,
`intermediate.z` or `marts.w` it mentions), so the lineage in the UI is what the SQL reads.

Layers: `staging` (one typed table per raw table), `intermediate` (per-source rules, one file per
source, e.g. `int_invoices__bitrix24`), `marts` (what people query: unions of the intermediate
models plus casts, and the cross-source logic).

Shared SQL functions live in `models/macros/*.sql` (DuckDB `CREATE OR REPLACE TEMP MACRO ...`)
and are loaded into the connection before any model runs.

The model's contract lives in its file, as the comment lines before the SQL:

    -- description: what the table is (one line; shown in the UI)
    -- key: invoice_key                       the primary key: unique and never null (checked)
    -- not_null: source, currency             columns that are never null (checked)
    -- references: counterparty_key -> marts.counterparties.counterparty_key   (checked; repeatable)
    -- columns:
    --   invoice_key      VARCHAR        source:source_id
    --   amount           DECIMAL(18,2)  invoice total incl. VAT
    --
    -- any free text (the rules, the why)

Each column line is the name, its DuckDB type and its meaning, separated by two or more spaces.
The column descriptions become the asset's `dagster/column_schema`; the key, not_null and
references lines become asset checks (checks/__init__.py: `contract_checks`); a test keeps the
declared columns and types equal to the built table's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MODELS_DIR = Path(__file__).parent
LAYERS = ("staging", "intermediate", "marts")
_REF = re.compile(r"\b(raw|staging|intermediate|marts)\.([a-z_][a-z0-9_]*)\b")
AS_OF_MODEL = ("marts", "data_as_of")  # the warehouse's as-of date (see that model)
_HEADER = re.compile(r"^--\s*(\w+)\s*:\s*(.*)$")
_COLUMN = re.compile(r"^--\s{2,}(\w+)\s+(\S(?:.*?\S)?)\s{2,}(\S.*)$")
_REFERENCE = re.compile(r"^(\w+)\s*->\s*(\w+)\.(\w+)\.(\w+)$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    meaning: str


@dataclass(frozen=True)
class Reference:
    column: str
    table: str  # "<layer>.<name>"
    ref_column: str


@dataclass(frozen=True)
class SqlModel:
    layer: str
    name: str
    path: Path
    sql: str
    description: str
    upstream: tuple[tuple[str, str], ...]
    columns: tuple[Column, ...] = ()
    key: str | None = None
    not_null: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    header: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def relative_path(self) -> str:
        """The file's path from the repository root, e.g. finance_pipeline/models/marts/x.sql."""
        return str(self.path.relative_to(MODELS_DIR.parents[1]))


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _header_lines(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.strip().startswith("--"):
            break
        lines.append(line.rstrip())
    return lines


def _split_names(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


def load_model(path: Path) -> SqlModel:
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    columns: list[Column] = []
    references: list[Reference] = []
    in_columns = False
    for line in _header_lines(text):
        column = _COLUMN.match(line) if in_columns else None
        if column:
            columns.append(Column(column.group(1), column.group(2), column.group(3).strip()))
            continue
        in_columns = False
        match = _HEADER.match(line.strip())
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2).strip()
        if key == "columns" and not value:
            in_columns = True
        elif key == "references":
            ref = _REFERENCE.match(value)
            if not ref:
                raise ValueError(f"{path}: '-- references: {value}' is not 'col -> layer.table.col'")
            references.append(
                Reference(ref.group(1), f"{ref.group(2)}.{ref.group(3)}", ref.group(4))
            )
        else:
            header[key] = value
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
        columns=tuple(columns),
        key=header.get("key") or None,
        not_null=_split_names(header.get("not_null", "")),
        references=tuple(references),
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
    """Models sorted so that each comes after every model it reads.

    Within that, `marts.data_as_of` comes first of its layer (it reads staging and intermediate
    only, and every other mart shows its date in its metadata), then a layer's models that read
    nothing of their own layer.
    """
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

    def reads_own_layer(key: tuple[str, str]) -> bool:
        return any(up[0] == key[0] and up in by_table for up in by_table[key].upstream)

    def rank(key: tuple[str, str]) -> tuple[int, bool, bool, str]:
        return (LAYERS.index(key[0]), key != AS_OF_MODEL, reads_own_layer(key), key[1])

    for key in sorted(by_table, key=rank):
        visit(key)
    return ordered
