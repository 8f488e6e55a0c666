"""What a failed model request means, and how long to wait before the next one.

:class:`RetryPolicy` says how many attempts one call makes and how long it waits between them
(exponential backoff with jitter, a provider's ``Retry-After`` honoured). :func:`classify`
sorts an attempt's exception into the three kinds :class:`~tether.llm.client.LLM` acts on:

- ``transient``: rate limit, timeout, connection error, 5xx, overload; retried;
- ``rejected``: bad request, auth, unknown model, context too long, quota; never retried;
- ``tools``: a local server that cannot call tools refused a request with tools.

Anything else (a bug, a test's assertion, pydantic-ai's ``ALLOW_MODEL_REQUESTS`` guard) is no
provider's failure and propagates unchanged. :func:`describe` and :func:`safe_cause` turn a
failure into text for an error message without showing a secret.

The classification follows pydantic-ai's ``ModelAPIError`` subclasses (idempotent-safe
retries by error category, as resilient HTTP clients do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Failure", "RetryPolicy", "classify", "describe", "safe_cause"]

_REJECTED_KINDS = {
    "ModelAuthenticationError": "auth",
    "ModelNotFoundError": "not_found",
    "ModelContextWindowExceededError": "context_window",
    "ModelQuotaExceededError": "quota",
}
_TOOLS_HINTS = ("tool", "function call", "function_call", "--jinja", "auto-tool-choice")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures of one model are retried within one call.

    Attributes:
        attempts: requests per model per call, the first included.
        backoff_s: the first wait; doubled after each failure.
        max_backoff_s: the longest single wait.
        max_wait_s: the most seconds spent waiting per model per call; a ``Retry-After``
            that would exceed it ends the retries (and falls back when possible).
        jitter: each wait is scaled by a random factor in ``[1 - jitter, 1 + jitter]`` (and still
            capped at ``max_backoff_s``).
    """

    attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_wait_s: float = 90.0
    jitter: float = 0.25

    def wait_s(self, failures: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based)."""
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1))
        wait = min(self.max_backoff_s, base * (1 + self.jitter * (2 * rng() - 1)))
        if retry_after is not None:
            wait = max(wait, retry_after)  # never earlier than the provider asked
        return float(max(wait, 0.0))


class Failure(Exception):
    """One attempt's failure, classified.

    Attributes:
        kind: ``"transient"``, ``"rejected"`` or ``"tools"``.
        error: the exception the attempt raised.
        retry_after: seconds the provider asked to wait, or ``None``.
        status: the HTTP status, or ``None``.
        rejected_kind: for a rejection: ``auth``, ``not_found``, ``context_window``, ``quota``
            or ``bad_request``.
    """

    def __init__(
        self, kind: str, error: BaseException, retry_after: float | None, status: int | None
    ) -> None:
        super().__init__(str(error))
        self.kind = kind
        self.error = error
        self.retry_after = retry_after
        self.status = status
        self.rejected_kind = _REJECTED_KINDS.get(type(error).__name__, "bad_request")


def is_transport_error(exc: BaseException) -> bool:
    """A connection-level failure that the provider library did not wrap (google-genai lets
    httpx's ``ConnectError``/``ReadTimeout`` through), detected without importing httpx."""
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return any(
        c.__name__ == "TransportError"
        and c.__module__.split(".")[0].startswith(("httpx", "httpcore"))
        for c in type(exc).__mro__
    )


def classify(exc: BaseException, *, probe_tools: bool) -> Failure | None:
    """The failure ``exc`` is, or ``None`` for an error that is no provider's.

    Args:
        exc: what one attempt raised.
        probe_tools: the request carried tools to a local server (``openai-compatible``,
            ``ollama``) not yet seen to accept them; a rejection that mentions tools is then
            of kind ``tools``.
    """
    from pydantic_ai import exceptions as ex

    status = getattr(exc, "status_code", None)
    retry_after = getattr(exc, "retry_after", None)
    transient = (
        ex.ModelRateLimitError,
        ex.ModelUnavailableError,
        ex.ModelServerError,
        ex.ModelConnectionError,
        ex.ModelRequestTimeout,
    )
    if isinstance(exc, transient) or is_transport_error(exc):
        return Failure("transient", exc, retry_after, status)
    final = (ex.ModelRequestRejectedError, ex.ModelQuotaExceededError)
    retryable_status = status is not None and (status in (408, 409, 429) or status >= 500)
    if isinstance(exc, ex.ModelAPIError) and not isinstance(exc, final) and retryable_status:
        return Failure("transient", exc, retry_after, status)
    if probe_tools:
        text = f"{exc} {getattr(exc, 'body', '')}".lower()
        if isinstance(exc, ex.ModelAPIError) and any(h in text for h in _TOOLS_HINTS):
            return Failure("tools", exc, None, status)
    if isinstance(exc, (ex.ModelAPIError, ex.UnexpectedModelBehavior)):
        return Failure("rejected", exc, None, status)
    return None


def describe(failure: Failure, secrets: list[str]) -> str:
    """``HTTP <status>: <Type>: <message>``, redacted and cut to 300 characters of message."""
    status = f"HTTP {failure.status}: " if failure.status else ""
    text = str(failure.error) or type(failure.error).__name__
    return f"{status}{type(failure.error).__name__}: {_redact(text, secrets)[:300]}"


def _redact(text: str, secrets: list[str]) -> str:
    from tether.store.redact import redact

    return str(redact(text, secrets))


def safe_cause(error: BaseException, secrets: list[str]) -> BaseException | None:
    """``error`` to chain as the cause, or ``None`` when the chain's text shows a secret (a server
    that echoes the key back): tracebacks print every chained error in full."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return error
        text = str(seen)
        if _redact(text, secrets) != text:
            return None
        seen = seen.__cause__ or seen.__context__
    return error
