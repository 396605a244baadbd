"""`python -m finance_sandbox serve`: the four emulated APIs as real HTTP servers.

Prints the environment to export so the pipeline can run in live mode against them, which is how
to try the live path (and its error handling) by hand:

    python -m finance_sandbox serve --scale 10 --latency 0.05 --fault-rate 0.1
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import threading

from finance_sandbox import sandbox_settings_from_env
from finance_sandbox.core import SANDBOX_CREDENTIALS, SOURCES, FaultPlan, Sandbox
from finance_sandbox.world import WorldSize


def live_environment(base_urls: dict[str, str]) -> dict[str, str]:
    """The variables that point the pipeline's live mode at running sandbox servers."""
    creds = SANDBOX_CREDENTIALS
    return {
        "FINANCE_PIPELINE_MODE": "live",
        "BITRIX24_WEBHOOK_URL": base_urls["bitrix24"],
        "SALESMAN_BASE_URL": base_urls["salesman"],
        "SALESMAN_LOGIN": creds["salesman"]["login"],
        "SALESMAN_API_KEY": creds["salesman"]["api_key"],
        "ADESK_BASE_URL": base_urls["adesk"],
        "ADESK_API_TOKEN": creds["adesk"]["api_token"],
        "APIPAY_BASE_URL": base_urls["apipay"],
        "APIPAY_API_KEY": creds["apipay"]["api_key"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finance_sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the four APIs on 127.0.0.1")
    serve.add_argument("--host", default="127.0.0.1")
    for source in SOURCES:
        serve.add_argument(f"--{source}-port", type=int, default=0, help="0 = a free port")
    serve.add_argument("--invoices", type=int, help="total invoices across the three systems")
    serve.add_argument("--transactions", type=int, help="Adesk transactions (load tests)")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--latency", type=float, help="seconds added to every request")
    serve.add_argument("--fault-rate", type=float, default=0.0, help="share of faulty answers")
    serve.add_argument("--advance-days", type=int, default=0, help="move the business forward")
    args = parser.parse_args(argv)

    settings = sandbox_settings_from_env()
    if args.invoices or args.transactions:
        settings.size = WorldSize.scaled(
            invoices=args.invoices or 650, transactions=args.transactions or 1000, seed=args.seed
        )
    if args.latency is not None:
        settings.latency = args.latency
    if args.fault_rate:
        settings.faults = {s: FaultPlan(rate=args.fault_rate) for s in SOURCES}
    sandbox = Sandbox(settings)
    if args.advance_days:
        sandbox.world.advance(args.advance_days)
    ports = {s: getattr(args, f"{s}_port") for s in SOURCES}
    servers = sandbox.serve(args.host, ports)
    print("Sandbox APIs are up. To run the pipeline against them in live mode:\n")
    for name, value in live_environment(servers.base_urls).items():
        print(f"export {name}={shlex.quote(value)}")
    print("\nCtrl-C stops the servers.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    servers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
