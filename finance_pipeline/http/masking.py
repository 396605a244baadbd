"""Secret masking, applied to every log line, exception text and metadata value we produce.

Two layers, because neither alone is enough:
- known secret values (registered from configuration) are replaced wherever they appear, even
  inside a URL-encoded query string or a JSON body;
- structural patterns (a Bitrix24 webhook path, `api_token=` parameters, auth headers) are masked
  even when the value was never registered, e.g. a webhook key typed into a URL by hand.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()

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
    with _lock:
        _secrets.add(value)
        # The same secret as it appears URL-encoded in a query string.
        _secrets.add(quote(value, safe=""))
        _secrets.add(quote_plus(value))


def mask(text: object) -> str:
    """Return `text` as a string with every known or recognisable secret replaced by ***."""
    out = str(text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in out:
            out = out.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


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
