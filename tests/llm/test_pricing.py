"""The price table: lookups, cache-read prices, staleness policies, and file errors."""

from __future__ import annotations

import json
import warnings
from datetime import date, timedelta
from pathlib import Path

import pytest

from tether.errors import ConfigError, PricingStale
from tether.llm.pricing import MAX_AGE_DAYS, Price, PriceTable
from tether.llm.types import Usage

AS_OF = date(2026, 3, 1)
FRESH = AS_OF + timedelta(days=MAX_AGE_DAYS)  # exactly 90 days: still fresh
STALE = AS_OF + timedelta(days=MAX_AGE_DAYS + 1)

PRICES = {
    "openai/gpt-4o": Price(2.5, 10.0, 1.25),
    "openai/gpt-4o-mini": Price(0.15, 0.6),
    "anthropic/claude-sonnet-4": Price(3.0, 15.0, 0.3),
}


def table(today: date = FRESH, policy: str = "warn") -> PriceTable:
    return PriceTable(PRICES, as_of=AS_OF, today=today, policy=policy)  # type: ignore[arg-type]


def test_longest_prefix_wins():
    t = table()
    assert t.price("openai/gpt-4o-mini-2024-07-18") is PRICES["openai/gpt-4o-mini"]
    assert t.price("openai/gpt-4o-2024-08-06") is PRICES["openai/gpt-4o"]
    assert t.price("anthropic/claude-sonnet-4-20250514") is PRICES["anthropic/claude-sonnet-4"]
    assert t.price("openai/gpt-3.5-turbo") is None


def test_cost_of_input_and_output_per_million():
    cost = table().cost_usd("openai/gpt-4o", Usage(input_tokens=1_000_000, output_tokens=500_000))
    assert cost == pytest.approx(2.5 + 5.0)


def test_cache_read_tokens_are_priced_at_the_cache_rate():
    usage = Usage(input_tokens=10_000, output_tokens=0, cache_read_tokens=8_000)
    assert table().cost_usd("openai/gpt-4o", usage) == pytest.approx(
        (2_000 * 2.5 + 8_000 * 1.25) / 1e6
    )


def test_without_a_cache_rate_cached_tokens_cost_full_price():
    usage = Usage(input_tokens=10_000, cache_read_tokens=8_000)
    assert table().cost_usd("openai/gpt-4o-mini", usage) == pytest.approx(10_000 * 0.15 / 1e6)


def test_cache_reads_above_input_are_not_priced_twice():
    price = Price(1.0, 1.0, 0.5)
    assert price.cost_usd(Usage(input_tokens=100, cache_read_tokens=500)) == pytest.approx(
        100 * 0.5 / 1e6
    )


def test_unknown_model_costs_none():
    assert table().cost_usd("mystery/model", Usage(input_tokens=10)) is None


def test_the_bundled_table_prices_the_common_models():
    t = PriceTable.bundled(today=date(2026, 11, 22))
    assert t.as_of == date(2026, 11, 21)
    for model in (
        "anthropic/claude-sonnet-4-20250514",
        "openai/gpt-4.1-mini",
        "gemini/gemini-2.0-flash",
    ):
        assert t.price(model) is not None, model
    assert not t.stale


# -- staleness ---------------------------------------------------------------------------------------


def test_90_days_is_fresh_91_is_stale():
    assert table(FRESH).age_days() == 90 and not table(FRESH).stale
    assert table(STALE).stale


def test_fresh_table_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert table(FRESH).cost_usd("openai/gpt-4o", Usage(input_tokens=1)) is not None
        table(FRESH, "refuse").check_ceiling(5.0)


def test_warn_policy_warns_once_and_keeps_pricing():
    t = table(STALE, "warn")
    with pytest.warns(UserWarning, match="91 days old") as record:
        first = t.cost_usd("openai/gpt-4o", Usage(input_tokens=1_000_000))
        t.cost_usd("openai/gpt-4o", Usage(input_tokens=1_000_000))
        t.check_ceiling(10.0)
    assert first == pytest.approx(2.5)
    assert len(record) == 1


def test_token_only_policy_drops_usd():
    t = table(STALE, "token-only")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert t.cost_usd("openai/gpt-4o", Usage(input_tokens=1_000_000)) is None


def test_token_only_on_a_fresh_table_still_prices():
    assert table(FRESH, "token-only").cost_usd("openai/gpt-4o", Usage(input_tokens=1)) is not None


def test_refuse_policy_refuses_a_usd_ceiling():
    t = table(STALE, "refuse")
    with pytest.raises(PricingStale) as info:
        t.check_ceiling(5.0)
    assert info.value.as_of == "2026-03-01"
    assert "token ceiling" in str(info.value)
    t.check_ceiling(None)  # no USD ceiling: nothing to refuse


def test_pricing_stale_survives_pickling():
    import pickle

    err = PricingStale("old", as_of="2026-03-01")
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), str(again), again.as_of) == (PricingStale, str(err), "2026-03-01")


def test_unknown_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="'warn', 'token-only' or 'refuse'"):
        table(policy="sometimes")


# -- from_file ---------------------------------------------------------------------------------------


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_from_file_reads_a_user_table(tmp_path):
    path = _write(tmp_path, {"as_of": "2026-05-01", "source": "mine", "models": {
        "local/qwen": {"input": 0, "output": 0},
        "openai/gpt-4o": {"input": 2, "output": 8, "cache_read": 1},
    }})  # fmt: skip
    t = PriceTable.from_file(path, policy="token-only", today=date(2026, 5, 2))
    assert (t.as_of, t.source, t.policy) == (date(2026, 5, 1), "mine", "token-only")
    assert t.price("openai/gpt-4o") == Price(2.0, 8.0, 1.0)
    assert t.cost_usd("local/qwen", Usage(input_tokens=100)) == 0.0


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"models": {}}, "'as_of'"),
        ({"as_of": "yesterday", "models": {}}, "'as_of'"),
        ({"as_of": "2026-05-01"}, "'models'"),
        ({"as_of": "2026-05-01", "models": []}, "'models'"),
        ({"as_of": "2026-05-01", "models": {"a/b": {"input": 1}}}, "'models.a/b'"),
        ({"as_of": "2026-05-01", "models": {"a/b": {"input": "cheap", "output": 1}}}, "'models.a/b'"),
        ({"as_of": "2026-05-01", "models": {"a/b": 3}}, "'models.a/b'"),
        ({"as_of": "2026-05-01", "models": {"a/b": {"input": 1, "output": 1, "cache_read": "x"}}},
         "'models.a/b'"),
    ],
)  # fmt: skip
def test_from_file_names_the_bad_field(tmp_path, content, field):
    path = _write(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        PriceTable.from_file(path)
    assert field in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_from_file_rejects_non_tables(tmp_path, content):
    with pytest.raises(ConfigError, match=r"prices\.json"):
        PriceTable.from_file(_write(tmp_path, content))


def test_from_file_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the price table"):
        PriceTable.from_file(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("model", "priced_as"),
    [
        ("openai/gpt-4o", "openai/gpt-4o"),
        ("openai/gpt-4o-2024-08-06", "openai/gpt-4o"),
        ("anthropic/claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"),
        ("anthropic/claude-sonnet-4@20250514", "anthropic/claude-sonnet-4"),
        ("anthropic/claude-sonnet-4-latest", "anthropic/claude-sonnet-4"),
        ("openai/gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"),
        ("openai/gpt-4o-audio-preview", None),  # a sibling model, not a snapshot
        ("openai/gpt-4oo", None),
        ("anthropic/claude-sonnet-45", None),
    ],
)
def test_entries_price_their_snapshots_never_their_siblings(model, priced_as):
    expected = None if priced_as is None else PRICES[priced_as]
    assert table().price(model) is expected


def test_bundled_table_does_not_misprice_siblings():
    t = PriceTable.bundled(today=date(2026, 11, 22))
    assert t.price("openai/gpt-5-pro") is None  # not gpt-5's price (it costs 12x)
    assert t.price("openai/o3-mini") is None  # not o3's
    assert t.price("openai/gpt-5-mini") == Price(0.25, 2.0, 0.025)
