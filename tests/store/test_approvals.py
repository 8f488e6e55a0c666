"""Approvals through the Store protocol: open_store, single-use decisions, store URLs, compat."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tether.errors import ConfigError
from tether.loop.approval import (
    ApprovalError,
    ApprovalRequest,
    HeadlessApproval,
    approval_store,
    decide,
)
from tether.store import Store, open_store, store_url
from tether.store.sqlite import SQLiteStore


def _pending(store: Store, token: str = "apv_x", *, expires_s: float = 2e9) -> None:
    store.add_approval(token, "/runs/s", {"requests": [{"tool": "write"}]}, 1.0, expires_s)


def test_open_store_opens_the_homes_sqlite_file(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert isinstance(store, SQLiteStore)
    _pending(store)
    store.close()
    assert (tmp_path / "tether.db").is_file()
    assert store_url(tmp_path) == "sqlite://" + str((tmp_path / "tether.db").absolute())
    again = open_store(url=store_url(tmp_path))
    assert [r["token"] for r in again.pending_approvals()] == ["apv_x"]
    again.close()


def test_unknown_scheme_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'mysql'.*sqlite:// and postgresql://"):
        open_store(url="mysql://u:pw@db/tether")


def test_two_connections_deciding_at_once_only_one_wins(any_store_url: str) -> None:
    first, second = open_store(url=any_store_url), open_store(url=any_store_url)
    tokens = [f"apv_{i}" for i in range(20)]
    for t in tokens:
        _pending(first, t)
    # many tokens, so a lost race would show
    wins: dict[str, list[str]] = {t: [] for t in tokens}
    barrier = threading.Barrier(2)

    def decider(store: Store, name: str) -> None:
        barrier.wait()
        for t in tokens:
            if store.set_approval_status(t, "approved", now_s=5.0):
                wins[t].append(name)

    threads = [
        threading.Thread(target=decider, args=(s, n)) for s, n in ((first, "a"), (second, "b"))
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(len(w) == 1 for w in wins.values()), wins
    assert not second.set_approval_status("apv_0", "denied", now_s=6.0)  # used: stays approved
    row = first.get_approval("apv_0")
    assert row is not None and row["status"] == "approved"
    first.close()
    second.close()


def test_decide_is_single_use_and_expires(any_store_url: str) -> None:
    url = any_store_url
    store = open_store(url=url)
    _pending(store, "apv_a")
    _pending(store, "apv_old", expires_s=10.0)
    store.close()
    assert decide(url, "apv_a", True, clock=lambda: 5.0)["status"] == "approved"
    with pytest.raises(ApprovalError, match="already approved"):
        decide(url, "apv_a", False, clock=lambda: 6.0)
    with pytest.raises(ApprovalError, match="expired"):
        decide(url, "apv_old", True, clock=lambda: 11.0)
    reopened = open_store(url=url)
    row = reopened.get_approval("apv_old")
    assert row is not None and row["status"] == "expired"
    reopened.close()


def test_a_pending_record_keeps_a_store_url_and_old_path_records_still_load(tmp_path: Path) -> None:
    runner = HeadlessApproval(store=tmp_path / "tether.db", clock=lambda: 1.0)
    request = ApprovalRequest(tool="write", arguments={}, reason="writes", iteration=1)
    pending = runner.issue("/runs/s", [request])
    assert pending["store"] == store_url(tmp_path)
    store = approval_store(pending)
    assert store.get_approval(pending["token"]) is not None
    store.close()
    old = approval_store({**pending, "store": str(tmp_path / "tether.db")})  # before store URLs
    assert old.get_approval(pending["token"]) is not None
    old.close()
    assert HeadlessApproval(store=pending["store"]).store_path() == tmp_path / "tether.db"
