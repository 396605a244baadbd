"""The entities Bitrix24 lists: their fields and how each record is rendered."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finance_sandbox.bitrix24.filters import (
    DATE,
    DT,
    INT,
    LIST,
    MULTI,
    NUM,
    STR,
    YN,
    Field,
    FieldSet,
    iso,
    iso_date,
    money_str,
    number,
)
from finance_sandbox.bitrix24.protocol import INVOICE_ENTITY_TYPE_ID, SMART_INVOICE_OWNER_TYPE
from finance_sandbox.world.bitrix24_portal import category_of, contact_id_of, portal_stage

# ---------------------------------------------------------------------------------------------
# Entities
# ---------------------------------------------------------------------------------------------


@dataclass
class View:
    """How one World table looks through one REST method."""

    name: str
    table: Callable[[], dict[int, Any]]
    fields: dict[str, Field]
    id_field: str
    render: Callable[[Any, list[str] | None, bool], dict[str, Any]]


def _fields(*items: Field) -> dict[str, Field]:
    return {f.name: f for f in items}


def _drift_for(record_id: int) -> int:
    return int(hashlib.sha256(str(record_id).encode()).hexdigest()[:4], 16) % 4


# --- smart invoices (crm.item.list, entityTypeId 31) ----------------------------------------

# Stage, funnel and client as the portal shows them (world/bitrix24_portal.py): the stage of the
# invoice's own funnel (`DT31_7:UC_K3M9QX`), its semantics (`stageSemanticId` P/S/F,
# crm-item-get.md), and a contact for invoices issued to a person (universal/invoice.md: one
# `companyId`, contacts in `contactId`/`contactIds`; 0 and [] when none).
INVOICE_FIELDS = FieldSet(_fields(
    Field("id", INT, lambda r: r.id),
    Field("xmlId", STR, lambda r: None),
    Field("title", STR, lambda r: r.title),
    Field("createdBy", INT, lambda r: r.assigned_by_id),
    Field("updatedBy", INT, lambda r: r.assigned_by_id),
    Field("movedBy", INT, lambda r: r.assigned_by_id),
    Field("createdTime", DT, lambda r: r.created_time),
    Field("updatedTime", DT, lambda r: r.updated_time),
    Field("movedTime", DT, lambda r: r.moved_time),
    Field("categoryId", INT, lambda r: category_of(r.id)),
    Field("opened", YN, lambda r: "Y"),
    Field("stageId", STR, lambda r: portal_stage(r).status_id),
    Field("stageSemanticId", STR, lambda r: portal_stage(r).semantics or "P"),
    Field("previousStageId", STR, lambda r: None),
    Field("begindate", DATE, lambda r: r.begindate),
    Field("closedate", DATE, lambda r: r.closedate),
    Field("companyId", INT, lambda r: r.company_id or 0),
    Field("contactId", INT, lambda r: contact_id_of(r)),
    Field("opportunity", NUM, lambda r: r.opportunity),
    Field("isManualOpportunity", YN, lambda r: "Y" if r.is_manual_opportunity else "N"),
    Field("taxValue", NUM, lambda r: r.tax_value),
    Field("currencyId", STR, lambda r: r.currency_id),
    Field("opportunityAccount", NUM, lambda r: r.opportunity),
    Field("taxValueAccount", NUM, lambda r: r.tax_value),
    Field("accountCurrencyId", STR, lambda r: r.currency_id),
    Field("mycompanyId", INT, lambda r: 0),
    Field("sourceId", STR, lambda r: None),
    Field("sourceDescription", STR, lambda r: None),
    Field("webformId", INT, lambda r: 0),
    Field("assignedById", INT, lambda r: r.assigned_by_id),
    Field("lastActivityBy", INT, lambda r: r.assigned_by_id),
    Field("lastActivityTime", DT, lambda r: r.updated_time),
    Field("parentId2", INT, lambda r: r.deal_id),
    Field("accountNumber", STR, lambda r: r.account_number),
    Field("comments", STR, lambda r: None),
    Field("utmSource", STR, lambda r: None),
    Field("utmMedium", STR, lambda r: None),
    Field("utmCampaign", STR, lambda r: None),
    Field("utmContent", STR, lambda r: None),
    Field("utmTerm", STR, lambda r: None),
    Field("observers", LIST, lambda r: [], filterable=True, sortable=False),
    Field("contactIds", LIST, lambda r: [c] if (c := contact_id_of(r)) else [], sortable=False),
    Field("entityTypeId", INT, lambda r: INVOICE_ENTITY_TYPE_ID),
), any_case=True)


_CONVERT: dict[str, Callable[[Any], Any] | None] = {DT: iso, DATE: iso_date, NUM: number}


def _renderer(fields: dict[str, Field]) -> list[tuple[str, Callable[[Any], Any], Any]]:
    return [(n, f.get, _CONVERT.get(f.kind)) for n, f in fields.items()]


def _render_all(plan: list[tuple[str, Callable[[Any], Any], Any]], rec: Any) -> dict[str, Any]:
    out = {}
    for name, get, convert in plan:
        value = get(rec)
        out[name] = convert(value) if convert is not None and value is not None else value
    return out


def render_invoice(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    plan = _INVOICE_PLAN
    if select is not None and "*" not in select:
        # UPPER_CASE names select the same fields (crm.item.* converts them); unknown names are
        # ignored, as `select` is documented to hold "only field names or '*'".
        wanted = {INVOICE_FIELDS.canonical(name) or name for name in select} | {"id"}
        plan = [step for step in plan if step[0] in wanted]
    item = _render_all(plan, rec)
    if drift:
        variant = _drift_for(rec.id)
        item["ufCrm_SMART_INVOICE_1731586310"] = None if variant else "Договор поставки"
        if "opportunity" in item and variant in (0, 1):
            item["opportunity"] = f"{rec.opportunity:.2f}"  # a number sent as a string
        if "comments" in item and variant in (1, 2):
            del item["comments"]  # an optional field left out
        if "closedate" in item and variant == 3:
            item["closedate"] = None  # null where a value was
    return item


# --- product rows (crm.item.productrow.list) ------------------------------------------------

ROW_FIELDS = _fields(
    Field("id", INT, lambda r: r.id),
    Field("ownerId", INT, lambda r: r.owner_id),
    Field("ownerType", STR, lambda r: SMART_INVOICE_OWNER_TYPE),
    Field("productId", INT, lambda r: r.product_id),
    Field("productName", STR, lambda r: r.product_name, filterable=False, sortable=False),
    Field("price", NUM, lambda r: r.price, filterable=False, sortable=False),
    Field("priceAccount", NUM, lambda r: r.price, filterable=False, sortable=False),
    Field("priceExclusive", NUM, lambda r: r.price_exclusive, filterable=False, sortable=False),
    Field("priceNetto", NUM, lambda r: r.price_netto, filterable=False, sortable=False),
    Field("priceBrutto", NUM, lambda r: r.price_brutto, filterable=False, sortable=False),
    Field("quantity", NUM, lambda r: r.quantity, filterable=False, sortable=False),
    Field("discountTypeId", INT, lambda r: r.discount_type_id, filterable=False, sortable=False),
    Field("discountRate", NUM, lambda r: r.discount_rate, filterable=False, sortable=False),
    Field("discountSum", NUM, lambda r: r.discount_sum, filterable=False, sortable=False),
    Field("taxRate", NUM, lambda r: r.tax_rate, filterable=False, sortable=False),
    Field("taxIncluded", YN, lambda r: r.tax_included, filterable=False, sortable=False),
    Field("customized", YN, lambda r: "Y", filterable=False, sortable=False),
    Field("measureCode", INT, lambda r: r.measure_code, filterable=False, sortable=False),
    Field("measureName", STR, lambda r: r.measure_name, filterable=False, sortable=False),
    Field("sort", INT, lambda r: r.sort, filterable=False, sortable=True),
    Field("xmlId", STR, lambda r: None, filterable=False, sortable=False),
    Field("type", INT, lambda r: 1, filterable=False, sortable=False),
    Field("storeId", INT, lambda r: None, filterable=False, sortable=False),
)


def render_row(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    row = _render_all(_ROW_PLAN, rec)
    if drift:
        variant = _drift_for(rec.id)
        row["taxName"] = f"НДС {rec.tax_rate}%"
        if variant in (0, 1):
            row["quantity"] = str(number(rec.quantity))
        if variant == 2:
            del row["xmlId"]
        if variant == 3:
            row["measureName"] = None
    return row


_INVOICE_PLAN = _renderer(INVOICE_FIELDS)
_ROW_PLAN = _renderer(ROW_FIELDS)


# --- classic methods: companies, requisites, products --------------------------------------


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _fm_id(record_id: int, kind: str) -> str:
    return str(record_id * 2 + (1 if kind == "EMAIL" else 0) + 100_000)


COMPANY_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("COMPANY_TYPE", STR, lambda r: r.company_type),
    Field("TITLE", STR, lambda r: r.title),
    Field("LOGO", STR, lambda r: None),
    Field("LEAD_ID", INT, lambda r: None),
    Field("HAS_PHONE", YN, lambda r: "Y" if r.phone else "N"),
    Field("HAS_EMAIL", YN, lambda r: "Y" if r.email else "N"),
    Field("HAS_IMOL", YN, lambda r: "N"),
    Field("ASSIGNED_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("CREATED_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("MODIFY_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("BANKING_DETAILS", STR, lambda r: None),
    Field("INDUSTRY", STR, lambda r: "OTHER"),
    Field("REVENUE", NUM, lambda r: Decimal(0)),
    Field("CURRENCY_ID", STR, lambda r: "RUB"),
    Field("EMPLOYEES", STR, lambda r: None),
    Field("COMMENTS", STR, lambda r: None),
    Field("DATE_CREATE", DT, lambda r: r.created_time),
    Field("DATE_MODIFY", DT, lambda r: r.updated_time),
    Field("OPENED", YN, lambda r: "Y"),
    Field("IS_MY_COMPANY", YN, lambda r: "N"),
    Field("ORIGINATOR_ID", STR, lambda r: None),
    Field("ORIGIN_ID", STR, lambda r: None),
    Field("ORIGIN_VERSION", STR, lambda r: None),
    Field("ADDRESS", STR, lambda r: None),
    Field("ADDRESS_CITY", STR, lambda r: None),
    Field("ADDRESS_POSTAL_CODE", STR, lambda r: None),
    Field("ADDRESS_COUNTRY", STR, lambda r: None),
    Field("UTM_SOURCE", STR, lambda r: None),
    Field("UTM_MEDIUM", STR, lambda r: None),
    Field("UTM_CAMPAIGN", STR, lambda r: None),
    Field("UTM_CONTENT", STR, lambda r: None),
    Field("UTM_TERM", STR, lambda r: None),
    Field("LAST_ACTIVITY_BY", INT, lambda r: r.assigned_by_id),
    Field("LAST_ACTIVITY_TIME", DT, lambda r: r.updated_time),
    # multifields: filterable by value, returned only when selected by name
    Field("PHONE", MULTI, lambda r: [r.phone] if r.phone else [], sortable=False),
    Field("EMAIL", MULTI, lambda r: [r.email] if r.email else [], sortable=False),
    Field("WEB", MULTI, lambda r: [], sortable=False),
    Field("IM", MULTI, lambda r: [], sortable=False),
)
COMPANY_MULTI = ("PHONE", "EMAIL", "WEB", "IM")


def _classic_value(spec: Field, raw: Any) -> Any:
    if raw is None:
        return None
    if spec.kind == DT:
        return iso(raw)
    if spec.kind == DATE:
        return iso_date(raw)
    if spec.kind == NUM:
        return str(number(raw)) if spec.name not in ("PRICE",) else money_str(raw)
    return str(raw)


def _classic_names(all_fields: dict[str, Field], select: list[str] | None, multi: tuple) -> list:
    plain = [n for n in all_fields if n not in multi]
    if select is None or not select:
        return plain
    wanted = {s.upper() for s in select}
    names = plain if "*" in wanted else [n for n in plain if n in wanted]
    if "ID" not in names:
        names = ["ID", *names]
    return names + [n for n in multi if n in wanted]


def render_company(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _classic_names(COMPANY_FIELDS, select, COMPANY_MULTI):
        if name in COMPANY_MULTI:
            values = COMPANY_FIELDS[name].get(rec)
            if values:
                out[name] = [
                    {"ID": _fm_id(rec.id, name), "VALUE_TYPE": "WORK", "VALUE": v, "TYPE_ID": name}
                    for v in values
                ]
            continue
        spec = COMPANY_FIELDS[name]
        out[name] = _classic_value(spec, spec.get(rec))
    if drift:
        variant = _drift_for(rec.id)
        out["UF_CRM_1731586310"] = "" if variant else "VIP"
        if variant == 1:
            out.pop("COMMENTS", None)
        if variant == 2 and "INDUSTRY" in out:
            out["INDUSTRY"] = None
    return out


def _person(rec: Any) -> list[str]:
    return (rec.rq_name or "").split() if rec.preset_id == 2 else []


REQUISITE_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("ENTITY_TYPE_ID", INT, lambda r: r.entity_type_id),
    Field("ENTITY_ID", INT, lambda r: r.entity_id),
    Field("PRESET_ID", INT, lambda r: r.preset_id),
    Field("DATE_CREATE", DT, lambda r: r.created_time),
    # DATE_MODIFY has no default in RequisiteTable: it stays empty until the first edit.
    Field(
        "DATE_MODIFY", DT, lambda r: r.updated_time if r.updated_time != r.created_time else None
    ),
    Field("CREATED_BY_ID", INT, lambda r: 1),
    Field("MODIFY_BY_ID", INT, lambda r: 1 if r.updated_time != r.created_time else None),
    Field("NAME", STR, lambda r: r.name),
    Field("CODE", STR, lambda r: None),
    Field("XML_ID", STR, lambda r: None),
    Field("ORIGINATOR_ID", STR, lambda r: None),
    Field("ACTIVE", YN, lambda r: "Y"),
    Field("ADDRESS_ONLY", YN, lambda r: "N"),
    Field("SORT", INT, lambda r: 500),
    Field("RQ_NAME", STR, lambda r: r.rq_name),
    Field("RQ_FIRST_NAME", STR, lambda r: (_person(r)[1:2] or [None])[0]),
    Field("RQ_LAST_NAME", STR, lambda r: (_person(r)[0:1] or [None])[0]),
    Field("RQ_SECOND_NAME", STR, lambda r: (_person(r)[2:3] or [None])[0]),
    Field("RQ_COMPANY_ID", STR, lambda r: None),
    Field("RQ_COMPANY_NAME", STR, lambda r: r.rq_company_name),
    Field("RQ_COMPANY_FULL_NAME", STR, lambda r: r.rq_company_full_name),
    Field("RQ_COMPANY_REG_DATE", STR, lambda r: None),
    Field("RQ_DIRECTOR", STR, lambda r: None),
    Field("RQ_ACCOUNTANT", STR, lambda r: None),
    Field("RQ_CEO_NAME", STR, lambda r: None),
    Field("RQ_CEO_WORK_POS", STR, lambda r: None),
    Field("RQ_CONTACT", STR, lambda r: None),
    Field("RQ_EMAIL", STR, lambda r: None),
    Field("RQ_PHONE", STR, lambda r: None),
    Field("RQ_FAX", STR, lambda r: None),
    Field("RQ_IDENT_DOC", STR, lambda r: None),
    Field("RQ_INN", STR, lambda r: r.rq_inn),
    Field("RQ_KPP", STR, lambda r: r.rq_kpp),
    Field("RQ_USRLE", STR, lambda r: None),
    Field("RQ_IFNS", STR, lambda r: None),
    Field("RQ_OGRN", STR, lambda r: r.rq_ogrn),
    Field("RQ_OGRNIP", STR, lambda r: r.rq_ogrnip),
    Field("RQ_OKPO", STR, lambda r: None),
    Field("RQ_OKTMO", STR, lambda r: None),
    Field("RQ_OKVED", STR, lambda r: None),
    Field("RQ_VAT_PAYER", YN, lambda r: "N"),
    Field("RQ_VAT_ID", STR, lambda r: None),
    Field("RQ_RESIDENCE_COUNTRY", STR, lambda r: None),
    Field("RQ_BASE_DOC", STR, lambda r: None),
)


def render_requisite(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    out = {
        name: _classic_value(REQUISITE_FIELDS[name], REQUISITE_FIELDS[name].get(rec))
        for name in _classic_names(REQUISITE_FIELDS, select, ())
    }
    if drift:
        variant = _drift_for(rec.id)
        out["UF_CRM_1731586311"] = None
        if variant == 0:
            out.pop("RQ_BASE_DOC", None)
        if variant == 3 and "RQ_KPP" in out:
            out["RQ_KPP"] = None
    return out


# Catalog measures and VAT rates of the portal (ids are the portal's own).
MEASURE_IDS = {796: 5, 356: 11, 166: 9, 876: 13, 6: 1, 112: 3, 778: 15, 163: 7}
VAT_IDS = {0: 2, 10: 3, 20: 4}

PRODUCT_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("CATALOG_ID", INT, lambda r: 23),
    Field("PRICE", NUM, lambda r: r.price),
    Field("CURRENCY_ID", STR, lambda r: r.currency_id),
    Field("NAME", STR, lambda r: r.name),
    Field("CODE", STR, lambda r: None),
    Field("DESCRIPTION", STR, lambda r: None),
    Field("DESCRIPTION_TYPE", STR, lambda r: "text"),
    Field("ACTIVE", YN, lambda r: "Y"),
    Field("SECTION_ID", INT, lambda r: None),
    Field("SORT", INT, lambda r: 500),
    Field("VAT_ID", INT, lambda r: VAT_IDS.get(r.vat_rate, 1)),
    Field("VAT_INCLUDED", YN, lambda r: "Y" if r.vat_included else "N"),
    Field("MEASURE", INT, lambda r: MEASURE_IDS.get(r.measure_code, 5)),
    Field("XML_ID", STR, lambda r: r.article if r.article else str(r.id)),
    Field("PREVIEW_PICTURE", STR, lambda r: None),
    Field("DETAIL_PICTURE", STR, lambda r: None),
    Field("DATE_CREATE", DT, lambda r: r.created_time),
    Field("TIMESTAMP_X", DT, lambda r: r.updated_time),
    Field("MODIFIED_BY", INT, lambda r: 1),
    Field("CREATED_BY", INT, lambda r: 1),
)


def render_product(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    out = {
        name: _classic_value(PRODUCT_FIELDS[name], PRODUCT_FIELDS[name].get(rec))
        for name in _classic_names(PRODUCT_FIELDS, select, ())
    }
    if drift:
        variant = _drift_for(rec.id)
        out["PROPERTY_105"] = None if variant else {"valueId": "77", "value": "Да"}
        if variant == 2:
            out.pop("DESCRIPTION", None)
        if variant == 3 and "PRICE" in out:
            out["PRICE"] = float(rec.price)  # a string field sent as a number
    return out
