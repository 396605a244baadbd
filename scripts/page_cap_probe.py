"""Measure what a full sync lands when each server caps its pages below what we ask.

    .venv/bin/python scripts/page_cap_probe.py [--cap 100] [--movements 1613]

For each source's main list (Adesk transactions, ApiPay invoices, SalesMan invoices) it runs one
full sync against a sandbox whose server answers at most `cap` rows a page (ServerVariant), then
prints landed/truth, whether the run said SUCCESS, and the requests made; and the same with no
cap, for the requests a normal run makes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "finance_pipeline_tests" / "reliability"))

from reliability_kit import (
    environment,
    live_env,
    live_ids,
    live_resources,
    make_sandbox,
    sync_source,
    truth_ids,
    with_overrides,
)

from finance_pipeline.warehouse.resource import WarehouseResource
from finance_sandbox.core import ServerVariant
from finance_sandbox.world import WorldSize

LISTS = {"adesk": "transactions", "apipay": "invoices", "salesman": "invoices"}
CAPS = {"adesk": 100, "apipay": 30, "salesman": 50}


def run(size: WorldSize, caps: dict[str, int | None]) -> list[str]:
    lines = []
    sandbox = make_sandbox(size)
    truth = truth_ids(sandbox.world)
    with sandbox.serve() as servers, tempfile.TemporaryDirectory() as tmp:
        env = {**live_env(servers), "FINANCE_RATE_LIMIT_DIR": str(Path(tmp) / "buckets")}
        with environment(env):
            resources = live_resources(env, max_attempts=2)
            for source, entity in LISTS.items():
                sandbox.set_variant(source, ServerVariant(page_cap=caps[source]))
                resource = resources[source]
                if source == "adesk":
                    resource = with_overrides(resource, page_length=1000)
                before = sandbox.counters[source]["requests"]
                path = Path(tmp) / f"{source}.duckdb"
                try:
                    sync_source(resource, WarehouseResource(path=str(path)), source, full=True,
                                entities=[entity])
                    outcome = "SUCCESS"
                except Exception as error:  # the run's own verdict, whatever it is
                    outcome = f"FAILED ({type(error).__name__})"
                table = f"{source}_{entity}"
                landed = len(live_ids(path).get(table, set())) if path.exists() else 0
                requests = sandbox.counters[source]["requests"] - before
                cap = caps[source] or "none"
                lines.append(f"{source:9} {entity:13} cap={cap!s:5} landed {landed}/"
                             f"{len(truth[table])} {outcome:24} requests={requests}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--movements", type=int, default=1613)
    args = parser.parse_args()
    size = WorldSize.scaled(invoices=1300, transactions=args.movements)
    for line in run(size, dict.fromkeys(LISTS)) + run(size, dict(CAPS)):
        print(line)


if __name__ == "__main__":
    main()
