-- description: Invoices reconciled with the cash ledger. Adesk is the truth for cash: a payment that Bitrix24, SalesMan or ApiPay records is a settlement of an invoice, matched to the Adesk movement that brought the money (never counted on top of it). One row per link or per thing left over, `row_kind`: payment (invoice payment <- incoming movement), refund (ApiPay refund -> outgoing movement), unpaid_in_ledger (a payment its system records with no movement for it: the reason says why, including "no ledger" when Adesk has no data), unmatched_movement (a sales receipt that pays no known invoice, with the reason). A SalesMan invoice split into parts is paid part by part: each paid part (source record) is its own payment.
-- key: row_key
-- references: invoice_key -> marts.invoices.invoice_key
-- references: counterparty_key -> marts.counterparties.counterparty_key
-- references: transaction_id -> staging.adesk_transactions.transaction_id
-- columns:
--   row_key                VARCHAR        primary key
--   row_kind               VARCHAR        payment, refund, unpaid_in_ledger or unmatched_movement
--   invoice_key            VARCHAR        marts.invoices key
--   source                 VARCHAR        invoicing system
--   source_record_id       VARCHAR        the system's record of this payment (SalesMan: the part's crid; others: the invoice id)
--   invoice_number         VARCHAR        number as issued
--   counterparty_key       VARCHAR        the invoice's (else the movement's) counterparty
--   currency               VARCHAR        ISO code
--   invoice_amount         DECIMAL(18,2)  invoice total
--   record_amount          DECIMAL(18,2)  amount of the record (a SalesMan part; else the invoice)
--   source_says_paid       BOOLEAN        the invoicing system calls the record paid
--   source_paid_date       DATE           payment date per the invoicing system (local day)
--   refund_id              VARCHAR        ApiPay refund id (refund rows)
--   refund_amount          DECIMAL(18,2)  refund per ApiPay
--   transaction_id         VARCHAR        Adesk movement
--   movement_date          DATE           movement date
--   movement_amount        DECIMAL(18,2)  movement amount (positive)
--   allocated_amount       DECIMAL(18,2)  part of the movement settling this invoice/refund
--   match_rule             VARCHAR        how the link was made
--   invoice_ledger_paid    DECIMAL(38,2)  sum of the invoice's payments in the ledger
--   invoice_ledger_status  VARCHAR        settled, partially_settled, overpaid or unrecorded
--   reason                 VARCHAR        why an invoice or movement is left unmatched
--
-- What is matched: the payments the invoicing systems know of, one per record (a Bitrix24 or
-- ApiPay invoice, a SalesMan payment-schedule record: a split SalesMan invoice is one row of
-- marts.invoices but two records, the paid part and the remainder), and open records too, since
-- the ledger may hold money the CRM does not know about yet.
-- How a payment is found (each movement settles at most what it carries, each step only sees
-- what the earlier steps left):
--   1. reference + amount: the description names the invoice number ("счет", "сч.", "invoice"
--      followed by the number; Cyrillic/Latin look-alikes and separators folded, so С-00123,
--      C-00123 and С00123 are one), same currency, amount equal to the record, dated from a
--      week before the invoice was issued to 30 days after the day its system says it was paid.
--      Ties (a SalesMan number shared by the paid part and the remainder of a split invoice)
--      go to the pair agreeing on counterparty, then nearest in date: each movement and each
--      record take their mutual best.
--   2. reference, part payment: a movement naming the invoice for less than the record, from
--      the invoice's own counterparty (both known and equal: a number alone is weak evidence
--      when amounts differ, e.g. "Возврат от поставщика по счету № 3080" names the supplier's
--      invoice, not ours); parts are allocated in date order up to the record's amount.
--   3. reference, several invoices: one movement naming several invoices whose amounts add up
--      to it exactly pays all of them (unless its counterparty is known and differs).
--   4. counterparty + amount: no number in the description, but the only unmatched movement of
--      that counterparty, currency and exact amount within [paid - 3 days, paid + 7 days] of the
--      only such record its system calls paid (and the other way round).
-- Refunds (ApiPay): an outgoing movement in the invoice's currency naming the refund id, or the
-- invoice number with the refund's exact amount, dated from 3 days before to 10 days after it.
-- "Sales receipts" (for unmatched_movement): actual incoming movements, not transfers or owner
-- money, in a category where at least a fifth of the movements pay invoices (in the sandbox:
-- Продажи). Planned movements never settle anything.
WITH
ledger AS (
    SELECT
        count(*) AS accounts,
        list(DISTINCT currency) AS currencies
    FROM staging.adesk_bank_accounts
),
contractor_cp AS (
    SELECT source_id AS contractor_id, any_value(counterparty_key) AS counterparty_key
    FROM marts.counterparty_sources
    WHERE source = 'adesk' AND source_entity = 'contractor' AND source_id IS NOT NULL
    GROUP BY 1
),
movements AS (
    SELECT
        t.transaction_id,
        t.date,
        t.amount,
        t.direction,
        t.currency,
        t.category_id,
        t.description,
        cp.counterparty_key,
        invoice_refs_in(t.description) AS refs,
        refund_refs_in(t.description) AS refund_refs,
        coalesce(c.is_owner_transfer, t.category_is_owner_transfer, false) AS is_owner_transfer,
        coalesce(c.kind, t.category_kind) AS category_kind
    FROM staging.adesk_transactions AS t
    LEFT JOIN contractor_cp AS cp ON cp.contractor_id = t.contractor_id
    LEFT JOIN staging.adesk_transaction_categories AS c ON c.category_id = t.category_id
    WHERE NOT t.is_planned
      AND NOT t.is_transfer
      AND t.amount IS NOT NULL
      AND t.date IS NOT NULL
),
incoming AS (
    SELECT * FROM movements WHERE direction = 'in' AND NOT is_owner_transfer
),
invoices AS (
    SELECT
        invoice_key,
        source,
        source_id,
        source_record_ids,
        number,
        invoice_ref_key(number) AS ref,
        counterparty_key,
        amount,
        currency,
        status,
        (
            paid_at IS NOT NULL
            OR status IN ('paid', 'partially_paid', 'refunded', 'partially_refunded')
        ) AS source_says_paid,
        coalesce(paid_date, CAST(timezone('UTC', paid_at) AS DATE)) AS paid_date,
        coalesce(issued_date, CAST(timezone('UTC', issued_at) AS DATE)) AS issued_date
    FROM marts.invoices
    WHERE amount IS NOT NULL
      AND coalesce(status, '') NOT IN ('draft', 'cancelled')
      -- paid before the ledger's history begins (Bitrix24 legacy invoices of 2019-2020): the
      -- ledger cannot hold that payment, so it is neither looked for nor reported missing
      AND NOT coalesce(
          coalesce(paid_date, CAST(timezone('UTC', paid_at) AS DATE))
              < (SELECT min(date) FROM movements),
          false
      )
),
salesman_parts AS (
    SELECT invoice_key, unnest(source_record_ids) AS record_id
    FROM invoices
    WHERE source = 'salesman'
),
-- One record per payment the invoicing systems know of (paid or still expected).
records AS (
    SELECT
        'salesman:' || r.invoice_id AS record_key,
        r.invoice_id AS record_id,
        i.invoice_key,
        i.source,
        i.number,
        i.ref,
        i.counterparty_key,
        i.currency,
        i.status,
        i.amount AS invoice_amount,
        r.amount,
        r.is_paid AS source_says_paid,
        CASE WHEN r.is_paid THEN r.paid_date END AS paid_date,
        i.issued_date
    FROM salesman_parts AS p
    JOIN staging.salesman_invoices AS r ON r.invoice_id = p.record_id
    JOIN invoices AS i ON i.invoice_key = p.invoice_key
    WHERE r.amount IS NOT NULL
    UNION ALL
    SELECT
        i.invoice_key,
        i.source_id,
        i.invoice_key,
        i.source,
        i.number,
        i.ref,
        i.counterparty_key,
        i.currency,
        i.status,
        i.amount,
        i.amount,
        i.source_says_paid,
        i.paid_date,
        i.issued_date
    FROM invoices AS i
    WHERE i.invoice_key NOT IN (SELECT invoice_key FROM salesman_parts)
),
-- Step 1 and the candidates of steps 2-3: movement x record through a number reference.
by_ref AS (
    SELECT m.transaction_id, unnest(m.refs) AS ref FROM incoming AS m
),
ref_candidates AS (
    SELECT
        m.transaction_id,
        c.record_key,
        m.amount AS movement_amount,
        c.amount AS record_amount,
        m.date AS movement_date,
        (m.amount = c.amount) AS amount_equal,
        coalesce(m.counterparty_key = c.counterparty_key, false) AS same_cp,
        coalesce(m.counterparty_key <> c.counterparty_key, false) AS other_cp,
        abs(date_diff('day', coalesce(c.paid_date, c.issued_date, m.date), m.date)) AS day_gap
    FROM by_ref AS r
    JOIN incoming AS m ON m.transaction_id = r.transaction_id
    JOIN records AS c ON c.ref = r.ref AND c.currency = m.currency
    WHERE m.date >= coalesce(c.issued_date, m.date) - 7
      AND (c.paid_date IS NULL OR m.date <= c.paid_date + 30)
),
exact_ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY transaction_id
            ORDER BY same_cp DESC, day_gap, record_key
        ) AS rank_for_movement,
        row_number() OVER (
            PARTITION BY record_key
            ORDER BY same_cp DESC, day_gap, transaction_id
        ) AS rank_for_record
    FROM ref_candidates
    WHERE amount_equal
),
step1 AS (
    SELECT
        transaction_id,
        record_key,
        movement_amount AS allocated_amount,
        'reference + amount' AS match_rule
    FROM exact_ranked
    WHERE rank_for_movement = 1 AND rank_for_record = 1
),
-- Step 2: part payments (the movement is smaller than the record), same counterparty only.
partial_choice AS (
    SELECT *
    FROM ref_candidates AS c
    WHERE c.movement_amount < c.record_amount
      AND c.same_cp
      AND c.transaction_id NOT IN (SELECT transaction_id FROM step1)
      AND c.record_key NOT IN (SELECT record_key FROM step1)
    QUALIFY row_number() OVER (
        PARTITION BY c.transaction_id ORDER BY c.day_gap, c.record_key
    ) = 1
),
partial_running AS (
    SELECT
        *,
        sum(movement_amount) OVER (
            PARTITION BY record_key ORDER BY movement_date, transaction_id
        ) AS running
    FROM partial_choice
),
step2 AS (
    SELECT
        transaction_id,
        record_key,
        movement_amount AS allocated_amount,
        'reference, part payment' AS match_rule
    FROM partial_running
    WHERE running <= record_amount
),
-- Step 3: one movement for several records whose amounts add up to it.
multi_candidates AS (
    SELECT *
    FROM ref_candidates AS c
    WHERE NOT c.other_cp
      AND c.transaction_id NOT IN (SELECT transaction_id FROM step1)
      AND c.transaction_id NOT IN (SELECT transaction_id FROM step2)
      AND c.record_key NOT IN (SELECT record_key FROM step1)
      AND c.record_key NOT IN (SELECT record_key FROM step2)
),
multi AS (
    SELECT transaction_id
    FROM multi_candidates
    GROUP BY transaction_id
    HAVING count(*) > 1 AND sum(record_amount) = any_value(movement_amount)
),
step3 AS (
    SELECT
        c.transaction_id,
        c.record_key,
        c.record_amount AS allocated_amount,
        'reference, several invoices' AS match_rule
    FROM multi_candidates AS c
    JOIN multi AS x ON x.transaction_id = c.transaction_id
    -- a record claimed by two such movements stays with the first
    QUALIFY row_number() OVER (PARTITION BY c.record_key ORDER BY c.transaction_id) = 1
),
linked AS (
    SELECT * FROM step1
    UNION ALL SELECT * FROM step2
    UNION ALL SELECT * FROM step3
),
-- Step 4: no reference; counterparty, currency, exact amount and date, unique both ways.
fallback_candidates AS (
    SELECT m.transaction_id, c.record_key, m.amount
    FROM incoming AS m
    JOIN records AS c
        ON c.counterparty_key = m.counterparty_key
        AND c.currency = m.currency
        AND c.amount = m.amount
    WHERE c.source_says_paid
      AND c.paid_date IS NOT NULL
      AND m.date BETWEEN c.paid_date - 3 AND c.paid_date + 7
      AND m.transaction_id NOT IN (SELECT transaction_id FROM linked)
      AND c.record_key NOT IN (SELECT record_key FROM linked)
),
step4 AS (
    SELECT
        transaction_id,
        record_key,
        amount AS allocated_amount,
        'counterparty + amount + date' AS match_rule
    FROM fallback_candidates
    QUALIFY count(*) OVER (PARTITION BY transaction_id) = 1
        AND count(*) OVER (PARTITION BY record_key) = 1
),
payments AS (
    SELECT p.*, c.invoice_key
    FROM (
        SELECT * FROM linked
        UNION ALL SELECT * FROM step4
    ) AS p
    JOIN records AS c ON c.record_key = p.record_key
),
record_totals AS (
    SELECT record_key, sum(allocated_amount) AS ledger_paid
    FROM payments
    GROUP BY 1
),
invoice_totals AS (
    SELECT
        i.invoice_key,
        coalesce(sum(p.allocated_amount), 0) AS ledger_paid,
        CASE
            WHEN sum(p.allocated_amount) IS NULL THEN 'unrecorded'
            WHEN sum(p.allocated_amount) = any_value(i.amount) THEN 'settled'
            WHEN sum(p.allocated_amount) < any_value(i.amount) THEN 'partially_settled'
            ELSE 'overpaid'
        END AS ledger_status
    FROM invoices AS i
    LEFT JOIN payments AS p ON p.invoice_key = i.invoice_key
    GROUP BY i.invoice_key
),
sales_categories AS (
    -- income categories in which invoice payments are booked: at least a fifth of their
    -- movements pay an invoice (a stray match elsewhere does not make a category "sales")
    SELECT m.category_id
    FROM incoming AS m
    WHERE m.category_id IS NOT NULL
    GROUP BY m.category_id
    HAVING count(*) FILTER (WHERE m.transaction_id IN (SELECT transaction_id FROM payments))
        >= 0.2 * count(*)
),
-- Refunds (ApiPay): the refund leaves through an outgoing movement.
refunds AS (
    SELECT
        r.refund_id,
        'apipay:' || r.invoice_id AS invoice_key,
        r.amount,
        CAST(timezone('UTC', r.created_at) AS DATE) AS refund_date
    FROM staging.apipay_refunds AS r
    WHERE coalesce(r.status, 'completed') = 'completed'
),
refund_candidates AS (
    SELECT
        f.refund_id,
        m.transaction_id,
        list_contains(m.refund_refs, f.refund_id) AS names_refund,
        (m.amount = f.amount) AS amount_equal,
        abs(date_diff('day', f.refund_date, m.date)) AS day_gap
    FROM refunds AS f
    JOIN invoices AS i ON i.invoice_key = f.invoice_key
    JOIN movements AS m
        ON m.direction = 'out'
        AND m.currency = i.currency
        AND m.date BETWEEN f.refund_date - 3 AND f.refund_date + 10
    WHERE list_contains(m.refund_refs, f.refund_id)
       OR (list_contains(m.refs, i.ref) AND m.amount = f.amount)
),
refund_links AS (
    SELECT refund_id, transaction_id
    FROM refund_candidates
    QUALIFY row_number() OVER (
            PARTITION BY refund_id
            ORDER BY names_refund DESC, amount_equal DESC, day_gap, transaction_id
        ) = 1
        AND row_number() OVER (
            PARTITION BY transaction_id
            ORDER BY names_refund DESC, amount_equal DESC, day_gap, refund_id
        ) = 1
),
-- Why a paid record has no movement.
near_misses AS (
    SELECT c.record_key, min(c.transaction_id) AS transaction_id
    FROM ref_candidates AS c
    WHERE c.transaction_id NOT IN (SELECT transaction_id FROM payments)
    GROUP BY 1
),
ref_anywhere AS (
    -- an unmatched incoming movement in the record's currency naming its number, at any date
    SELECT c.record_key, min(r.transaction_id) AS transaction_id
    FROM by_ref AS r
    JOIN incoming AS m ON m.transaction_id = r.transaction_id
    JOIN records AS c ON c.ref = r.ref AND c.currency = m.currency
    WHERE r.transaction_id NOT IN (SELECT transaction_id FROM payments)
    GROUP BY 1
),
-- What the numbers an incoming movement names match, for the reasons of unmatched movements.
-- Equi-joins on the unnested references: a list_contains per movement x invoice pair is a nested
-- loop (100 s at 1M movements and 100k invoices).
invoice_refs AS (
    SELECT DISTINCT invoice_ref_key(number) AS ref FROM marts.invoices WHERE number IS NOT NULL
),
ref_evidence AS (
    SELECT
        r.transaction_id,
        coalesce(bool_or(c.currency = m.currency), false) AS names_record_in_currency,
        bool_or(c.record_key IS NOT NULL) AS names_record,
        bool_or(k.ref IS NOT NULL) AS names_any_invoice
    FROM by_ref AS r
    JOIN incoming AS m ON m.transaction_id = r.transaction_id
    LEFT JOIN records AS c ON c.ref = r.ref
    LEFT JOIN invoice_refs AS k ON k.ref = r.ref
    GROUP BY r.transaction_id
),
payment_rows AS (
    SELECT
        'payment:' || p.record_key || ':' || p.transaction_id AS row_key,
        'payment' AS row_kind,
        c.invoice_key,
        c.source,
        c.record_id AS source_record_id,
        c.number AS invoice_number,
        coalesce(c.counterparty_key, m.counterparty_key) AS counterparty_key,
        c.currency,
        c.invoice_amount,
        c.amount AS record_amount,
        c.source_says_paid,
        c.paid_date AS source_paid_date,
        CAST(NULL AS VARCHAR) AS refund_id,
        CAST(NULL AS DECIMAL(18, 2)) AS refund_amount,
        p.transaction_id,
        m.date AS movement_date,
        m.amount AS movement_amount,
        p.allocated_amount,
        p.match_rule,
        t.ledger_paid AS invoice_ledger_paid,
        t.ledger_status AS invoice_ledger_status,
        CASE
            WHEN NOT c.source_says_paid THEN
                'paid in the ledger, still open in ' || c.source || ' (status ' || c.status || ')'
        END AS reason
    FROM payments AS p
    JOIN records AS c ON c.record_key = p.record_key
    JOIN invoice_totals AS t ON t.invoice_key = c.invoice_key
    JOIN incoming AS m ON m.transaction_id = p.transaction_id
),
unpaid_rows AS (
    SELECT
        'unpaid_in_ledger:' || c.record_key AS row_key,
        'unpaid_in_ledger' AS row_kind,
        c.invoice_key,
        c.source,
        c.record_id AS source_record_id,
        c.number AS invoice_number,
        c.counterparty_key,
        c.currency,
        c.invoice_amount,
        c.amount AS record_amount,
        c.source_says_paid,
        c.paid_date AS source_paid_date,
        CAST(NULL AS VARCHAR) AS refund_id,
        CAST(NULL AS DECIMAL(18, 2)) AS refund_amount,
        CAST(NULL AS VARCHAR) AS transaction_id,
        CAST(NULL AS DATE) AS movement_date,
        CAST(NULL AS DECIMAL(18, 2)) AS movement_amount,
        CAST(NULL AS DECIMAL(18, 2)) AS allocated_amount,
        CAST(NULL AS VARCHAR) AS match_rule,
        t.ledger_paid AS invoice_ledger_paid,
        t.ledger_status AS invoice_ledger_status,
        CASE
            WHEN (SELECT accounts FROM ledger) = 0 THEN
                'no ledger: Adesk has no data (not configured or never synced), so this '
                || 'payment cannot be checked against cash'
            WHEN NOT list_contains((SELECT currencies FROM ledger), c.currency) THEN
                'no ledger account in ' || c.currency || ', so this payment cannot be checked'
            WHEN nm.transaction_id IS NOT NULL THEN
                'a movement names this invoice but its amount does not fit (movement '
                || nm.transaction_id || ')'
            WHEN ra.transaction_id IS NOT NULL THEN
                'a movement names this number but is dated too far from the payment (movement '
                || ra.transaction_id || ')'
            ELSE
                'paid per ' || c.source || coalesce(' on ' || CAST(c.paid_date AS VARCHAR), '')
                || ', but no ledger movement records the money'
        END AS reason
    FROM records AS c
    JOIN invoice_totals AS t ON t.invoice_key = c.invoice_key
    LEFT JOIN near_misses AS nm ON nm.record_key = c.record_key
    LEFT JOIN ref_anywhere AS ra ON ra.record_key = c.record_key
    WHERE c.source_says_paid
      AND c.record_key NOT IN (SELECT record_key FROM record_totals)
),
refund_rows AS (
    SELECT
        'refund:' || f.refund_id AS row_key,
        'refund' AS row_kind,
        i.invoice_key,
        i.source,
        i.source_id AS source_record_id,
        i.number AS invoice_number,
        i.counterparty_key,
        i.currency,
        i.amount AS invoice_amount,
        i.amount AS record_amount,
        i.source_says_paid,
        i.paid_date AS source_paid_date,
        f.refund_id,
        f.amount AS refund_amount,
        l.transaction_id,
        m.date AS movement_date,
        m.amount AS movement_amount,
        CASE WHEN l.transaction_id IS NOT NULL THEN least(m.amount, f.amount) END
            AS allocated_amount,
        CASE
            WHEN l.transaction_id IS NULL THEN NULL
            WHEN list_contains(m.refund_refs, f.refund_id) THEN 'refund id in description'
            ELSE 'invoice reference + amount'
        END AS match_rule,
        t.ledger_paid AS invoice_ledger_paid,
        t.ledger_status AS invoice_ledger_status,
        CASE
            WHEN l.transaction_id IS NOT NULL THEN NULL
            WHEN (SELECT accounts FROM ledger) = 0 THEN
                'no ledger: Adesk has no data (not configured or never synced)'
            ELSE 'refunded per ApiPay, but no outgoing ledger movement records it'
        END AS reason
    FROM refunds AS f
    LEFT JOIN invoices AS i ON i.invoice_key = f.invoice_key
    LEFT JOIN invoice_totals AS t ON t.invoice_key = f.invoice_key
    LEFT JOIN refund_links AS l ON l.refund_id = f.refund_id
    LEFT JOIN movements AS m ON m.transaction_id = l.transaction_id
),
unmatched_rows AS (
    SELECT
        'unmatched_movement:' || m.transaction_id AS row_key,
        'unmatched_movement' AS row_kind,
        CAST(NULL AS VARCHAR) AS invoice_key,
        CAST(NULL AS VARCHAR) AS source,
        CAST(NULL AS VARCHAR) AS source_record_id,
        CAST(NULL AS VARCHAR) AS invoice_number,
        m.counterparty_key,
        m.currency,
        CAST(NULL AS DECIMAL(18, 2)) AS invoice_amount,
        CAST(NULL AS DECIMAL(18, 2)) AS record_amount,
        CAST(NULL AS BOOLEAN) AS source_says_paid,
        CAST(NULL AS DATE) AS source_paid_date,
        CAST(NULL AS VARCHAR) AS refund_id,
        CAST(NULL AS DECIMAL(18, 2)) AS refund_amount,
        m.transaction_id,
        m.date AS movement_date,
        m.amount AS movement_amount,
        CAST(NULL AS DECIMAL(18, 2)) AS allocated_amount,
        CAST(NULL AS VARCHAR) AS match_rule,
        CAST(NULL AS DECIMAL(18, 2)) AS invoice_ledger_paid,
        CAST(NULL AS VARCHAR) AS invoice_ledger_status,
        CASE
            WHEN len(m.refs) = 0 THEN 'no invoice number in the description'
            WHEN m.transaction_id IN (SELECT transaction_id FROM ref_candidates) THEN
                'names invoice ' || array_to_string(m.refs, ', ')
                || ' but the amount does not fit what is left of it'
            WHEN e.names_record_in_currency THEN
                'names invoice ' || array_to_string(m.refs, ', ')
                || ' but is dated too far from its issue or payment'
            WHEN e.names_record THEN
                'names invoice ' || array_to_string(m.refs, ', ')
                || ' but in another currency'
            WHEN e.names_any_invoice THEN
                'names invoice ' || array_to_string(m.refs, ', ')
                || ', which its system has as draft or cancelled'
            ELSE 'names invoice ' || array_to_string(m.refs, ', ') || ', which no system knows'
        END AS reason
    FROM incoming AS m
    LEFT JOIN ref_evidence AS e ON e.transaction_id = m.transaction_id
    WHERE m.category_id IN (SELECT category_id FROM sales_categories)
      AND m.transaction_id NOT IN (SELECT transaction_id FROM payments)
)
SELECT * FROM payment_rows
UNION ALL SELECT * FROM unpaid_rows
UNION ALL SELECT * FROM refund_rows
UNION ALL SELECT * FROM unmatched_rows
