"""Fixtures of the sandbox's tests: the shared ones of finance_sandbox.testing.

Tests talk to the sandbox over real HTTP (SandboxServers on 127.0.0.1) unless they say otherwise.
"""

from finance_sandbox.testing import (  # noqa: F401
    isolated_rate_limit_buckets,
    sandbox,
    servers,
    small_world_size,
)
