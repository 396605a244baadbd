"""Reading what an API answered: the small helpers every source's parser shares.

Each source knows its own answer shapes (`sources/<system>/entities.py`) and error bodies
(`sources/<system>/resource.py`); what they have in common is written once here.
"""

from __future__ import annotations

from typing import Any


def shape_of(body: Any) -> str:
    """A short description of an unexpected answer for an error message: the keys of an object
    (never its values, which may hold personal data), or the type of anything else."""
    if isinstance(body, dict):
        return "an object with keys " + ", ".join(sorted(map(str, body))[:10])
    return type(body).__name__


def as_int(value: Any) -> int | None:
    """A count or id as the API sent it (a number or a numeric string); None when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def message_with_field_errors(body: Any) -> str:
    """`message` plus the per-field `errors` of a `{"message": ..., "errors": {field: [...]}}`
    error body (Laravel's shape, which Adesk and ApiPay both answer); "" when it says nothing."""
    if not isinstance(body, dict):
        return ""
    message = body.get("message")
    text = str(message).strip() if message not in (None, "") else ""
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        details = "; ".join(
            f"{field}: {' '.join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))}"
            for field, msgs in errors.items()
        )
        text = f"{text} ({details})" if text else details
    return text
