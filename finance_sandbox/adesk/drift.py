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
    if kind == "transaction":
        _drift_transaction(out, roll)
    return out


def _drift_transaction(out: dict[str, Any], roll: int) -> None:
    """Names the vendor spells differently across its docs, and transfer links some answers
    leave out: the v2 operation spells `businessUnit` where the v1 object says `business_unit`
    (adesk-api.md l.1260 vs l.1103); a transfer leg may name its transfer only through its
    other leg (`pairedTransactionId`, l.1255) or only through `transferId` (l.1254)."""
    if roll in (1, 3) and "business_unit" in out:
        out["businessUnit"] = out.pop("business_unit")
    if out.get("transferId") is not None:
        if roll == 0:
            out["transferId"] = None
        elif roll == 2:
            out["pairedTransactionId"] = None
            out["pairTransferTransaction"] = None
