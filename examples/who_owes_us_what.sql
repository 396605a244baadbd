-- Who owes us what: open invoices per counterparty and currency as of the warehouse's as-of date (its latest data date, marts.data_as_of), split into aging buckets (not yet due, 1-30, 31-60, 61-90, over 90 days overdue), biggest debts first.
SELECT
    coalesce(counterparty_name, '(no counterparty)') AS counterparty,
    currency,
    count(*) AS open_invoices,
    sum(outstanding) AS total_owed,
    coalesce(sum(outstanding) FILTER (WHERE aging_bucket = 'not yet due'), 0) AS not_yet_due,
    coalesce(sum(outstanding) FILTER (WHERE aging_bucket = '1-30'), 0) AS overdue_1_30,
    coalesce(sum(outstanding) FILTER (WHERE aging_bucket = '31-60'), 0) AS overdue_31_60,
    coalesce(sum(outstanding) FILTER (WHERE aging_bucket = '61-90'), 0) AS overdue_61_90,
    coalesce(sum(outstanding) FILTER (WHERE aging_bucket = 'over 90'), 0) AS overdue_over_90,
    max(days_overdue) AS max_days_overdue,
    any_value(as_of_date) AS as_of
FROM marts.receivables
GROUP BY ALL
ORDER BY currency, total_owed DESC, counterparty
