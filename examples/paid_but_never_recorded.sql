-- Paid but never recorded: invoices that Bitrix24, SalesMan or ApiPay call paid while no movement in the Adesk ledger brings their money (and why), newest first.
SELECT
    p.source,
    p.invoice_number,
    coalesce(c.display_name, '(no counterparty)') AS counterparty,
    p.currency,
    p.invoice_amount,
    p.source_paid_date AS paid_per_source,
    p.reason
FROM marts.invoice_payments AS p
LEFT JOIN marts.counterparties AS c ON c.counterparty_key = p.counterparty_key
WHERE p.row_kind = 'unpaid_in_ledger'
ORDER BY p.source_paid_date DESC NULLS LAST, p.source, p.invoice_number
