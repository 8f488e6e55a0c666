"""The inbox: dedupe by key with a count, run ids, and the lifecycle, on both backends (a SQLite
file, then a fresh PostgreSQL schema: skipped locally without a server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tether.orchestrate import Inbox, OrchestrationError
from tether.store import open_store


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def inbox(any_store_url: str) -> Iterator[Inbox]:
    store = open_store(url=any_store_url)
    yield Inbox(store, clock=Clock())
    store.close()


def test_the_same_key_is_one_item_with_a_count_and_its_runs(inbox: Inbox) -> None:
    first = inbox.put("automation:x:ERROR", "x failed", detail="first", run_id="r1")
    assert isinstance(inbox.clock, Clock)
    inbox.clock.t = 2000.0
    inbox.put("automation:x:ERROR", "x failed", detail="second", run_id="r2")
    again = inbox.put("automation:x:ERROR", "x failed again", run_id="r2")
    assert again.id == first.id and again.count == 3
    assert again.run_ids == ("r1", "r2")  # each run once
    assert (again.first_seen_s, again.last_seen_s) == (1000.0, 2000.0)
    assert again.title == "x failed again" and again.status == "open"
    other = inbox.put("worktree:kept:feature", "worktree kept with 2 commits")
    assert [i.key for i in inbox.list()] == [other.key, first.key]  # latest seen first


def test_lifecycle_resolved_reopens_dismissed_and_acked_only_count(inbox: Inbox) -> None:
    item = inbox.put("k1", "one")
    assert inbox.ack(item.id).status == "acked"
    assert inbox.put("k1", "one").status == "acked"
    assert inbox.resolve("k1").status == "resolved"  # by key too
    assert inbox.put("k1", "one").status == "open"  # it happened again
    assert inbox.dismiss(str(item.id)).status == "dismissed"
    after = inbox.put("k1", "one")
    assert after.status == "dismissed" and after.count == 4
    assert inbox.list(status="open") == []
    assert [i.key for i in inbox.list(status=("dismissed",))] == ["k1"]


def test_unknown_items_and_bad_input_are_refused(inbox: Inbox) -> None:
    with pytest.raises(OrchestrationError, match="no item 'nope'"):
        inbox.get("nope")
    with pytest.raises(OrchestrationError):
        inbox.ack(42)
    with pytest.raises(ValueError, match="key"):
        inbox.put(" ", "t")
    with pytest.raises(ValueError, match="status"):
        inbox.set_status(1, "closed")  # type: ignore[arg-type]
