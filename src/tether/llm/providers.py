"""Model names (``provider/model``) and building a pydantic-ai model for them.

Providers tether knows, the key each reads from the environment, and where
its requests go:

=====================  ==========================================  ==================================
name                   key (first set wins)                        endpoint
=====================  ==========================================  ==================================
``anthropic``          ``ANTHROPIC_API_KEY``                       Anthropic Messages API
``openai``             ``OPENAI_API_KEY``                          OpenAI Chat Completions
``gemini``             ``GEMINI_API_KEY``, ``GOOGLE_API_KEY``      Gemini API (``google`` is an alias)
``copilot``            ``GITHUB_COPILOT_API_KEY``,                 GitHub Copilot's OpenAI-style API
                       ``COPILOT_GITHUB_TOKEN``, ``GITHUB_TOKEN``
``openai-compatible``  ``TETHER_LLM_API_KEY`` (optional)           ``base_url`` or ``TETHER_LLM_BASE_URL``
``ollama``             none                                        ``base_url`` or http://127.0.0.1:11434/v1
=====================  ==========================================  ==================================

GitHub Models (``models.github.ai``) was retired by GitHub on 2026-07-30; ``copilot/`` goes to
the Copilot API, which serves the same model families to the same tokens.

Each SDK client is built with its own retries switched off (``max_retries=0``):
:class:`tether.llm.client.LLM` is the one layer that retries, so one failure
never becomes several hidden calls. SDKs load on first use; a missing one is a
:class:`~tether.errors.ProviderMissing` naming the extra to install.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.errors import MissingKey, ProviderMissing, UnknownProvider

if TYPE_CHECKING:
    from pydantic_ai.models import Model

__all__ = ["PROVIDERS", "ModelSpec", "ProviderInfo", "build_model", "close_model", "parse_model"]


@dataclass(frozen=True)
class ProviderInfo:
    """What tether knows about a provider.

    Attributes:
        name: the prefix in ``provider/model``.
        env: environment variables holding its key, in order of preference.
        key_required: a missing key is an error (local servers need none).
        default_base_url: where requests go when no ``base_url`` is given (``None``: the SDK's).
        base_url_env: an environment variable that sets ``base_url``.
        sdk: the Python package that must be importable.
    """

    name: str
    env: tuple[str, ...]
    key_required: bool = True
    default_base_url: str | None = None
    base_url_env: str | None = None
    sdk: str = "openai"


PROVIDERS: dict[str, ProviderInfo] = {
    p.name: p
    for p in (
        ProviderInfo("anthropic", ("ANTHROPIC_API_KEY",), sdk="anthropic"),
        ProviderInfo("openai", ("OPENAI_API_KEY",)),
        ProviderInfo("gemini", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), sdk="google.genai"),
        ProviderInfo(
            "copilot",
            ("GITHUB_COPILOT_API_KEY", "COPILOT_GITHUB_TOKEN", "GITHUB_TOKEN"),
            default_base_url="https://api.githubcopilot.com",
        ),
        ProviderInfo(
            "openai-compatible",
            ("TETHER_LLM_API_KEY",),
            key_required=False,
            base_url_env="TETHER_LLM_BASE_URL",
        ),
        ProviderInfo(
            "ollama",
            ("TETHER_LLM_API_KEY",),
            key_required=False,
            default_base_url="http://127.0.0.1:11434/v1",
            base_url_env="OLLAMA_BASE_URL",
        ),
    )
}
_ALIASES = {
    "google": "gemini",
    "google-gla": "gemini",
    "github": "copilot",
    "local": "openai-compatible",
}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name: ``provider/model``.

    Attributes:
        provider: the provider's canonical name (aliases resolved).
        model: the model name as the provider knows it (may itself contain ``/``).
    """

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def info(self) -> ProviderInfo:
        """The provider's entry in :data:`PROVIDERS`."""
        return PROVIDERS[self.provider]


def parse_model(name: str) -> ModelSpec:
    """Parse ``"provider/model"`` (``"provider:model"`` is accepted too).

    Raises:
        UnknownProvider: no provider prefix, or one tether does not know (with a suggestion).
    """
    text = name.strip()
    cut = min((i for i in (text.find("/"), text.find(":")) if i > 0), default=-1)
    if cut <= 0 or cut == len(text) - 1:
        raise UnknownProvider(
            f"model {name!r} needs a provider prefix, e.g. 'anthropic/claude-sonnet-4-20250514'; "
            f"providers: {', '.join(PROVIDERS)}"
        )
    provider, model = text[:cut].lower(), text[cut + 1 :]
    provider = _ALIASES.get(provider, provider)
    if provider not in PROVIDERS:
        close = difflib.get_close_matches(provider, [*PROVIDERS, *_ALIASES], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownProvider(
            f"unknown provider {provider!r} in model {name!r}; {hint}providers: {', '.join(PROVIDERS)}",
            provider=provider,
            model=model,
        )
    return ModelSpec(provider, model)


def _key(spec: ModelSpec, api_key: str | None) -> str | None:
    if api_key:
        return api_key
    for var in spec.info.env:
        value = os.environ.get(var)
        if value:
            return value
    if spec.info.key_required:
        names = " or ".join(spec.info.env)
        raise MissingKey(
            f"no API key: set {names} in the environment (or pass api_key=)",
            provider=spec.provider,
            model=spec.model,
            env=spec.info.env,
        )
    return None


def _base_url(spec: ModelSpec, base_url: str | None) -> str | None:
    if base_url:
        return base_url
    if spec.info.base_url_env and os.environ.get(spec.info.base_url_env):
        return os.environ[spec.info.base_url_env]
    if spec.provider == "openai-compatible":
        raise MissingKey(
            "no server address: pass base_url= or set TETHER_LLM_BASE_URL "
            "(e.g. http://127.0.0.1:8080/v1 for llama.cpp's server, http://127.0.0.1:8000/v1 for vLLM)",
            provider=spec.provider,
            model=spec.model,
            env=("TETHER_LLM_BASE_URL",),
        )
    return spec.info.default_base_url


def _missing(spec: ModelSpec, exc: ImportError) -> ProviderMissing:
    return ProviderMissing(
        f"the {spec.info.sdk} SDK is not installed ({exc.name or exc}); "
        "install it with: pip install 'tether[llm]'",
        provider=spec.provider,
        model=spec.model,
        extra="llm",
    )


def build_model(
    spec: ModelSpec,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout_s: float = 120.0,
    http_client: Any = None,
) -> Model:
    """Build the pydantic-ai model for ``spec`` with SDK retries off.

    Args:
        spec: the parsed model name.
        api_key: overrides the environment.
        base_url: overrides the provider's endpoint (local servers, proxies, test servers).
        timeout_s: the HTTP timeout of one request attempt, in seconds.
        http_client: an ``httpx.AsyncClient`` to send requests with (tests, proxies).

    Raises:
        MissingKey: the provider needs a key (or a server address) that is not set.
        ProviderMissing: the provider's SDK is not installed.
    """
    key = _key(spec, api_key)
    url = _base_url(spec, base_url)
    try:
        if spec.provider == "anthropic":
            return _anthropic(spec, key, url, timeout_s, http_client)
        if spec.provider == "gemini":
            return _gemini(spec, key, url, timeout_s, http_client)
        return _openai(spec, key, url, timeout_s, http_client)
    except ImportError as exc:
        raise _missing(spec, exc) from None


def _anthropic(
    spec: ModelSpec, key: str | None, url: str | None, timeout_s: float, http: Any
) -> Model:
    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    client = AsyncAnthropic(
        api_key=key, base_url=url, max_retries=0, timeout=timeout_s, http_client=http
    )
    return AnthropicModel(spec.model, provider=AnthropicProvider(anthropic_client=client))


def _openai(
    spec: ModelSpec, key: str | None, url: str | None, timeout_s: float, http: Any
) -> Model:
    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    headers: dict[str, str] = {}
    if spec.provider == "copilot":
        headers = {
            "copilot-integration-id": os.environ.get("GITHUB_COPILOT_INTEGRATION_ID", "vscode-chat")
        }
    client = AsyncOpenAI(
        api_key=key or "not-needed",
        base_url=url,
        max_retries=0,
        timeout=timeout_s,
        http_client=http,
        default_headers=headers or None,
    )
    return OpenAIChatModel(spec.model, provider=OpenAIProvider(openai_client=client))


def _gemini(
    spec: ModelSpec, key: str | None, url: str | None, timeout_s: float, http: Any
) -> Model:
    from google.genai import Client
    from google.genai.types import HttpOptions, HttpRetryOptions
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    options = HttpOptions(
        base_url=url,
        timeout=int(timeout_s * 1000),
        retry_options=HttpRetryOptions(attempts=1),
        httpx_async_client=http,
    )
    client = Client(vertexai=False, api_key=key, http_options=options)
    return GoogleModel(spec.model, provider=GoogleProvider(client=client))


async def close_model(model: Model) -> None:
    """Close the SDK client of a model made by :func:`build_model` (its connection pool)."""
    client = getattr(model, "client", None)
    aio = getattr(client, "aio", None)  # google-genai: the async half closes its own pool
    close = getattr(
        aio if aio is not None else client, "aclose" if aio is not None else "close", None
    )
    if close is None:
        return
    result = close()
    if hasattr(result, "__await__"):
        await result
