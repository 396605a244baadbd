"""PHP query strings (parse_str) and PHP arrays: how Bitrix24 reads parameters and writes
lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

from finance_sandbox.bitrix24.protocol import MAX_INPUT_VARS

# ---------------------------------------------------------------------------------------------
# PHP query strings (parse_str) and PHP arrays
# ---------------------------------------------------------------------------------------------

CANONICAL_INT = re.compile(r"^(0|-?[1-9][0-9]*)$")


def _next_index(array: dict[str, Any]) -> int:
    ints = [int(k) for k in array if CANONICAL_INT.match(k)]
    return max(ints) + 1 if ints else 0


@lru_cache(maxsize=65536)
def _key_path(name: str) -> tuple[str, tuple[str | None, ...]] | None:
    """A variable name split the way PHP's php_register_variable_ex reads it: the base name
    (spaces and dots become '_') and the bracketed keys (None for `[]`); None to skip it."""
    name = name.lstrip(" ")
    bracket = name.find("[")
    if bracket > 0 and "]" not in name[bracket:]:
        # An unterminated index: PHP turns the '[' into '_' and keeps a plain name.
        name = name[:bracket] + "_" + name[bracket + 1 :]
        bracket = -1
    base = name if bracket < 0 else name[:bracket]
    base = base.replace(" ", "_").replace(".", "_")
    if not base:
        return None
    keys: list[str | None] = []
    if bracket >= 0:
        pos = bracket
        while pos < len(name) and name[pos] == "[":
            end = name.find("]", pos + 1)
            if end < 0:
                break
            inner = name[pos + 1 : end]
            keys.append(None if inner == "" else inner)
            pos = end + 1  # anything after a ']' that is not '[' is ignored
    return base, tuple(keys)


def php_assign(target: dict[str, Any], name: str, value: Any) -> None:
    """Register one decoded `name=value` pair the way PHP's php_register_variable_ex does."""
    path = _key_path(name)
    if path is None:
        return
    base, keys = path
    if not keys:
        target[base] = value
        return
    node = target.get(base)
    if not isinstance(node, dict):
        node = target[base] = {}
    last = len(keys) - 1
    for i, key in enumerate(keys):
        if key is None:
            key = str(_next_index(node))
        if i == last:
            node[key] = value
        else:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child


def php_parse_pairs(pairs: Iterable[tuple[str, str]], max_vars: int = MAX_INPUT_VARS) -> dict:
    result: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs, start=1):
        if count > max_vars:
            break  # PHP warns "Input variables exceeded" and drops the rest
        php_assign(result, key, value)
    return result


@lru_cache(maxsize=65536)
def _decode_key(text: str) -> str:
    return unquote_plus(text)


def _decode(text: str) -> str:
    return unquote_plus(text) if "%" in text or "+" in text else text


def php_parse_str(query: str) -> dict[str, Any]:
    """parse_str(): '&'-separated pairs, each split at its first '=', urldecoded."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        pairs.append((_decode_key(key), _decode(value) if sep else ""))
    return php_parse_pairs(pairs)


def as_list(value: Any) -> list[Any] | None:
    """A PHP array used as a list (a JSON list, or keys 0..n): its values; else None."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return None


def php_array(value: dict[str, Any]) -> Any:
    """How PHP's json_encode renders an array: [] when empty, a list when keyed 0..n-1, else an
    object (one level: the values are already JSON-ready)."""
    if not value:
        return []
    keys = list(value)
    if keys == [str(i) for i in range(len(keys))]:
        return list(value.values())
    return value


def is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "y", "true", "yes", "on")
    return bool(value)
