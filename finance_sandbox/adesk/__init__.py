"""The Adesk API (v1, plus v2 authentication) over the synthetic World.

What the sandbox answers, and the choices it makes where the docs (adesk-api.md) are silent:

Authentication. v1 takes the token only as the `api_token` query parameter; v2 also takes it in
the `X-API-Token` header (the docs: "on v2 the token can be given in the X-API-Token header
instead of the query"). A missing or wrong token answers the documented body
`{"message": "Auth required", "code": 401, "success": false}` with HTTP 401.

Subscription and rate limit. The documented bodies, with these HTTP statuses (the docs give the
bodies only): `{"message": "Payment required", "code": 21, "success": false}` with HTTP 402, and
`{"message": "Too many requests", "code": 429, "success": false}` with HTTP 429 and no
Retry-After (none is documented). A persistent fault `FaultPlan(always={path: 21})` answers the
payment body with HTTP 200, as a gateway that only speaks in bodies would: clients must read the
body's `code`, not the status.

Bad parameters. Answered like Adesk's validation errors: HTTP 400 with
`{"success": false, "message": "...", "errors": {"<param>": ["..."]}}`. That covers a `length`
above LIST_MAX_LENGTH (the docs give no maximum; the sandbox allows 1000), a `length` below 1, a
negative `start`, unknown `status`/`type`/`range`/`date_type` values, `range=custom` without both
dates, and dates not in the YYYY-MM-DD form. Unknown paths answer 404, a GET on the POST-only
commitments list 405, an unknown id on a per-record endpoint 404, always with
`{"success": false, "message": ...}`.

Lists. `recordsTotal` and `recordsFiltered` follow the docs' own definitions, which are the
reverse of DataTables': recordsTotal is "the number of records filtered for the current page"
(the rows in this answer) and recordsFiltered is "the total number of records available by the
filter" (what paging needs). Only the endpoints whose docs list `start`/`length` page
(transactions, projects, bank accounts); without `length` they answer LIST_DEFAULT_LENGTH rows.
Every other list answers all its records at once and ignores paging parameters.

Transactions. Newest first: `date` descending, then id descending (`relatedDate` with
date_type=accrual). Filters as documented: `status` (completed | planned | all; default
*completed* - the docs name no default, the web app lists actual movements, and a client must
ask for planned ones explicitly), `type` (all (default, includes transfers) | income | outcome |
transfers; income/outcome exclude transfer legs), `range` (all_time default, this_/prev_
month/quarter/year relative to the world's today, custom with range_start/range_end inclusive),
`date_type` (cashier = `date`, default; accrual = `relatedDate`), plus bank_account,
legal_entity, category, contractor, project, business_unit (id | no_business_unit |
any_business_unit, l.1865), owner_transfer, taxes. A transfer between own accounts is listed as
its two legs (an outcome on the source account and an income on the target one, both
`isTransfer: true`, no category), as Adesk shows them. Each leg's `amount` is in its own
account's currency: the outcome carries the transfer's `amount` ("in the sender account's
currency", l.951), the income what arrived (`amount_to`, l.982) - a RUR -> USD transfer, the
docs' own example (l.934-958), has different numbers on its legs. The legs carry the v2
operation's transfer fields (l.1254-1256, undescribed there): `transferId` (the transfer's id,
the same on both legs), `pairedTransactionId` (the other leg's id) and
`pairTransferTransaction` (the other leg, without its own pair), plus `exchangeRate` and
`bankAccount.rate` (roubles per unit of the account's currency, l.1229/l.1250; 1.0 for
roubles). Expenses may name a business direction, `business_unit` {id, name} (v1 object
l.1103; never with a project, only on outcomes, l.1686); the drifting API (FaultPlan.drift)
spells it `businessUnit` as the v2 example does (l.1260) and leaves out either `transferId` or
`pairedTransactionId` on some legs, so clients must pair by either. Money is a string
("67", "13450.14"), dates `dd.mm.yyyy`, `dateIso` as in the docs' example (`yyyy.mm.dd`).
The running balances of the docs' example (`bankAccountAmount`, `bankAccount.amount`) are left
out: the nested account has the shape of the documented webhook object instead, and current
balances come from /v1/bank-accounts. Paging costs O(log n + page): the ledger is indexed once
per world version (sorted day ordinals and ids in compact arrays, bisected by date) and only the
requested slice is rendered.

Projects: `status` defaults to *active* (documented), so archived ones need status=all.

Modules: `protocol` (limits, error bodies), `values` (formats and parameters), `drift`,
`transactions` (ledger index, renderer, transaction endpoints), `endpoints` (every other endpoint),
`emulator` (auth, routing, rendering; composes the endpoints).
"""

from __future__ import annotations

from finance_sandbox.adesk.emulator import AdeskEmulator
from finance_sandbox.adesk.protocol import LIST_DEFAULT_LENGTH, LIST_MAX_LENGTH, BadParams

__all__ = ["LIST_DEFAULT_LENGTH", "LIST_MAX_LENGTH", "AdeskEmulator", "BadParams"]
