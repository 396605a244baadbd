"""batch: `$result[...]` references between commands, resolved the way Bitrix24 resolves them."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from finance_sandbox.bitrix24.php import CANONICAL_INT

# ---------------------------------------------------------------------------------------------
# batch: $result[...] references (CRestUtil::processBatchStructure / processBatchElement)
# ---------------------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$(result|next|total|time|error)([^\s]*)", re.IGNORECASE)
_PATH_PART = re.compile(r"\[([^\]]+)\]")


def _php_isset_get(container: Any, key: str) -> tuple[bool, Any]:
    if isinstance(container, dict):
        value = container.get(key)
        return value is not None, value
    if isinstance(container, list):
        if CANONICAL_INT.match(key) and 0 <= int(key) < len(container):
            value = container[int(key)]
            return value is not None, value
        return False, None
    if isinstance(container, str) and CANONICAL_INT.match(key) and 0 <= int(key) < len(container):
        return True, container[int(key)]
    return False, None


def resolve_reference_value(value: str, state: dict[str, Any]) -> Any:
    """One parameter value with `$result[cmd][...]` references replaced, as PHP does it.

    A path that does not resolve stops at the last key that existed (so the value becomes that
    array); a value that is exactly one reference takes the referenced value with its type.
    """
    if "$" not in value:
        return value
    matches = list(_REFERENCE.finditer(value))
    if not matches:
        return value
    out: Any = value
    for match in matches:
        parts = _PATH_PART.findall(match.group(2))
        if not parts:
            continue
        current: Any = state.get(match.group(1))  # "$RESULT[...]" is an undefined index: null
        for key in parts:
            ok, child = _php_isset_get(current, key)
            if not ok:
                break
            current = child
        if match.group(0) == value:
            return current
        if isinstance(current, bool):
            continue
        if isinstance(current, (int, float, Decimal)):
            current = str(current)
        if not isinstance(current, str):
            continue
        out = out.replace(match.group(0), current) if isinstance(out, str) else out
    return out


def resolve_references(params: Any, state: dict[str, Any]) -> Any:
    if isinstance(params, dict):
        return {k: resolve_references(v, state) for k, v in params.items()}
    if isinstance(params, str):
        return resolve_reference_value(params, state)
    return params
