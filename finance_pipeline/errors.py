"""Errors about the pipeline's own configuration (API errors live in `http/errors.py`)."""

from __future__ import annotations

from finance_pipeline.http.masking import mask


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str, hint: str = "") -> None:
        self.variable = variable
        text = f"{variable}: {problem}"
        if hint:
            text += f". {hint}"
        super().__init__(mask(text))
