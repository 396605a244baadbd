"""Request statistics that every extraction asset reports as Dagster metadata."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    server_pauses: int = 0  # answers whose headers or body made the limiter pause
    failed: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    waited_for_rate_limit: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}
        data["seconds"] = round(data["seconds"], 3)
        data["waited_for_rate_limit"] = round(data["waited_for_rate_limit"], 3)
        return data
