"""Helpers shared by the benchmark scripts: memory readings, tables, the sandbox subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

MB = 1024 * 1024


# --- memory ------------------------------------------------------------------------------------


def _status_kb(field_name: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def rss_mb(pid: int | str = "self") -> float:
    """Current resident set size (VmRSS), in MiB."""
    return _status_kb("VmRSS", pid) / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    """High-water mark of the resident set (VmHWM) since start or the last `reset_peak_rss()`."""
    return _status_kb("VmHWM", pid) / 1024


def maxrss_mb() -> float:
    """getrusage's ru_maxrss of this process (never reset), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_maxrss_mb() -> float:
    """The largest ru_maxrss of the waited-for child processes, in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Samples this process's RSS in a thread; `.peak` is the largest sample (a cross-check of
    VmHWM, and the only reading where clear_refs is not available)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            self._stop.wait(self.interval)

    def reset(self) -> None:
        self.peak = rss_mb()

    def __enter__(self) -> RssSampler:
        self.peak = rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- output ------------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(values: Sequence[str]) -> str:
        out = []
        for i, value in enumerate(values):
            out.append(value.ljust(widths[i]) if i == 0 else value.rjust(widths[i]))
        return "  ".join(out).rstrip()

    text = []
    if title:
        text.append(title)
    text.append(line(list(headers)))
    text.append("  ".join("-" * w for w in widths))
    text.extend(line(row) for row in cells)
    return "\n".join(text)


def say(*parts: Any) -> None:
    print(*parts, flush=True)


# --- the sandbox in its own process ------------------------------------------------------------


@dataclass
class SandboxProcess:
    """`benchmarks/sandbox_server.py` running in a subprocess (its memory is not ours)."""

    process: subprocess.Popen[str]
    base_urls: dict[str, str]
    env: dict[str, str]
    startup_seconds: float
    world: dict[str, int] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0

    def stop(self) -> None:
        """SIGTERM; the server prints its request counters and peak RSS before it exits."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        for line in (out or "").splitlines():
            if line.startswith("{"):
                data = json.loads(line)
                if data.get("event") == "stopped":
                    self.counters = data["counters"]
                    self.peak_rss_mb = data["peak_rss_mb"]


@contextlib.contextmanager
def sandbox_process(args: Sequence[str], timeout: float = 900.0) -> Iterator[SandboxProcess]:
    """Start the sandbox servers in a subprocess and wait until they listen."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "benchmarks" / "sandbox_server.py"), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
    )
    assert process.stdout is not None
    ready: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    while ready is None:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox server exited with {process.wait()} before it was up")
        if line.startswith("{"):
            data = json.loads(line)
            if data.get("event") == "ready":
                ready = data
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the sandbox server did not come up in time")
    handle = SandboxProcess(
        process=process,
        base_urls=ready["base_urls"],
        env=ready["env"],
        startup_seconds=time.perf_counter() - started,
        world=ready["world"],
    )
    try:
        yield handle
    finally:
        handle.stop()


def fresh_rate_limit_dir(prefix: str) -> str:
    """Client rate-limit buckets live in files; a fresh directory starts them empty."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.environ["FINANCE_RATE_LIMIT_DIR"] = path
    return path
