-- Cash flow by month and category: actual money in and out per month, currency, activity and category over the last three months up to the warehouse's as-of date (that month is partial unless the data reaches its last day; transfers between own accounts and owner money left out; drop the date filter for the whole history).
SELECT
    strftime(month, '%Y-%m') AS month,
    currency,
    activity,
    category_name AS category,
    sum(inflow) AS inflow,
    sum(outflow) AS outflow,
    sum(net) AS net
FROM marts.cash_flow_monthly
WHERE counts_as IN ('income', 'expense')
  AND movements > 0
  AND month > (
      SELECT date_trunc('month', max(as_of_date)) FROM marts.data_as_of
  ) - INTERVAL 3 MONTH
GROUP BY ALL
ORDER BY month DESC, currency, activity, inflow DESC, outflow DESC
