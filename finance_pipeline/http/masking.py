"""Secret masking, applied to every log line, exception text and metadata value we produce.

Two layers, because neither alone is enough:
- known secret values (registered from configuration) are replaced wherever they appear, even
  inside a URL-encoded query string or a JSON body;
- structural patterns (a Bitrix24 webhook path, `api_token=` parameters, auth headers) are masked
  even when the value was never registered, e.g. a webhook key typed into a URL by hand.

A secret that is a URL (a Bitrix24 webhook) keeps its scheme and host readable: which portal
failed is what a reader needs, and the host is not the credential. Only the parts that carry the
credential are masked (`https://portal.bitrix24.ru/rest/1/***/`).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

MASK = "***"

_lock = threading.Lock()
# Each known secret and what replaces it: MASK, or for a URL the URL with its host kept.
_secrets: dict[str, str] = {}

# Values shorter than this are not treated as secrets: masking "1" or "ab" would garble output.
_MIN_SECRET_LENGTH = 4

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Bitrix24 inbound webhook: /rest/<user id>/<key>/ - the key is the credential.
    (re.compile(r"(/rest/\d+/)([^/\s?#\"']+)"), r"\1" + MASK),
    # Query-string and form credentials (Adesk api_token, generic token/apikey/key params).
    (
        re.compile(r"(?i)\b(api_token|apikey|api_key|access_token|token|auth)=([^&\s\"']+)"),
        r"\1=" + MASK,
    ),
    # Header-style credentials as they appear in reprs and debug dumps.
    (
        re.compile(
            r"(?i)([\"']?(?:x-api-key|x-api-token|apikey|authorization)[\"']?\s*[:=]\s*[\"']?)"
            r"([^\"'\s,}]+)"
        ),
        r"\1" + MASK,
    ),
]


def register_secret(value: str | None) -> None:
    """Remember a configured secret so it is masked wherever it shows up."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    readable = _readable_url(value)
    with _lock:
        _secrets[value] = readable or MASK
        # The same secret as it appears URL-encoded in a query string.
        _secrets[quote(value, safe="")] = MASK
        _secrets[quote_plus(value)] = MASK
    if readable is not None:
        # The credential inside the URL, wherever it appears without the host (a request line).
        for part in _secret_parts_of_url(value):
            register_secret(part)


def _readable_url(value: str) -> str | None:
    """For a URL secret: the URL with scheme and host kept and its credential parts masked.
    None when `value` is not a URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    userinfo = f"{MASK}@" if "@" in parts.netloc else ""
    path = _mask_patterns(parts.path)
    if path == parts.path and parts.path.strip("/"):
        # A path we do not recognise may be the credential itself: hide all of it.
        path = "/" + MASK
    query = f"?{MASK}" if parts.query else ""
    return f"{parts.scheme}://{userinfo}{host}{path}{query}"


def _secret_parts_of_url(value: str) -> list[str]:
    """The pieces of a URL secret that carry the credential: the password, the path segments
    the structural patterns mask (else the path and its key-like segments), the query."""
    parts = urlsplit(value)
    found = [parts.password or "", parts.query]
    found += [value for _, value in parse_qsl(parts.query)]
    masked = _mask_patterns(parts.path)
    if masked == parts.path:
        # An unknown shape: the whole path, and each segment that looks like a key (letters and
        # digits mixed, or long), because it may also appear on its own.
        found.append(parts.path.strip("/"))
        found += [segment for segment in parts.path.split("/") if _looks_like_key(segment)]
    else:
        found += [
            segment
            for segment, shown in zip(parts.path.split("/"), masked.split("/"), strict=False)
            if segment != shown
        ]
    return [part for part in found if len(part) >= _MIN_SECRET_LENGTH]


def _looks_like_key(segment: str) -> bool:
    mixed = any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)
    return len(segment) >= 16 or (mixed and len(segment) >= 8)


def _mask_patterns(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask(text: object) -> str:
    """Return `text` as a string with every known or recognisable secret replaced by ***."""
    out = str(text)
    with _lock:
        known = sorted(_secrets.items(), key=lambda item: len(item[0]), reverse=True)
    for secret, replacement in known:
        if secret in out:
            out = out.replace(secret, replacement)
    return _mask_patterns(out)


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


def install_log_masking() -> None:
    """Mask secrets in every handler that exists now (root, httpx, dagster)."""
    for name in ("", "httpx", "httpcore", "dagster", "finance_pipeline"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskingFilter) for f in logger.filters):
            logger.addFilter(MaskingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
