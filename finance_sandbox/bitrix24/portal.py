"""The portal around the smart invoices: funnels and their stages, contacts, legacy invoices,
and the catalog read with the current `catalog.*` methods.

Each shape follows the official REST docs (repository bitrix24/b24restdocs); the path is named
at each renderer. Records come from `finance_sandbox.world.bitrix24_portal`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from finance_sandbox.bitrix24.entities import MEASURE_IDS, VAT_IDS, View
from finance_sandbox.bitrix24.filters import (
    DT,
    INT,
    MULTI,
    NUM,
    STR,
    YN,
    Field,
    FieldSet,
    iso,
    money_str,
    number,
)
from finance_sandbox.bitrix24.protocol import MSK
from finance_sandbox.world.bitrix24_portal import (
    CATEGORIES,
    COMPANY_ENTITY_TYPE_ID,
    CONTACT_ENTITY_TYPE_ID,
    INVOICE_ENTITY_TYPE_ID,
    LEGACY_STATUSES,
    STAGES,
    PortalStage,
    contacts,
    legacy_invoices,
)

CATALOG_IBLOCK_ID = 23  # the CRM catalog's info block (crm.product.list shows it as CATALOG_ID)
BASE_PRICE_GROUP_ID = 1  # the base price type (catalog.price.list catalogGroupId)


def _fields(*items: Field) -> dict[str, Field]:
    return {f.name: f for f in items}


def _classic(spec: Field, raw: Any) -> Any:
    """Classic (UPPER_CASE) methods write every scalar as a string (crm.contact.list example)."""
    if raw is None:
        return None
    if spec.kind == DT:
        return iso(raw)
    if spec.kind == NUM:
        return money_str(raw)
    return str(raw)


def _pick(fields: dict[str, Field], select: list[str] | None, multi: tuple[str, ...] = ()) -> list:
    plain = [n for n in fields if n not in multi]
    if not select:
        return plain
    wanted = {s.upper() for s in select}
    names = plain if "*" in wanted else [n for n in plain if n in wanted]
    if "ID" not in names:
        names = ["ID", *names]
    return names + [n for n in multi if n in wanted]


# --- contacts: crm.contact.list (api-reference/crm/contacts/crm-contact-list.md) -------------
# UPPER_CASE fields, values as strings, `result` the array itself; PHONE/EMAIL multifields only
# when selected by name, like crm.company.list.

CONTACT_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("NAME", STR, lambda r: r.name),
    Field("SECOND_NAME", STR, lambda r: r.second_name),
    Field("LAST_NAME", STR, lambda r: r.last_name),
    Field("HONORIFIC", STR, lambda r: None),
    Field("TYPE_ID", STR, lambda r: "CLIENT"),
    Field("SOURCE_ID", STR, lambda r: None),
    Field("COMPANY_ID", INT, lambda r: None),
    Field("POST", STR, lambda r: None),
    Field("COMMENTS", STR, lambda r: None),
    Field("OPENED", YN, lambda r: "Y"),
    Field("EXPORT", YN, lambda r: "Y"),
    Field("HAS_PHONE", YN, lambda r: "Y" if r.phone else "N"),
    Field("HAS_EMAIL", YN, lambda r: "Y" if r.email else "N"),
    Field("ASSIGNED_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("CREATED_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("MODIFY_BY_ID", INT, lambda r: r.assigned_by_id),
    Field("DATE_CREATE", DT, lambda r: r.created_time),
    Field("DATE_MODIFY", DT, lambda r: r.updated_time),
    Field("PHONE", MULTI, lambda r: [r.phone] if r.phone else [], sortable=False),
    Field("EMAIL", MULTI, lambda r: [r.email] if r.email else [], sortable=False),
)
CONTACT_MULTI = ("PHONE", "EMAIL")


def render_contact(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _pick(CONTACT_FIELDS, select, CONTACT_MULTI):
        spec = CONTACT_FIELDS[name]
        if name in CONTACT_MULTI:
            values = spec.get(rec)
            if values:
                out[name] = [
                    {
                        "ID": str(rec.id * 2 + 200_000 + (name == "EMAIL")),
                        "VALUE_TYPE": "WORK",
                        "VALUE": v,
                        "TYPE_ID": name,
                    }
                    for v in values
                ]
            continue
        out[name] = _classic(spec, spec.get(rec))
    return out


# --- legacy invoices: crm.invoice.list / crm.invoice.get -------------------------------------
# api-reference/crm/outdated/invoice/crm-invoice-list.md ("Fields returned": note the currency
# field is CURRENCY) and crm-invoice-fields.md (PRODUCT_ROWS, only from crm.invoice.get: "The
# method does not return properties and line items of the invoice").

LEGACY_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("ACCOUNT_NUMBER", STR, lambda r: r.account_number),
    Field("ORDER_TOPIC", STR, lambda r: r.order_topic),
    Field("STATUS_ID", STR, lambda r: r.status_id),
    Field("PRICE", NUM, lambda r: r.price),
    Field("TAX_VALUE", NUM, lambda r: r.tax_value),
    Field("CURRENCY", STR, lambda r: r.currency),
    Field("PAYED", YN, lambda r: r.payed),
    Field("DATE_INSERT", DT, lambda r: r.date_insert),
    Field("DATE_UPDATE", DT, lambda r: r.date_update),
    Field("DATE_STATUS", DT, lambda r: r.date_status),
    Field("DATE_BILL", DT, lambda r: _midnight(r.date_bill)),
    Field("DATE_PAY_BEFORE", DT, lambda r: _midnight(r.date_pay_before)),
    Field("DATE_PAYED", DT, lambda r: r.date_payed),
    Field("PAY_VOUCHER_DATE", DT, lambda r: r.date_payed),
    Field("DATE_MARKED", DT, lambda r: r.date_status if r.status_id in ("D", "X") else None),
    Field("RESPONSIBLE_ID", INT, lambda r: r.responsible_id),
    Field("CREATED_BY", INT, lambda r: r.responsible_id),
    Field("PERSON_TYPE_ID", INT, lambda r: 1 if r.company_id else 2),
    Field("UF_COMPANY_ID", INT, lambda r: r.company_id),
    Field("UF_CONTACT_ID", INT, lambda r: r.contact_id),
    Field("UF_MYCOMPANY_ID", INT, lambda r: 0),
    Field("UF_DEAL_ID", INT, lambda r: 0),
    Field("UF_QUOTE_ID", INT, lambda r: 0),
    Field("IS_RECURRING", YN, lambda r: "N"),
    Field("LID", STR, lambda r: "s1"),
    Field("XML_ID", STR, lambda r: None),
    Field("COMMENTS", STR, lambda r: None),
)


def _midnight(day: Any) -> Any:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=MSK)


def render_legacy(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    return {
        name: _classic(LEGACY_FIELDS[name], LEGACY_FIELDS[name].get(rec))
        for name in _pick(LEGACY_FIELDS, select)
    }


def render_legacy_full(rec: Any) -> dict[str, Any]:
    """crm.invoice.get: every field plus PRODUCT_ROWS (crm-invoice-fields.md: ID, PRICE,
    DISCOUNT_PRICE, PRODUCT_ID, PRODUCT_NAME, VAT_RATE coefficient, VAT_INCLUDED, MEASURE_CODE,
    MEASURE_NAME, QUANTITY)."""
    out = render_legacy(rec, None, False)
    out["PRODUCT_ROWS"] = [
        {
            "ID": str(row.id),
            "PRICE": money_str(row.price),
            "DISCOUNT_PRICE": money_str(row.discount_price),
            "PRODUCT_ID": str(row.product_id),
            "PRODUCT_NAME": row.product_name,
            "QUANTITY": str(number(row.quantity)),
            "VAT_RATE": str(row.vat_rate),
            "VAT_INCLUDED": row.vat_included,
            "MEASURE_CODE": str(row.measure_code),
            "MEASURE_NAME": row.measure_name,
            "CUSTOMIZED": "Y",
        }
        for row in rec.rows
    ]
    return out


# --- stage dictionaries: crm.status.list, crm.invoice.status.list, crm.status.entity.types ---
# api-reference/crm/status/crm-status-list.md: ID, ENTITY_ID, STATUS_ID, NAME, NAME_INIT, SORT
# (strings), SYSTEM, CATEGORY_ID, COLOR, SEMANTICS ("S" | "F" | null), EXTRA {SEMANTICS, COLOR}.


def status_row(stage: PortalStage) -> dict[str, Any]:
    return {
        "ID": str(stage.id),
        "ENTITY_ID": stage.entity_id,
        "STATUS_ID": stage.status_id,
        "NAME": stage.name,
        "NAME_INIT": stage.name if stage.system else "",
        "SORT": str(stage.sort),
        "SYSTEM": "Y" if stage.system else "N",
        "CATEGORY_ID": None if stage.category_id is None else str(stage.category_id),
        "COLOR": stage.color,
        "SEMANTICS": stage.semantics,
        "EXTRA": {"SEMANTICS": stage.extra_semantics, "COLOR": stage.color},
    }


ALL_STATUSES: tuple[PortalStage, ...] = (*LEGACY_STATUSES, *STAGES)

STATUS_FIELDS = _fields(
    Field("ID", INT, lambda r: r.id),
    Field("ENTITY_ID", STR, lambda r: r.entity_id),
    Field("STATUS_ID", STR, lambda r: r.status_id),
    Field("NAME", STR, lambda r: r.name),
    Field("SORT", INT, lambda r: r.sort),
    Field("SYSTEM", YN, lambda r: "Y" if r.system else "N"),
    Field("CATEGORY_ID", INT, lambda r: r.category_id),
    Field("SEMANTICS", STR, lambda r: r.semantics),
)


def render_status(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    row = status_row(rec)
    if select and "*" not in select:
        wanted = {s.upper() for s in select} | {"ID"}
        row = {k: v for k, v in row.items() if k in wanted}
    return row


def entity_types() -> list[dict[str, Any]]:
    """crm.status.entity.types (crm-status-entity-types.md): one entry per dictionary; invoice
    funnels as `SMART_INVOICE_STAGE_<id>` with PREFIX `DT31_<id>` and CATEGORY_ID."""
    types: list[dict[str, Any]] = [
        {
            "ID": "STATUS",
            "NAME": "Стадии лида",
            "SEMANTIC_INFO": {
                "START_FIELD": "NEW",
                "FINAL_SUCCESS_FIELD": "CONVERTED",
                "FINAL_UNSUCCESS_FIELD": "JUNK",
                "FINAL_SORT": 0,
            },
            "ENTITY_TYPE_ID": 1,
        },
        {"ID": "SOURCE", "NAME": "Источники"},
        {
            "ID": "INVOICE_STATUS",
            "NAME": "Статусы счетов (старые)",
            "SEMANTIC_INFO": {
                "START_FIELD": "N",
                "FINAL_SUCCESS_FIELD": "P",
                "FINAL_UNSUCCESS_FIELD": "D",
                "FINAL_SORT": 0,
            },
            "ENTITY_TYPE_ID": 5,
        },
    ]
    for category in CATEGORIES:
        types.append(
            {
                "ID": f"SMART_INVOICE_STAGE_{category.id}",
                "NAME": f"Стадии счетов ({category.name})",
                "SEMANTIC_INFO": [],
                "PREFIX": f"DT31_{category.id}",
                "FIELD_ATTRIBUTE_SCOPE": f"category_{category.id}",
                "ENTITY_TYPE_ID": INVOICE_ENTITY_TYPE_ID,
                "IS_ENABLED": True,
                "CATEGORY_ID": category.id,
            }
        )
    return types


def categories_of(entity_type_id: int) -> list[dict[str, Any]]:
    """crm.category.list (universal/category/crm-category-list.md): camelCase, `isDefault` Y/N."""
    if entity_type_id != INVOICE_ENTITY_TYPE_ID:
        return []
    return [
        {
            "id": c.id,
            "name": c.name,
            "sort": c.sort,
            "entityTypeId": entity_type_id,
            "isDefault": "Y" if c.is_default else "N",
            "originId": "",
            "originatorId": "",
        }
        for c in CATEGORIES
    ]


# --- catalog: catalog.product.list / catalog.price.list / catalog.catalog.list ---------------
# api-reference/catalog/product/catalog-product-list.md: camelCase, `result.products`, select
# must hold id and iblockId, filter must hold iblockId; no prices ("use catalog.price.*").
# api-reference/catalog/price/catalog-price-list.md: `result.prices` (id, productId,
# catalogGroupId, price, currency).

CATALOG_PRODUCT_FIELDS = _fields(
    Field("id", INT, lambda r: r.id),
    Field("iblockId", INT, lambda r: CATALOG_IBLOCK_ID),
    Field("name", STR, lambda r: r.name),
    Field("active", YN, lambda r: "Y"),
    Field("available", YN, lambda r: "Y"),
    Field("code", STR, lambda r: None),
    Field("xmlId", STR, lambda r: r.article if r.article else str(r.id)),
    Field("iblockSectionId", INT, lambda r: None),
    Field("sort", INT, lambda r: 500),
    Field("type", INT, lambda r: 1),  # 1 = simple product
    Field("measure", INT, lambda r: MEASURE_IDS.get(r.measure_code, 5)),
    Field("vatId", INT, lambda r: VAT_IDS.get(r.vat_rate, 1)),
    Field("vatIncluded", YN, lambda r: "Y" if r.vat_included else "N"),
    Field("purchasingPrice", NUM, lambda r: None),
    Field("purchasingCurrency", STR, lambda r: None),
    Field("dateCreate", DT, lambda r: r.created_time),
    Field("timestampX", DT, lambda r: r.updated_time),
    Field("createdBy", INT, lambda r: 1),
    Field("modifiedBy", INT, lambda r: 1),
)


def render_catalog_product(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    names = (
        list(CATALOG_PRODUCT_FIELDS)
        if not select or "*" in select
        else [n for n in CATALOG_PRODUCT_FIELDS if n in set(select)]
    )
    out: dict[str, Any] = {}
    for name in names:
        spec = CATALOG_PRODUCT_FIELDS[name]
        value = spec.get(rec)
        if value is not None and spec.kind == DT:
            value = iso(value)
        elif value is not None and spec.kind == NUM:
            value = number(value)
        out[name] = value
    return out


PRICE_FIELDS = _fields(
    Field("id", INT, lambda r: r.id),
    Field("productId", INT, lambda r: r.id),
    Field("catalogGroupId", INT, lambda r: BASE_PRICE_GROUP_ID),
    Field("price", NUM, lambda r: r.price),
    Field("currency", STR, lambda r: r.currency_id),
    Field("timestampX", DT, lambda r: r.updated_time),
)


def render_price(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
    names = [n for n in PRICE_FIELDS if not select or "*" in select or n in set(select)]
    out: dict[str, Any] = {}
    for name in names:
        spec = PRICE_FIELDS[name]
        value = spec.get(rec)
        if value is not None:
            value = iso(value) if spec.kind == DT else number(value) if spec.kind == NUM else value
        out[name] = value
    return out


def catalogs() -> list[dict[str, Any]]:
    """catalog.catalog.list (api-reference/catalog/catalog/catalog-catalog-list.md)."""
    return [
        {
            "id": CATALOG_IBLOCK_ID,
            "iblockId": CATALOG_IBLOCK_ID,
            "iblockTypeId": "CRM_PRODUCT_CATALOG",
            "lid": "s1",
            "name": "Каталог товаров",
            "productIblockId": None,
            "skuPropertyId": None,
            "subscription": "N",
            "vatId": None,
        }
    ]


def price_types() -> list[dict[str, Any]]:
    """catalog.priceType.list (api-reference/catalog/price-type/catalog-price-type-list.md):
    `result.priceTypes`; the base price type is the one with `base` "Y"."""
    return [{"id": BASE_PRICE_GROUP_ID, "name": "BASE", "xmlId": "BASE", "base": "Y",
             "sort": 100}]


def portal_views(world: Any) -> dict[str, View]:
    statuses = {s.id: s for s in ALL_STATUSES}
    return {
        "contacts": View("contacts", lambda: contacts(world), CONTACT_FIELDS, "ID", render_contact),
        "legacy_invoices": View(
            "legacy_invoices", lambda: legacy_invoices(world), LEGACY_FIELDS, "ID", render_legacy
        ),
        "statuses": View("statuses", lambda: statuses, STATUS_FIELDS, "ID", render_status),
        "catalog_products": View(
            "catalog_products",
            lambda: world.bitrix_products,
            CATALOG_PRODUCT_FIELDS,
            "id",
            render_catalog_product,
        ),
        "prices": View("prices", lambda: world.bitrix_products, PRICE_FIELDS, "id", render_price),
    }


# --- contacts and companies through crm.item.list (entityTypeId 3 and 4) ---------------------
# The universal methods serve every CRM type (api-reference/crm/universal/index.md), in camelCase
# like the invoices: `id, name, lastName, secondName, typeId, companyId, …` for contacts,
# `id, title, companyTypeId, isMyCompany, …` for companies (crm-item-fields.md per type).

CONTACT_ITEM_FIELDS = FieldSet(
    _fields(
        Field("id", INT, lambda r: r.id),
        Field("name", STR, lambda r: r.name),
        Field("secondName", STR, lambda r: r.second_name),
        Field("lastName", STR, lambda r: r.last_name),
        Field("typeId", STR, lambda r: "CLIENT"),
        Field("companyId", INT, lambda r: 0),
        Field("opened", YN, lambda r: "Y"),
        Field("assignedById", INT, lambda r: r.assigned_by_id),
        Field("createdBy", INT, lambda r: r.assigned_by_id),
        Field("updatedBy", INT, lambda r: r.assigned_by_id),
        Field("createdTime", DT, lambda r: r.created_time),
        Field("updatedTime", DT, lambda r: r.updated_time),
        Field("entityTypeId", INT, lambda r: CONTACT_ENTITY_TYPE_ID),
    ),
    any_case=True,
)

COMPANY_ITEM_FIELDS = FieldSet(
    _fields(
        Field("id", INT, lambda r: r.id),
        Field("title", STR, lambda r: r.title),
        Field("companyTypeId", STR, lambda r: r.company_type),
        Field("isMyCompany", YN, lambda r: "N"),
        Field("opened", YN, lambda r: "Y"),
        Field("assignedById", INT, lambda r: r.assigned_by_id),
        Field("createdBy", INT, lambda r: r.assigned_by_id),
        Field("updatedBy", INT, lambda r: r.assigned_by_id),
        Field("createdTime", DT, lambda r: r.created_time),
        Field("updatedTime", DT, lambda r: r.updated_time),
        Field("entityTypeId", INT, lambda r: COMPANY_ENTITY_TYPE_ID),
    ),
    any_case=True,
)


def _item_renderer(fields: FieldSet) -> Any:
    def render(rec: Any, select: list[str] | None, drift: bool) -> dict[str, Any]:
        names = list(fields)
        if select is not None and "*" not in select:
            wanted = {fields.canonical(name) or name for name in select} | {"id"}
            names = [n for n in names if n in wanted]
        out: dict[str, Any] = {}
        for name in names:
            value = fields[name].get(rec)
            out[name] = iso(value) if value is not None and fields[name].kind == DT else value
        return out

    return render


ITEM_VIEWS = {
    INVOICE_ENTITY_TYPE_ID: "invoices",
    CONTACT_ENTITY_TYPE_ID: "contact_items",
    COMPANY_ENTITY_TYPE_ID: "company_items",
}


def item_views(world: Any) -> dict[str, View]:
    return {
        "contact_items": View("contact_items", lambda: contacts(world), CONTACT_ITEM_FIELDS, "id",
                              _item_renderer(CONTACT_ITEM_FIELDS)),
        "company_items": View("company_items", lambda: world.bitrix_companies,
                              COMPANY_ITEM_FIELDS, "id", _item_renderer(COMPANY_ITEM_FIELDS)),
    }
