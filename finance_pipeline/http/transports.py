"""Transports mounted by URL prefix, process-wide: the one way to serve a URL without a network.

The composition root (`definitions.py`, in sandbox mode) mounts a factory for each emulated
API's origin; every `ApiClient` whose base URL starts with a mounted prefix gets a transport
from that factory. The rest of the product never knows what, if anything, is mounted.
Factories are called when a client is made, so what they return can change between clients
(tests install a differently shaped sandbox before each run).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

TransportFactory = Callable[[], httpx.BaseTransport]

_lock = threading.Lock()
_mounted: dict[str, TransportFactory] = {}


def mount(url_prefix: str, factory: TransportFactory) -> None:
    """Serve every URL that starts with `url_prefix` through `factory()`'s transport."""
    with _lock:
        _mounted[url_prefix.rstrip("/")] = factory


def unmount_all() -> None:
    with _lock:
        _mounted.clear()


def transport_for(url: str) -> httpx.BaseTransport | None:
    """The transport mounted for `url` (the longest matching prefix), or None for the network."""
    with _lock:
        prefixes = sorted(_mounted, key=len, reverse=True)
        factory = next(
            (
                _mounted[prefix]
                for prefix in prefixes
                if url == prefix or url.startswith(prefix + "/")
            ),
            None,
        )
    return factory() if factory is not None else None
