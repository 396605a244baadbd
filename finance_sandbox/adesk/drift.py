"""Drift (FaultPlan.drift): the API evolving under the pipeline."""

from __future__ import annotations

import zlib
from typing import Any

# --- drift (FaultPlan.drift): the API evolving under the pipeline -----------------------------

# Per entity: (optional field that may disappear, field whose number may arrive as a string,
# field that may turn null). Ids and required fields are never touched.
_DRIFT_FIELDS: dict[str, tuple[str, str, str]] = {
    "transaction": ("dateFormatted", "type", "description"),
    "category": ("isSystem", "kind", "group"),
    "project": ("planIncome", "profitability", "description"),
    "project_category": ("name", "id", "name"),
    "bank_account": ("initialAmountDate", "amount", "bankName"),
    "legal_entity": ("vat_rates", "id", "kpp"),
    "contractor": ("balance", "balance", "email"),
    "requisite": ("website", "id", "kpp"),
    "commitment": ("dateFormatted", "vatPercent", "description"),
    "product": ("description", "type", "sku"),
    "unit": ("fractional", "id", "code"),
    "tag": ("color", "id", "color"),
}


def drift(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """A changed API: an unknown field appears, an optional one goes, a number becomes a
    string, a value becomes null. Which of these hit a record is stable per record id."""
    optional, numeric, nullable = _DRIFT_FIELDS[kind]
    roll = zlib.crc32(f"{kind}:{record.get('id')}".encode()) % 4
    out = dict(record)
    out["externalId"] = None if roll % 2 else f"ext-{record.get('id')}"  # unknown new field
    if roll == 0 and optional in out and optional != "id":
        del out[optional]
    if roll == 1 and numeric != "id" and isinstance(out.get(numeric), (int, float)):
        out[numeric] = str(out[numeric])
    if roll == 2 and nullable != "id" and nullable in out:
        out[nullable] = None
    return out
