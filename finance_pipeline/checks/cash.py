"""Checks of the cash models: Adesk staging, cash flow, balances, invoice payments, receivables.

The one that matters most: the latest balance of every account in marts.account_balances must
equal the balance Adesk reports for it (`latest_balance_matches_adesk`); a failing row names the
account and the difference.
"""

from __future__ import annotations

from finance_pipeline.checks import SqlCheck, finding

CASH_FLOW_CHECKS = [
    SqlCheck(
        table="marts.cash_flow",
        name="transfer_legs_pair_up",
        description=(
            "Every transfer leg found its other leg: by Adesk's transferId, else by "
            "pairedTransactionId, else (legs carrying neither) as the only out/in pair of its day "
            "and text. Never by equal amounts: between currencies the two legs carry different "
            "sums. A leg left alone (its transfer split into operations, its other leg deleted or "
            "not read) would count for one account only."
        ),
        failing_rows_sql="""
            SELECT movement_key, transaction_id, date, bank_account_id, currency, direction,
                   amount, transfer_id, counterpart_transaction_id
            FROM marts.cash_flow WHERE is_transfer AND transfer_key IS NULL""",
        warn_only=True,
    ),
    SqlCheck(
        table="marts.cash_flow",
        name="one_row_per_movement",
        description=(
            "marts.cash_flow has exactly one row per movement of staging.adesk_transactions."
        ),
        failing_rows_sql="""
            SELECT movements, cash_flow_rows FROM (
                SELECT
                    (SELECT count(*) FROM staging.adesk_transactions) AS movements,
                    (SELECT count(*) FROM marts.cash_flow) AS cash_flow_rows
            ) WHERE movements <> cash_flow_rows""",
        blocking=True,
    ),
    SqlCheck(
        table="marts.cash_flow",
        name="transfers_net_to_zero",
        description=(
            "Each transfer is one leg out of one account and one into another, each in its own "
            "account's currency and amount, and the two cancel out at the transfer's own rate: "
            "the received amount times transfer_rate (sent / received) is the sent amount to the "
            "cent. Within one currency that rate is 1, so the signed amounts sum to zero; between "
            "currencies (RUB -> USD) nothing nets within a currency, the pair nets in the "
            "sender's. Transfers never count as income or expense."
        ),
        failing_rows_sql="""
            SELECT transfer_key, count(*) AS legs, count(DISTINCT bank_account_id) AS accounts,
                   string_agg(DISTINCT currency, '/') AS currencies,
                   any_value(transfer_rate) AS transfer_rate,
                   sum(CASE direction WHEN 'out' THEN -amount
                       ELSE round(amount * transfer_rate, 2) END) AS net_in_sender_currency
            FROM marts.cash_flow WHERE transfer_key IS NOT NULL
            GROUP BY transfer_key
            HAVING count(*) <> 2
                OR count(DISTINCT bank_account_id) <> 2
                OR count(*) FILTER (WHERE direction = 'out') <> 1
                OR bool_or(counts_as <> 'transfer')
                OR (count(DISTINCT currency) = 1 AND sum(signed_amount) <> 0)
                OR sum(CASE direction WHEN 'out' THEN -amount
                       ELSE round(amount * transfer_rate, 2) END) <> 0""",
    ),
    SqlCheck(
        table="marts.cash_flow",
        name="transfer_legs_in_their_account_currency",
        description=(
            "A transfer leg is in its own account's currency (the account list says which), and "
            "a transfer between currencies is worth about the same on both sides at Adesk's own "
            "rates (exchangeRate, base-currency units per unit): more than 5% apart means a leg's "
            "amount is not in its account's currency (e.g. the sender's amount repeated on the "
            "receiving leg) or a rate is wrong."
        ),
        failing_rows_sql="""
            SELECT f.transfer_key, f.transaction_id, f.direction, f.bank_account_id,
                   f.currency, a.currency AS account_currency, f.amount, f.exchange_rate,
                   f.counterpart_currency, f.counterpart_amount
            FROM marts.cash_flow AS f
            LEFT JOIN staging.adesk_bank_accounts AS a ON a.bank_account_id = f.bank_account_id
            WHERE f.transfer_key IS NOT NULL AND f.currency IS DISTINCT FROM a.currency
            UNION ALL
            SELECT o.transfer_key, o.transaction_id, o.direction, o.bank_account_id,
                   o.currency, i.currency, o.amount, o.exchange_rate,
                   i.currency, i.amount
            FROM marts.cash_flow AS o
            JOIN marts.cash_flow AS i
                ON i.transfer_key = o.transfer_key AND i.direction = 'in'
            WHERE o.direction = 'out' AND o.currency <> i.currency
              AND o.exchange_rate > 0 AND i.exchange_rate > 0
              AND abs(o.amount * o.exchange_rate / (i.amount * i.exchange_rate) - 1) > 0.05""",
        warn_only=True,
    ),
    SqlCheck(
        table="marts.cash_flow",
        name="movement_fully_classified",
        description=(
            "Every movement has a direction, an amount, an account with a currency and a date, "
            "and counts as exactly one of income, expense, transfer, owner_transfer."
        ),
        failing_rows_sql="""
            SELECT movement_key, date, direction, amount, currency, counts_as
            FROM marts.cash_flow
            WHERE direction IS NULL OR amount IS NULL OR currency IS NULL OR date IS NULL
               OR counts_as IS NULL""",
    ),
    SqlCheck(
        table="marts.cash_flow",
        name="income_without_category",
        description=(
            "Actual movements that are not transfers but have no category: they count as income "
            "or expense, but in no activity (operating/investing/financing)."
        ),
        failing_rows_sql="""
            SELECT movement_key, date, direction, amount, description FROM marts.cash_flow
            WHERE status = 'actual' AND NOT is_transfer AND category_id IS NULL""",
        warn_only=True,
    ),
]

BALANCE_CHECKS = [
    SqlCheck(
        table="marts.account_balances",
        name="latest_balance_matches_adesk",
        description=(
            "The latest balance of every account (opening balance + actual movements) equals the "
            "balance Adesk reports for it. A failing row names the account and the difference "
            "(ours minus Adesk's): a movement missing from or extra in the warehouse, or a sync "
            "that read the balance and the movements at different moments."
        ),
        failing_rows_sql="""
            SELECT
                a.bank_account_id,
                a.name AS bank_account_name,
                a.currency,
                b.date AS as_of,
                b.closing_balance AS warehouse_balance,
                a.reported_balance AS adesk_balance,
                coalesce(b.closing_balance, a.initial_amount) - a.reported_balance AS difference
            FROM staging.adesk_bank_accounts AS a
            LEFT JOIN marts.account_balances AS b
                ON b.bank_account_id = a.bank_account_id AND b.is_latest
            WHERE a.reported_balance IS NOT NULL
              AND coalesce(b.closing_balance, a.initial_amount)
                  IS DISTINCT FROM a.reported_balance""",
    ),
    SqlCheck(
        table="marts.account_balances",
        name="days_chain",
        description=(
            "Each day opens with the previous day's closing balance and closes with opening + "
            "inflow - outflow."
        ),
        failing_rows_sql="""
            SELECT bank_account_id, date, opening_balance, previous_closing, closing_balance
            FROM (
                SELECT *, lag(closing_balance) OVER (
                    PARTITION BY bank_account_id ORDER BY date) AS previous_closing
                FROM marts.account_balances
            )
            WHERE (previous_closing IS NOT NULL AND previous_closing <> opening_balance)
               OR closing_balance <> opening_balance + inflow - outflow""",
    ),
    SqlCheck(
        table="marts.account_balances",
        name="every_account_has_a_balance",
        description="Every Adesk account has a daily balance series.",
        failing_rows_sql="""
            SELECT bank_account_id, name FROM staging.adesk_bank_accounts
            WHERE bank_account_id NOT IN (SELECT bank_account_id FROM marts.account_balances)""",
    ),
]

MONTHLY_CHECKS = [
    SqlCheck(
        table="marts.cash_flow_monthly",
        name="months_add_up_to_balances",
        description=(
            "For every account and month, closing - opening balance equals the month's net actual "
            "flow, and the totals equal those of marts.cash_flow."
        ),
        failing_rows_sql="""
            SELECT bank_account_id, month, any_value(opening_balance) AS opening,
                   any_value(closing_balance) AS closing, sum(net) AS net
            FROM marts.cash_flow_monthly
            WHERE opening_balance IS NOT NULL
            GROUP BY bank_account_id, month
            HAVING any_value(closing_balance) - any_value(opening_balance) <> sum(net)
            UNION ALL
            SELECT 'all accounts', NULL, NULL, NULL, m.net - f.net
            FROM (SELECT sum(net) AS net FROM marts.cash_flow_monthly) AS m,
                 (SELECT coalesce(sum(signed_amount), 0) AS net FROM marts.cash_flow
                  WHERE status = 'actual') AS f
            WHERE m.net <> f.net""",
    ),
]

PAYMENT_CHECKS = [
    SqlCheck(
        table="marts.invoice_payments",
        name="movement_not_overallocated",
        description=(
            "A ledger movement settles at most its own amount (one movement can pay several "
            "invoices, but never more than it carried): nothing is counted twice."
        ),
        failing_rows_sql="""
            SELECT transaction_id, any_value(movement_amount) AS movement_amount,
                   sum(allocated_amount) AS allocated, count(*) AS links
            FROM marts.invoice_payments
            WHERE row_kind IN ('payment', 'refund') AND transaction_id IS NOT NULL
            GROUP BY transaction_id
            HAVING sum(allocated_amount) > any_value(movement_amount)""",
        blocking=True,
    ),
    SqlCheck(
        table="marts.invoice_payments",
        name="every_paid_invoice_accounted_for",
        description=(
            "Every invoice its system calls paid is either matched to ledger movement(s) or "
            "listed as unpaid_in_ledger with a reason."
        ),
        failing_rows_sql="""
            SELECT i.invoice_key, i.source, i.number, i.status
            FROM marts.invoices AS i
            WHERE (i.paid_at IS NOT NULL
                   OR i.status IN ('paid', 'partially_paid', 'refunded', 'partially_refunded'))
              AND coalesce(i.status, '') NOT IN ('draft', 'cancelled')
              AND i.amount IS NOT NULL
              -- paid before the ledger's history begins: not looked for (invoice_payments)
              AND NOT coalesce(coalesce(i.paid_date, CAST(timezone('UTC', i.paid_at) AS DATE))
                  < (SELECT min(date) FROM staging.adesk_transactions
                     WHERE NOT is_planned AND NOT is_transfer), false)
              AND i.invoice_key NOT IN (
                  SELECT invoice_key FROM marts.invoice_payments
                  WHERE row_kind IN ('payment', 'unpaid_in_ledger') AND invoice_key IS NOT NULL)""",
    ),
    finding(
        "marts.invoice_payments",
        "paid_but_never_recorded",
        "invoices their system calls paid for which no ledger movement was found (see reason): "
        "money that may never have been recorded in Adesk, or a payment typed without the "
        "invoice number and with another amount.",
        """
            SELECT coalesce(c.display_name, '(no counterparty)') AS counterparty,
                   p.source, p.invoice_number, p.currency, p.invoice_amount AS amount,
                   p.source_paid_date AS paid_per_source, p.reason
            FROM marts.invoice_payments AS p
            LEFT JOIN marts.counterparties AS c USING (counterparty_key)
            WHERE p.row_kind = 'unpaid_in_ledger'""",
    ),
    finding(
        "marts.invoice_payments",
        "receipts_without_invoice",
        "sales receipts in the ledger that pay no known invoice (advances, contract payments, "
        "or a description naming an invoice the invoicing systems do not have).",
        """
            SELECT coalesce(c.display_name, f.contractor_name, '(unknown payer)') AS payer,
                   p.movement_date AS date, p.currency, p.movement_amount AS amount,
                   f.bank_account_name AS account, p.reason
            FROM marts.invoice_payments AS p
            JOIN marts.cash_flow AS f ON f.transaction_id = p.transaction_id
            LEFT JOIN marts.counterparties AS c ON c.counterparty_key = f.counterparty_key
            WHERE p.row_kind = 'unmatched_movement'""",
    ),
    finding(
        "marts.invoice_payments",
        "refunds_not_in_ledger",
        "ApiPay refunds with no outgoing ledger movement paying them back.",
        """
            SELECT coalesce(c.display_name, '(no counterparty)') AS counterparty,
                   p.refund_id, p.invoice_number, p.currency, p.refund_amount AS amount, p.reason
            FROM marts.invoice_payments AS p
            LEFT JOIN marts.counterparties AS c USING (counterparty_key)
            WHERE p.row_kind = 'refund' AND p.transaction_id IS NULL""",
    ),
    finding(
        "marts.invoice_payments",
        "invoices_overpaid",
        "invoices for which the ledger holds more money than the invoice amount (amount: the "
        "excess).",
        """
            SELECT DISTINCT coalesce(c.display_name, '(no counterparty)') AS counterparty,
                   p.invoice_key, p.invoice_number, p.currency, p.invoice_amount,
                   p.invoice_ledger_paid, p.invoice_ledger_paid - p.invoice_amount AS amount
            FROM marts.invoice_payments AS p
            LEFT JOIN marts.counterparties AS c USING (counterparty_key)
            WHERE p.invoice_ledger_status = 'overpaid'""",
    ),
]

RECEIVABLE_CHECKS = [
    SqlCheck(
        table="marts.receivables",
        name="outstanding_positive_and_bucketed",
        description=(
            "Every receivable owes something (0 < outstanding <= invoice amount) and has exactly "
            "one aging bucket consistent with its days overdue."
        ),
        failing_rows_sql="""
            SELECT invoice_key, outstanding, invoice_amount, days_overdue, aging_bucket
            FROM marts.receivables
            WHERE NOT (outstanding > 0 AND outstanding <= invoice_amount)
               OR aging_bucket IS NULL
               OR (aging_bucket = 'not yet due') <> (days_overdue = 0)""",
    ),
    finding(
        "marts.receivables",
        "receivables_without_counterparty",
        "open invoices that name no counterparty: nobody to chase for the money.",
        """
            SELECT source, invoice_number, currency, outstanding AS amount, days_overdue
            FROM marts.receivables WHERE counterparty_key IS NULL""",
    ),
]

AS_OF_CHECKS = [
    SqlCheck(
        table="marts.data_as_of",
        name="source_data_is_recent",
        description=(
            "Each source's newest business date lags today (the wall clock) by no more than its "
            "expected cadence (expected_every_days). A WARN names the source and how many days "
            "its data ends before today: a stalled sync, an expired token, or a sandbox."
        ),
        failing_rows_sql="""
            SELECT source, newest_data_date, expected_every_days,
                   date_diff('day', newest_data_date, current_date) AS days_behind_today
            FROM marts.data_as_of
            WHERE newest_data_date IS NULL
               OR date_diff('day', newest_data_date, current_date) > expected_every_days""",
        warn_only=True,
    ),
]

CHECKS: list[SqlCheck] = (
    CASH_FLOW_CHECKS
    + BALANCE_CHECKS
    + MONTHLY_CHECKS
    + PAYMENT_CHECKS
    + RECEIVABLE_CHECKS
    + AS_OF_CHECKS
)
