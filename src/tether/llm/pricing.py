"""What tokens cost: a price table with an as-of date, and what to do when it is old.

Tokens are authoritative: every call's tokens are counted whether or not a
price is known. USD is derived from a table of list prices (USD per million
input / output / cached-input tokens) that carries the date it was read.
Prices change, so a table older than :data:`MAX_AGE_DAYS` triggers the
chosen :data:`PricingPolicy`:

- ``warn`` (default): say so once, keep computing USD from the old prices;
- ``token-only``: stop computing USD (``cost_usd`` is ``None``), tokens only;
- ``refuse``: refuse a USD ceiling (:class:`~tether.errors.PricingStale`), since
  it could not be enforced honestly.

A user table (same JSON shape as the bundled ``prices.json``) replaces the
bundled one with :meth:`PriceTable.from_file`.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeAlias

from tether.errors import ConfigError, PricingStale
from tether.llm.types import Usage

__all__ = ["MAX_AGE_DAYS", "Price", "PriceTable", "PricingPolicy"]

_SNAPSHOT = re.compile(r"$|[-@:](?:\d|latest$)")
"""What may follow a table entry in a model name it prices: nothing, a date or version, ``-latest``."""

MAX_AGE_DAYS = 90
"""A table older than this many days is stale."""

PricingPolicy: TypeAlias = Literal["warn", "token-only", "refuse"]
"""What a stale table means; see the module docstring."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float | None = None

    def cost_usd(self, usage: Usage) -> float:
        """The price of ``usage``; cached input at the cache-read price when known."""
        cached = (
            min(usage.cache_read_tokens, usage.input_tokens) if self.cache_read is not None else 0
        )
        fresh = usage.input_tokens - cached
        total = (
            fresh * self.input
            + cached * (self.cache_read or 0.0)
            + usage.output_tokens * self.output
        )
        return total / 1_000_000


class PriceTable:
    """Prices by ``provider/model`` prefix, with the date they were read.

    Args:
        prices: ``{"provider/model": Price}``; an entry also prices its snapshots, so
            ``anthropic/claude-sonnet-4`` prices ``anthropic/claude-sonnet-4-20250514`` (see :meth:`price`).
        as_of: when the prices were read.
        source: where they came from.
        policy: what a stale table means (see :data:`PricingPolicy`).
        today: the current date (injectable for tests); default ``date.today()`` at each check.
    """

    def __init__(
        self,
        prices: dict[str, Price],
        *,
        as_of: date,
        source: str = "",
        policy: PricingPolicy = "warn",
        today: date | None = None,
    ) -> None:
        if policy not in ("warn", "token-only", "refuse"):
            raise ConfigError(f"pricing policy {policy!r}: use 'warn', 'token-only' or 'refuse'")
        self.prices = dict(prices)
        self.as_of = as_of
        self.source = source
        self.policy: PricingPolicy = policy
        self._today = today
        self._warned = False
        self._order = sorted(self.prices, key=len, reverse=True)

    @classmethod
    def bundled(cls, *, policy: PricingPolicy = "warn", today: date | None = None) -> PriceTable:
        """The table shipped with tether (``tether/llm/prices.json``)."""
        text = resources.files("tether.llm").joinpath("prices.json").read_text(encoding="utf-8")
        return cls._parse(json.loads(text), "tether/llm/prices.json", policy, today)

    @classmethod
    def from_file(
        cls, path: str | Path, *, policy: PricingPolicy = "warn", today: date | None = None
    ) -> PriceTable:
        """A table from a JSON file shaped like the bundled one.

        Raises:
            ConfigError: the file is missing, not JSON, or a field is wrong (named in the message).
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read the price table ({exc})") from None
        return cls._parse(data, str(path), policy, today)

    @classmethod
    def _parse(cls, data: Any, where: str, policy: PricingPolicy, today: date | None) -> PriceTable:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: the price table must be a JSON object")
        try:
            as_of = date.fromisoformat(str(data["as_of"]))
        except (KeyError, ValueError):
            raise ConfigError(f"{where}: field 'as_of' must be a date like 2026-11-21") from None
        models = data.get("models")
        if not isinstance(models, dict):
            raise ConfigError(f"{where}: field 'models' must map 'provider/model' to prices")
        prices: dict[str, Price] = {}
        for name, entry in models.items():
            try:
                prices[name] = Price(
                    float(entry["input"]),
                    float(entry["output"]),
                    None if entry.get("cache_read") is None else float(entry["cache_read"]),
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                raise ConfigError(
                    f"{where}: field 'models.{name}' needs numbers 'input' and 'output' "
                    "(USD per million tokens)"
                ) from None
        return cls(
            prices, as_of=as_of, source=str(data.get("source", "")), policy=policy, today=today
        )

    # -- lookups -----------------------------------------------------------------------------------

    def price(self, model: str) -> Price | None:
        """The price of ``provider/model``, or ``None``.

        An entry prices its exact name and its dated or ``-latest`` snapshots
        (``openai/gpt-4o`` prices ``openai/gpt-4o-2024-08-06``), never a sibling model
        (``openai/gpt-5`` does not price ``openai/gpt-5-pro``, nor ``openai/o3`` ``o3-mini``):
        an unknown model is unpriced rather than priced wrong. The longest entry wins.
        """
        for key in self._order:
            if model.startswith(key) and _SNAPSHOT.match(model, len(key)):
                return self.prices[key]
        return None

    def age_days(self) -> int:
        """Days since :attr:`as_of`."""
        return ((self._today or date.today()) - self.as_of).days

    @property
    def stale(self) -> bool:
        """Older than :data:`MAX_AGE_DAYS`."""
        return self.age_days() > MAX_AGE_DAYS

    def cost_usd(self, model: str, usage: Usage) -> float | None:
        """The price of ``usage`` on ``model``; ``None`` when the model is not in the table or the
        table is stale under the ``token-only`` policy. Warns once when stale under ``warn``."""
        if self.stale:
            if self.policy == "token-only":
                return None
            self._warn_stale()
        price = self.price(model)
        return None if price is None else price.cost_usd(usage)

    def check_ceiling(self, cost_limit_usd: float | None) -> None:
        """Check that a USD ceiling can be enforced (called when a run with one starts).

        Raises:
            PricingStale: the table is stale and the policy is ``refuse``.
        """
        if cost_limit_usd is None or not self.stale:
            return
        if self.policy == "refuse":
            raise PricingStale(
                f"the price table is {self.age_days()} days old (as of {self.as_of}, more than "
                f"{MAX_AGE_DAYS}); a USD ceiling would rest on old prices. Update the table "
                "(PriceTable.from_file), use pricing policy 'warn', or set a token ceiling instead",
                as_of=self.as_of.isoformat(),
            )
        self._warn_stale()

    def _warn_stale(self) -> None:
        if self._warned:
            return
        self._warned = True
        warnings.warn(
            f"tether: the price table is {self.age_days()} days old (as of {self.as_of}); USD figures "
            "may be wrong, token counts are exact",
            stacklevel=3,
        )
