"""Keeping secrets out of records: API keys, tokens, and values of secret-named env vars.

Applied to everything tether writes about a run (observations, traces), never
to what the user's own job prints to their terminal.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["REDACTED", "redact", "secret_values"]

REDACTED = "[REDACTED]"

_SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw(or)?d|credential|auth)")
_INLINE = re.compile(
    r"(?i)((?:\b|[A-Za-z0-9]_)(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password"
    r"|passwd|token)\s*[=:]\s*)(?:'[^']{6,}'|\"[^\"]{6,}\"|[^\s'\"]{6,})"
)
_BEARER = re.compile(r"(?i)\b(authorization:\s*(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}")
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(@)")
_KNOWN = re.compile(
    r"\b(sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|AKIA[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,})"
)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values (8+ characters) of environment variables whose names look secret."""
    env = os.environ if environ is None else environ
    return sorted(
        {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 8}, key=len, reverse=True
    )


def _text(value: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, REDACTED)
    value = _KNOWN.sub(REDACTED, value)
    value = _BEARER.sub(lambda m: m.group(1) + REDACTED, value)
    value = _URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + m.group(2), value)
    return _INLINE.sub(lambda m: m.group(1) + REDACTED, value)


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``value`` (str, dict, list, tuple, scalar) with secrets replaced by ``[REDACTED]``."""
    if secrets is None:
        secrets = secret_values()
    if isinstance(value, str):
        return _text(value, secrets)
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value
