-- Paid but never recorded: invoices that Bitrix24, SalesMan or ApiPay call paid while no movement in the Adesk ledger brings their money (and why), newest first.
SELECT
    source,
    invoice_number,
    counterparty_key,
    currency,
    invoice_amount,
    source_paid_date AS paid_per_source,
    reason
FROM marts.invoice_payments
WHERE row_kind = 'unpaid_in_ledger'
ORDER BY source_paid_date DESC NULLS LAST, source, invoice_number
