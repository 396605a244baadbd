"""Bitrix24 REST emulator: an inbound webhook of a cloud portal, over the World's records.

What it reproduces (from the official REST docs, github.com/bitrix24/b24restdocs):

URL and auth
    `https://<portal>/rest/<user id>/<key>/<method>` (optionally `<method>.json`, a trailing
    slash is tolerated). Parameters come from the query string and/or the body (JSON, or a
    form), both parsed the PHP way (`filter[>=id]=5`, `select[]=id`). A wrong user id or key
    answers 401 `INVALID_CREDENTIALS`; no credentials 401 `NO_AUTH_FOUND`; an unknown method 404
    `ERROR_METHOD_NOT_FOUND` "Method not found!". Every answer carries `time` (start, finish,
    duration, processing, date_start, date_finish, operating_reset_at, operating).

Limits
    Leaky bucket per portal: 50 requests, drained at 2/s (Sandbox applies it with this
    emulator's `default_rate_limit`); over it: 503 `QUERY_LIMIT_EXCEEDED` "Too many requests".
    A `batch` is one request. Server time of a list call that counts (`start` >= 0, the default)
    grows with the size of the filtered list (the docs measured 49.9 s vs 0.097 s on 2.39 M
    leads); `start=-1` skips the count (no `total`, no `next` for crm.item.*; the classic
    methods answer `"total": 0` as in the docs' example). That time is `cost_seconds` and the
    `operating` of the answer; a method that accumulates more than 480 s of it within 10 minutes
    is blocked: 429 `OPERATION_TIME_LIMIT` (kept as a running sum per method, so a command
    costs the same however long the history is).

Methods
    crm.item.list (entityTypeId 31: smart invoices; camelCase fields, numbers as numbers,
    `{"result": {"items": [...]}, "total", "next"}`; field names in camelCase or UPPER_CASE in
    select/order/filter, answers in camelCase; stages of the invoice's funnel with
    `stageSemanticId`, `contactId` for invoices issued to a person), crm.item.productrow.list
    (`=ownerType` and `=ownerId` required; what an array in `=ownerId` does is the emulator's
    `owner_arrays`: accepts / rejects / ignores / unfiltered, see below; filters only on
    id/productId/owner, order only by id/sort), crm.company.list, crm.requisite.list,
    crm.product.list, crm.contact.list, crm.invoice.list (legacy invoices, entity type 5),
    crm.status.list, crm.invoice.status.list (classic methods: UPPERCASE fields, values as
    strings, `result` is the array itself; PHONE/EMAIL only when selected), crm.invoice.get
    (with PRODUCT_ROWS), crm.status.entity.types, crm.category.list, catalog.catalog.list,
    catalog.product.list, catalog.price.list (module `portal`), batch (at most 50 commands; more end in `ERROR_BATCH_LENGTH_EXCEEDED`, a
    nested batch in `ERROR_BATCH_METHOD_NOT_ALLOWED`; `$result[cmd][...]` references resolved
    the way CRestUtil::processBatchElement does), server.time, profile.
    Pages hold 50 records, always.

Where the docs disagree or are silent
    `=ownerId` of crm.item.productrow.list accepts an array by default: the method's page said
    for years "`=` — equals (works with arrays as well)" and integrations rely on it; its latest
    revision says only `@id` takes arrays, that other keys ignore an array like an unsupported
    condition, and its error table gives INVALID_ARG_VALUE for an array after a prefix — each
    reading can be switched on (`owner_arrays`). A scalar `=ownerId` of a missing invoice answers 400
    `ACCESS_DENIED` (documented); missing owners in an array are skipped. A missing
    `entityTypeId` answers 400 with error `100` "Could not find value for parameter
    {entityTypeId}" (the generic controller error). Requisites' DATE_MODIFY is null until the
    first edit (RequisiteTable has no default for it). Measure and VAT ids of products are the
    portal's own catalog ids (a fixed table below). Values a batch command takes from the query
    string are strings, exactly as PHP's parse_str gives them (at most 10,000 per command, the
    max_input_vars Bitrix24's site checker asks for).

Deleted records simply disappear from lists (the REST API has no tombstones).

Modules: `protocol` (limits, the error answer), `php` (parse_str and PHP arrays), `filters`
(values, fields, filters, order), `entities` (fields and rendering per entity), `portal`
(funnels, stages, contacts, legacy invoices, catalog), `listing` (one list call), `batch` (references between batch commands), `emulator` (routing, auth, limits,
methods).
"""

from __future__ import annotations

from finance_sandbox.bitrix24.batch import resolve_reference_value, resolve_references
from finance_sandbox.bitrix24.emulator import Bitrix24Emulator
from finance_sandbox.bitrix24.php import php_array, php_assign, php_parse_pairs, php_parse_str
from finance_sandbox.bitrix24.protocol import BATCH_MAX_LENGTH, MAX_INPUT_VARS, PAGE_SIZE, RestError

__all__ = [
    "BATCH_MAX_LENGTH",
    "MAX_INPUT_VARS",
    "PAGE_SIZE",
    "Bitrix24Emulator",
    "RestError",
    "php_array",
    "php_assign",
    "php_parse_pairs",
    "php_parse_str",
    "resolve_reference_value",
    "resolve_references",
]
