"""The store's per-user regulator state: saved, replaced, read back, per user."""

from __future__ import annotations

from pathlib import Path

from tether.store.sqlite import SQLiteStore


def test_regulator_state_is_kept_per_user_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "tether.db"
    store = SQLiteStore(path)
    assert store.load_regulator_state("alice") is None
    store.save_regulator_state("alice", '{"v": 1}')
    store.save_regulator_state("bob", '{"v": "b"}')
    store.save_regulator_state("alice", '{"v": 2}')
    store.close()

    again = SQLiteStore(path)  # as another process would
    assert again.load_regulator_state("alice") == '{"v": 2}'
    assert again.load_regulator_state("bob") == '{"v": "b"}'
    assert again.load_regulator_state("carol") is None
    again.close()
