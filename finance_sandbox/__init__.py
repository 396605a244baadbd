"""Emulators of the four APIs over one synthetic business (see core.py and the world package).

`get_sandbox()` is the process-wide sandbox the pipeline talks to in sandbox mode. Its size,
latency and seed come from FINANCE_SANDBOX_* variables so the demo, tests and benchmarks can
shape it without code.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_sandbox = None


def sandbox_settings_from_env():
    from finance_sandbox.core import SandboxSettings
    from finance_sandbox.world import WorldSize

    scale = float(os.environ.get("FINANCE_SANDBOX_SCALE", "1"))
    seed = int(os.environ.get("FINANCE_SANDBOX_SEED", "42"))
    base = WorldSize(seed=seed)
    if scale != 1:
        base = WorldSize(
            counterparties=max(10, int(base.counterparties * min(scale, 20))),
            products=max(10, int(base.products * min(scale, 5))),
            bitrix_invoices=int(base.bitrix_invoices * scale),
            salesman_invoices=int(base.salesman_invoices * scale),
            apipay_invoices=int(base.apipay_invoices * scale),
            extra_transactions=int(base.extra_transactions * scale),
            seed=seed,
        )
    return SandboxSettings(
        size=base,
        latency=float(os.environ.get("FINANCE_SANDBOX_LATENCY", "0")),
        cost_scale=float(os.environ.get("FINANCE_SANDBOX_COST_SCALE", "1")),
    )


def get_sandbox():
    """The process-wide sandbox, built on first use."""
    global _sandbox
    with _lock:
        if _sandbox is None:
            from finance_sandbox.core import Sandbox

            _sandbox = Sandbox(sandbox_settings_from_env())
        return _sandbox


def set_sandbox(sandbox) -> None:
    """Tests install a sandbox shaped for them (faults, size) before running assets."""
    global _sandbox
    with _lock:
        _sandbox = sandbox
