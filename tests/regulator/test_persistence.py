"""Learned corrections persist per user in the SQLite store, across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tether.regulator import InvalidSettingError, LLMEvent, Regulator, SnapshotError
from tether.store.sqlite import SQLiteStore

TEACH = textwrap.dedent(
    """
    import sys
    from tether.regulator import LLMEvent, Regulator
    from tether.store.sqlite import SQLiteStore

    store = SQLiteStore(sys.argv[1])
    r = Regulator.for_user(sys.argv[2], store=store, autosave=True)
    for text in ("use tabs", "no type hints", "keep it short"):
        r.on_event(LLMEvent.turn_start("Refactor the fetch_user database function"))
        r.on_event(LLMEvent.user_correction(text))
    store.close()
    """
)
ASK = textwrap.dedent(
    """
    import sys
    from tether.regulator import LLMEvent, Regulator
    from tether.store.sqlite import SQLiteStore

    r = Regulator.for_user(sys.argv[2], store=SQLiteStore(sys.argv[1]))
    r.on_event(LLMEvent.turn_start("refactoring fetch_user's database functions"))
    d = r.decide()
    print(d.kind, "|".join(d.patterns[0].example_corrections) if d.patterns else "")
    """
)


def run(code: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_corrections_learned_in_one_process_apply_in_another(tmp_path: Path) -> None:
    db = str(tmp_path / "tether.db")
    run(TEACH, db, "alice")
    assert run(ASK, db, "alice") == "procedural_warning keep it short|no type hints|use tabs"
    assert run(ASK, db, "bob") == "continue"  # per user


def test_save_writes_on_demand_and_needs_a_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tether.db")
    r = Regulator.for_user("carol")
    r.on_event(LLMEvent.turn_start("Plan the kubernetes upgrade"))
    for _ in range(3):
        r.on_event(LLMEvent.user_correction("staging first"))
    with pytest.raises(InvalidSettingError, match="no store"):
        r.save()
    assert store.load_regulator_state("carol") is None
    r.save(store)
    again = Regulator.for_user("carol", store=store)
    again.on_event(LLMEvent.turn_start("Plan the kubernetes upgrade"))
    assert again.decide().kind == "procedural_warning"
    store.close()


def test_a_corrupted_saved_state_is_a_typed_error_and_is_kept(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tether.db")
    store.save_regulator_state("dave", '{"format": "tether.regulator.learned", "version": 1')
    with pytest.raises(SnapshotError):
        Regulator.for_user("dave", store=store)
    assert store.load_regulator_state("dave") is not None  # nothing overwritten
    store.close()
