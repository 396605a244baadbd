-- Money without an invoice: sales receipts in the Adesk ledger that settle no invoice of Bitrix24, SalesMan or ApiPay (advances, contract payments, mistyped numbers), with the reason, newest first.
SELECT
    p.movement_date AS date,
    p.currency,
    p.movement_amount AS amount,
    f.bank_account_name AS account,
    coalesce(c.display_name, f.contractor_name, '(unknown payer)') AS payer,
    f.description,
    p.reason
FROM marts.invoice_payments AS p
JOIN marts.cash_flow AS f ON f.transaction_id = p.transaction_id
LEFT JOIN marts.counterparties AS c ON c.counterparty_key = f.counterparty_key
WHERE p.row_kind = 'unmatched_movement'
ORDER BY p.movement_date DESC, p.transaction_id
