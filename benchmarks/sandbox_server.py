"""The four sandbox APIs on 127.0.0.1 for benchmarks, in a process of their own.

Like `python -m finance_sandbox serve` (same settings from FINANCE_SANDBOX_*, same
`WorldSize.scaled`, same servers, same live-mode environment), plus what a load test needs and
the CLI does not take: server-side rate limits (`--server-rate`/`--server-burst`, applied to all
four APIs, or `--undisclosed-limit`, each API's own limit style), and machine-readable output:
one JSON line when the servers are up
(`{"event": "ready", "base_urls", "env", "world"}`) and one when SIGTERM stops them
(`{"event": "stopped", "counters", "peak_rss_mb"}`).

    .venv/bin/python benchmarks/sandbox_server.py --invoices 100000 --transactions 1000000 \
        --server-rate 1000 --server-burst 1000
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

from finance_sandbox import sandbox_settings_from_env
from finance_sandbox.__main__ import live_environment
from finance_sandbox.core import SOURCES, Sandbox, ServerRateLimit
from finance_sandbox.world import WorldSize


def _peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def undisclosed_limits(limit: float) -> dict[str, ServerRateLimit]:
    """The limit styles of issue 15 at `limit` requests per second (a sliding 1 s window)."""
    window = {"rate": limit, "burst": max(1, round(limit)), "style": "sliding", "window": 1.0}
    return {
        "salesman": ServerRateLimit(**window, answer="nginx"),
        "adesk": ServerRateLimit(**window, per_method=True),
        "apipay": ServerRateLimit(**window, announce=True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, help="total invoices across the three systems")
    parser.add_argument("--transactions", type=int, help="Adesk transactions")
    parser.add_argument("--bitrix-invoices", type=int, help="only Bitrix24 invoices (others tiny)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--latency", type=float, help="seconds added to every request")
    parser.add_argument("--server-rate", type=float, help="server rate limit, requests/s")
    parser.add_argument("--server-burst", type=int, help="server rate limit, burst")
    parser.add_argument(
        "--undisclosed-limit",
        type=float,
        help="requests/s of a sliding 1 s window in each API's own style (issue 15): SalesMan "
        "behind nginx (HTML 429), Adesk per method, ApiPay announcing X-RateLimit-*; Bitrix24 "
        "keeps its documented bucket",
    )
    parser.add_argument("--apipay-invoices", type=int, help="only ApiPay invoices")
    args = parser.parse_args(argv)

    settings = sandbox_settings_from_env()
    if args.invoices or args.transactions:
        settings.size = WorldSize.scaled(
            invoices=args.invoices or 650, transactions=args.transactions or 1000, seed=args.seed
        )
    if args.bitrix_invoices:
        settings.size.bitrix_invoices = args.bitrix_invoices
        settings.size.counterparties = max(settings.size.counterparties, args.bitrix_invoices // 40)
    if args.latency is not None:
        settings.latency = args.latency
    if args.server_rate or args.server_burst:
        settings.rate_limits = {
            source: ServerRateLimit(
                rate=args.server_rate or 1000.0, burst=args.server_burst or 1000
            )
            for source in SOURCES
        }
    if args.apipay_invoices:
        settings.size.apipay_invoices = args.apipay_invoices
    if args.undisclosed_limit:
        settings.rate_limits.update(undisclosed_limits(args.undisclosed_limit))
    started = time.perf_counter()
    sandbox = Sandbox(settings)
    world = sandbox.world
    counts = {
        "bitrix24_invoices": len(world.bitrix_invoices),
        "salesman_invoices": len(world.salesman_invoices),
        "apipay_invoices": len(world.apipay_invoices),
        "adesk_transactions": len(world.adesk_transactions),
        "world_seconds": round(time.perf_counter() - started, 1),
    }
    servers = sandbox.serve()
    print(
        json.dumps(
            {
                "event": "ready",
                "base_urls": servers.base_urls,
                "env": live_environment(servers.base_urls),
                "world": counts,
            }
        ),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    servers.close()
    counters = {source: dict(sandbox.counters[source]) for source in SOURCES}
    print(
        json.dumps({"event": "stopped", "counters": counters, "peak_rss_mb": _peak_rss_mb()}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
