-- Account balances today: the latest balance of every Adesk account computed from its opening balance and movements, next to the balance Adesk reports (the difference should be 0.00).
SELECT
    b.legal_entity_name AS legal_entity,
    b.bank_account_name AS account,
    b.account_status AS status,
    b.currency,
    b.date AS as_of,
    b.closing_balance AS balance,
    b.reported_balance AS adesk_balance,
    b.difference
FROM marts.account_balances AS b
WHERE b.is_latest
ORDER BY b.currency, b.closing_balance DESC
