"""One model call with retries, fallback and cool-down: :class:`LLM`.

``LLM`` is the single layer that retries (the SDKs' own retries are off, see
:mod:`tether.llm.providers`). For each call:

1. The primary model is tried. A transient failure — rate limit (its
   ``Retry-After`` honoured), timeout, connection error, 5xx, overload — is
   retried with exponential backoff and jitter, bounded by
   :attr:`RetryPolicy.attempts` and :attr:`RetryPolicy.max_wait_s`.
2. A request the provider rejected (bad request, auth, unknown model, context
   too long, quota) is never retried. It, or an exhausted primary, falls back
   to the secondary model when one is set; otherwise the typed error is raised
   (:class:`~tether.errors.ProviderRejected`, :class:`~tether.errors.ProviderUnavailable`).
3. A model whose calls keep failing (``failure_threshold`` calls in a row)
   is skipped for ``cooldown_s`` seconds — a circuit breaker — instead of being
   retried on every call.

The design follows the retry layering of resilient HTTP clients: one owner of
retries, idempotent-safe classification by error category (pydantic-ai's
``ModelAPIError`` subclasses), and a breaker per upstream. The classification and the
waits are :mod:`tether.llm.retry` (:class:`RetryPolicy` is re-exported here), one request is
:mod:`tether.llm.send`, and the sync API runs on a private event loop
(:class:`tether._bridge.LoopThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tether._bridge import LoopThread
from tether.errors import (
    MissingKey,
    ProviderError,
    ProviderMissing,
    ProviderRejected,
    ProviderUnavailable,
    ToolsUnsupported,
)
from tether.llm.retry import RetryPolicy, classify, describe, safe_cause
from tether.llm.send import Deltas, send
from tether.llm.types import LLMResponse, Message, ToolDefinition, Usage

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from tether.llm.pricing import PriceTable
    from tether.llm.providers import ModelSpec

__all__ = ["LLM", "RetryPolicy"]


@dataclass
class _Slot:
    """A model and its breaker state."""

    name: str
    spec: ModelSpec | None
    given: Model | None
    failures: int = 0
    open_until: float = 0.0
    tools_checked: bool = False
    models: dict[asyncio.AbstractEventLoop, Model] = field(default_factory=dict)
    """Built models by the event loop they run on (SDK connection pools belong to one loop)."""


def _require_provider_layer(slot: _Slot) -> None:
    """Raise ProviderMissing (not a bare ImportError) when pydantic-ai is not installed."""
    try:
        import pydantic_ai  # noqa: F401
    except ImportError:
        from tether.errors import ProviderMissing

        where = slot.name.split("/", 1)
        raise ProviderMissing(
            "the LLM provider layer (pydantic-ai) is not installed: pip install 'tether[llm]'",
            provider=where[0],
            model=where[-1],
            extra="llm",
        ) from None


class LLM:
    """A primary model, an optional secondary, and the one retry layer in front of them.

    Args:
        model: ``"provider/model"`` (see :mod:`tether.llm.providers`) or a pydantic-ai ``Model``
            (e.g. the scripted model of :mod:`tether.testing`).
        secondary: the fallback model, same forms.
        api_key: overrides the environment for the primary (the secondary reads its own).
        base_url: the primary's endpoint (local servers, proxies, test servers).
        secondary_base_url: the secondary's endpoint.
        retry: see :class:`RetryPolicy`.
        failure_threshold: failed calls in a row after which a model cools down.
        cooldown_s: seconds a failing model is skipped.
        timeout_s: HTTP timeout of one attempt, in seconds.
        prices: the price table (default: the bundled one, policy ``warn``).
        sleep: the async sleep used between retries (inject a recorder in tests).
        clock: monotonic seconds (for cool-downs).
        rng: uniform ``[0, 1)`` numbers for jitter.
        http_client: an ``httpx.AsyncClient`` for the provider SDKs.

    The provider, its key and its SDK are resolved at the first call, so a missing
    key is reported when the model is first needed, never at import.

    Example::

        llm = LLM("anthropic/claude-sonnet-4-20250514", secondary="openai/gpt-4.1-mini")
        reply = llm.complete([UserMessage("Why does make say 'No rule to make target'?")],
                             max_tokens=512)
        reply.text, reply.usage.output_tokens, reply.cost_usd
    """

    def __init__(
        self,
        model: str | Model | Any,
        *,
        secondary: str | Model | Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
        secondary_base_url: str | None = None,
        retry: RetryPolicy | None = None,
        failure_threshold: int = 2,
        cooldown_s: float = 60.0,
        timeout_s: float = 120.0,
        prices: PriceTable | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        http_client: Any = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.failure_threshold = max(1, failure_threshold)
        self.cooldown_s = cooldown_s
        self.timeout_s = timeout_s
        self._prices = prices
        self.sleep = sleep
        self.clock = clock
        self.rng = rng
        self.http_client = http_client
        self._options = [(api_key, base_url), (None, secondary_base_url)]
        self.slots = [self._slot(model)] + (
            [self._slot(secondary)] if secondary is not None else []
        )
        self.usage = Usage()
        """Tokens and requests over every call of this object."""
        self.cost_usd = 0.0
        """USD over every priced call (see :attr:`unpriced_calls`)."""
        self.unpriced_calls = 0
        """Calls whose model has no price in the table."""
        self._thread: LoopThread | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _slot(model: str | Model | Any) -> _Slot:
        if isinstance(model, str):
            from tether.llm.providers import parse_model

            spec = parse_model(model)
            return _Slot(str(spec), spec, None)
        from pydantic_ai.models import Model as PaiModel

        inner = getattr(model, "model", None)  # tether.testing.ScriptedModel wraps a FunctionModel
        if not isinstance(model, PaiModel) and isinstance(inner, PaiModel):
            model = inner
        if not isinstance(model, PaiModel):
            raise TypeError(
                f"model must be 'provider/model' or a pydantic-ai Model, got {type(model).__name__}"
            )
        name = f"{model.system}/{model.model_name}"
        return _Slot(name, None, model)

    def secondary_only(self) -> LLM | None:
        """A client whose only model is this one's secondary (same endpoint, retries, prices,
        clock), or ``None`` when there is no secondary. For work meant for the secondary, such
        as an escalation or a rule with ``use_secondary``."""
        if len(self.slots) < 2:
            return None
        slot = self.slots[1]
        return LLM(
            slot.given if slot.given is not None else slot.name,
            base_url=self._options[1][1],
            retry=self.retry,
            failure_threshold=self.failure_threshold,
            cooldown_s=self.cooldown_s,
            timeout_s=self.timeout_s,
            prices=self.prices,
            sleep=self.sleep,
            clock=self.clock,
            rng=self.rng,
            http_client=self.http_client,
        )

    @property
    def model(self) -> str:
        """The primary model's ``provider/model`` name."""
        return self.slots[0].name

    @property
    def has_key(self) -> bool:
        """True when the primary model can authenticate: an ``api_key`` was given, the
        provider needs none, or one of its key variables is set in the environment."""
        spec = self.slots[0].spec
        if spec is None or not spec.info.key_required or self._options[0][0]:
            return True
        return any(os.environ.get(var) for var in spec.info.env)

    @property
    def prices(self) -> PriceTable:
        """The price table in use."""
        if self._prices is None:
            from tether.llm.pricing import PriceTable

            self._prices = PriceTable.bundled()
        return self._prices

    # -- public API --------------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        *,
        max_tokens: int = 4096,
        temperature: float | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> LLMResponse:
        """Send one request (with retries and fallback) and return the answer.

        Args:
            messages: the conversation so far.
            tools: the tools the model may call.
            max_tokens: the output-token limit of this call.
            temperature: sampling temperature (provider default when ``None``).
            on_delta: called with each text delta as it streams in (the call is streamed). A
                stream that breaks after delivering text is neither retried nor failed over,
                so the caller never sees text twice: it raises ProviderUnavailable.

        Raises:
            ProviderRejected: the provider refused the request (no secondary, or it failed too).
            ProviderUnavailable: transient failures outlasted the retries, or every model is
                cooling down.
            ToolsUnsupported: a local model that cannot call tools was sent tools.
            MissingKey, ProviderMissing: a model is not usable here (raised even when a
                secondary is set: a configuration mistake is not a provider failure).
        """
        with self._lock:
            if self._thread is None:
                self._thread = LoopThread("tether-llm")
        return self._thread.run(
            self.acomplete(
                messages, tools, max_tokens=max_tokens, temperature=temperature, on_delta=on_delta
            )
        )

    async def acomplete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        *,
        max_tokens: int = 4096,
        temperature: float | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> LLMResponse:
        """The async form of :meth:`complete` (same arguments and errors)."""
        _require_provider_layer(self.slots[0])
        from tether.llm.convert import request_parameters, to_model_messages

        wire = to_model_messages(messages)
        params = request_parameters(tools)
        settings: dict[str, Any] = {"max_tokens": max(1, int(max_tokens))}
        if temperature is not None:
            settings["temperature"] = temperature
        spent = Usage()
        last: ProviderError | None = None
        stream = Deltas(on_delta) if on_delta is not None else None
        for index, slot in enumerate(self.slots):
            if stream is not None and stream.delivered:
                break  # text already reached the caller: another model would repeat it
            if slot.open_until > self.clock():
                left = slot.open_until - self.clock()
                last = ProviderUnavailable(
                    f"skipped: cooling down for {left:.0f} more s after {slot.failures} failed calls",
                    **self._where(slot),
                    attempts=0,
                )
                continue
            try:
                response = await self._try_slot(
                    slot, index, wire, params, settings, bool(tools), stream, spent
                )
            except (ToolsUnsupported, MissingKey, ProviderMissing):
                # The caller's setup is wrong: say so now instead of quietly using the secondary.
                self.usage.add(spent)
                raise
            except ProviderError as exc:
                last = exc
                continue
            except BaseException:
                self.usage.add(spent)  # requests that were sent still count
                raise
            response.usage = spent
            response.attempts = spent.requests
            response.cost_usd = self.prices.cost_usd(slot.name, spent)
            self._account(response)
            return response
        self.usage.add(spent)
        assert last is not None
        raise last

    # -- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _where(slot: _Slot) -> dict[str, str]:
        if slot.spec is not None:
            return {"provider": slot.spec.provider, "model": slot.spec.model}
        return {"provider": slot.name.split("/", 1)[0], "model": slot.name.split("/", 1)[-1]}

    def _model(self, slot: _Slot, index: int) -> Model:
        if slot.given is not None:
            return slot.given
        loop = asyncio.get_running_loop()
        model = slot.models.get(loop)
        if model is None:
            from tether.llm.providers import build_model

            api_key, base_url = self._options[index]
            assert slot.spec is not None
            model = build_model(
                slot.spec,
                api_key=api_key,
                base_url=base_url,
                timeout_s=self.timeout_s,
                http_client=self.http_client,
            )
            # Loops that are gone (``asyncio.run`` per call) drop their models instead of leaking.
            for gone in [old for old in slot.models if old.is_closed()]:
                del slot.models[gone]
            slot.models[loop] = model
        return model

    async def _try_slot(
        self,
        slot: _Slot,
        index: int,
        wire: list[Any],
        params: Any,
        settings: dict[str, Any],
        with_tools: bool,
        stream: Deltas | None,
        spent: Usage,
    ) -> LLMResponse:
        from tether.llm.convert import to_response

        model = self._model(slot, index)
        local = slot.spec is not None and slot.spec.provider in ("openai-compatible", "ollama")
        waited = 0.0
        failures = 0
        while True:
            spent.requests += 1
            try:
                raw = await send(model, wire, params, settings, stream)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = classify(exc, probe_tools=local and with_tools and not slot.tools_checked)
                if failure is None:
                    raise
            else:
                slot.failures, slot.open_until, slot.tools_checked = 0, 0.0, True
                response = to_response(raw, slot.name)
                spent.input_tokens += response.usage.input_tokens
                spent.output_tokens += response.usage.output_tokens
                spent.cache_read_tokens += response.usage.cache_read_tokens
                spent.cache_write_tokens += response.usage.cache_write_tokens
                return response
            secrets = self._secrets(index)
            if failure.kind == "tools":
                raise ToolsUnsupported(
                    f"the server refused a request with tools ({describe(failure, secrets)}); this "
                    "model cannot call tools — pick one that can (e.g. llama.cpp's server needs "
                    "--jinja, vLLM needs --enable-auto-tool-choice), or run without tools",
                    **self._where(slot),
                ) from None
            if failure.kind == "rejected":
                raise ProviderRejected(
                    f"request rejected ({describe(failure, secrets)}); not retried",
                    **self._where(slot),
                    status=failure.status,
                    kind=failure.rejected_kind,
                ) from safe_cause(failure.error, secrets)
            failures += 1
            if stream is not None and stream.delivered:
                raise ProviderUnavailable(
                    f"the stream broke after {stream.delivered} text deltas had been delivered "
                    f"({describe(failure, secrets)}); not retried, so no text is repeated",
                    **self._where(slot),
                    attempts=failures,
                ) from safe_cause(failure.error, secrets)
            wait = self.retry.wait_s(failures, failure.retry_after, self.rng)
            if failures >= self.retry.attempts or waited + wait > self.retry.max_wait_s:
                self._trip(slot)
                raise ProviderUnavailable(
                    f"gave up after {failures} attempts ({describe(failure, secrets)})",
                    **self._where(slot),
                    attempts=failures,
                ) from safe_cause(failure.error, secrets)
            waited += wait
            await self.sleep(wait)

    def _secrets(self, index: int) -> list[str]:
        """Values that must never appear in an error: the explicit key, secret-named env vars."""
        from tether.store.redact import secret_values

        api_key = self._options[index][0]
        return ([api_key] if api_key else []) + secret_values()

    def _trip(self, slot: _Slot) -> None:
        slot.failures += 1
        if slot.failures >= self.failure_threshold:
            slot.open_until = self.clock() + self.cooldown_s

    def _account(self, response: LLMResponse) -> None:
        self.usage.add(response.usage)
        if response.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += response.cost_usd

    def close(self) -> None:
        """Close the connections of the sync API and stop its private event loop (idempotent)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            with contextlib.suppress(Exception):  # best effort: the loop stops anyway
                thread.run(self._close_models(), timeout_s=5)
            thread.stop(5)

    async def aclose(self) -> None:
        """Close the connections opened by :meth:`acomplete` on the running event loop."""
        await self._close_models()

    async def _close_models(self) -> None:
        from tether.llm.providers import close_model

        loop = asyncio.get_running_loop()
        for slot in self.slots:
            model = slot.models.pop(loop, None)
            if model is not None and self.http_client is None:  # a given client is the caller's
                await close_model(model)

    def __repr__(self) -> str:
        names = " -> ".join(s.name for s in self.slots)
        return f"LLM({names})"
