"""Bitrix24 reads around the smart invoices (issue 13): the stages of every invoice funnel with
their semantics, the contacts invoices are issued to, and the legacy invoices (entity type 5)
that older portals keep for their pre-2021 history.

Stages
    crm.status.list (b24restdocs api-reference/crm/status/crm-status-list.md) lists every stage
    dictionary of the portal; invoice funnels are `SMART_INVOICE_STAGE_<category>` and the legacy
    statuses `INVOICE_STATUS` (crm-status-entity-types.md). Each stage carries `SEMANTICS` (S
    success, F failure, null in progress) as the portal reports it, renamed and custom stages
    (`DT31_7:UC_…`) included. The dictionary is small: read whole on every run (a complete read,
    so stages removed on the portal are marked deleted).

Contacts
    crm.contact.list (crm-contact-list.md): a smart invoice's client is one company or, for a
    private person, a contact (`contactId`, api-reference/crm/universal/invoice.md). Read like the
    companies: `>=DATE_MODIFY` since the cursor, keyset-paged by ID.

Legacy invoices
    crm.invoice.list (crm-invoice-list.md: "The method does not return properties and line items
    of the invoice") gives the ids of the invoices changed since the cursor (`>=DATE_UPDATE`);
    crm.invoice.get (crm-invoice-get.md) of each, 50 per batch request, gives the invoice with its
    PRODUCT_ROWS, which is what is landed. An invoice deleted between the two calls answers "Not
    found" and is simply not landed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from finance_pipeline.http.errors import BadResponseError
from finance_pipeline.sources.bitrix24.assets import (
    BATCH,
    CLASSIC_LOOKBACK,
    SOURCE,
    Batcher,
    ListCall,
    _read,
    _record_cursor,
    full_scan,
    http_build_query,
)
from finance_pipeline.sources.bitrix24.resource import api_error_of
from finance_pipeline.sources.extraction import EntitySpec, ExtractContext

STAGE_CALL = ListCall("crm.status.list", {}, {}, "ID", None)
CONTACT_CALL = ListCall(
    "crm.contact.list", {"select": ["*", "UF_*", "PHONE", "EMAIL"]}, {}, "ID", None
)
LEGACY_LIST_CALL = ListCall("crm.invoice.list", {"select": ["ID", "DATE_UPDATE"]}, {}, "ID", None)
LEGACY_GET = "crm.invoice.get"


def fetch_stages(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from full_scan(ctx, STAGE_CALL, "stages")


def fetch_contacts(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    yield from _read(ctx, CONTACT_CALL, ("DATE_MODIFY",), "contacts")


def _is_not_found(error: Any) -> bool:
    parsed = api_error_of(error) if isinstance(error, dict) else None
    return parsed is not None and parsed[1].strip().lower() == "not found"


def get_legacy_invoices(ctx: ExtractContext, ids: list[int]) -> Iterator[list[dict[str, Any]]]:
    """crm.invoice.get of each id, 50 commands per batch request."""
    batcher = Batcher(ctx.client)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        names = batcher.names(len(chunk))
        answer = batcher.send(
            {name: f"{LEGACY_GET}?{http_build_query({'id': i})}" for name, i in zip(names, chunk, strict=True)}
        )
        invoices = []
        for name, invoice_id in zip(names, chunk, strict=True):
            raw_error = answer["result_error"].get(name)
            if raw_error is not None and _is_not_found(raw_error):
                continue  # deleted since it was listed
            error = Batcher.command_error(answer, name, LEGACY_GET)
            if error is not None:
                raise error
            invoice = answer["result"].get(name)
            if not isinstance(invoice, dict) or str(invoice.get("ID")) != str(invoice_id):
                raise BadResponseError(
                    SOURCE, f"batch: {LEGACY_GET}",
                    f"expected legacy invoice {invoice_id}, got {str(invoice)[:120]}",
                )
            invoices.append(invoice)
        if invoices:
            yield invoices


def fetch_legacy_invoices(ctx: ExtractContext) -> Iterator[list[dict[str, Any]]]:
    fetched: set[int] = set()  # a full scan reads small lists from both ends: ids repeat
    for rows in _read(ctx, LEGACY_LIST_CALL, ("DATE_UPDATE",), "legacy invoices"):
        ids = [LEGACY_LIST_CALL.id_of(row, LEGACY_LIST_CALL.method) for row in rows]
        new = sorted(set(ids) - fetched)
        fetched.update(new)
        yield from get_legacy_invoices(ctx, new)


PORTAL_ENTITIES: list[EntitySpec] = [
    EntitySpec(
        source=SOURCE,
        entity="stages",
        description=(
            "Stages of every Bitrix24 stage dictionary (crm.status.list): the invoice funnels "
            "(SMART_INVOICE_STAGE_<category>, custom stages included) and the legacy invoice "
            "statuses (INVOICE_STATUS), each with the SEMANTICS the portal reports."
        ),
        fetch=fetch_stages,
        id_of=lambda row: row.get("ID"),
    ),
    EntitySpec(
        source=SOURCE,
        entity="contacts",
        description="Bitrix24 contacts (crm.contact.list): the people invoices are issued to.",
        fetch=fetch_contacts,
        id_of=lambda row: row.get("ID"),
        cursor_of=_record_cursor("DATE_MODIFY", "DATE_CREATE"),
        lookback=CLASSIC_LOOKBACK,
    ),
    EntitySpec(
        source=SOURCE,
        entity="legacy_invoices",
        description=(
            "Bitrix24 legacy invoices (entity type 5, crm.invoice.get after crm.invoice.list): "
            "the portal's pre-2021 history, each with its PRODUCT_ROWS."
        ),
        fetch=fetch_legacy_invoices,
        id_of=lambda row: row.get("ID"),
        cursor_of=_record_cursor("DATE_UPDATE", "DATE_INSERT"),
        lookback=CLASSIC_LOOKBACK,
    ),
]
