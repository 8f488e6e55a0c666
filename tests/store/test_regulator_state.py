"""The store's per-user regulator state: saved, replaced, read back, per user (both backends)."""

from __future__ import annotations

from tether.store import open_store


def test_regulator_state_is_kept_per_user_and_replaced(any_store_url: str) -> None:
    store = open_store(url=any_store_url)
    assert store.load_regulator_state("alice") is None
    store.save_regulator_state("alice", '{"v": 1}')
    store.save_regulator_state("bob", '{"v": "b"}')
    store.save_regulator_state("alice", '{"v": 2}')
    store.close()

    again = open_store(url=any_store_url)  # as another process would
    assert again.load_regulator_state("alice") == '{"v": 2}'
    assert again.load_regulator_state("bob") == '{"v": "b"}'
    assert again.load_regulator_state("carol") is None
    again.close()
