"""Deep recovery: cascading real failures, depth limits, cycles, failed rules, retry with backoff.

Each failure comes from running code for real (a marked function touching
files, or a real shell command); only waiting is injected, so backoff is
recorded instead of slept.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import missing_file_rule, write_rule
from tether import Tether
from tether.recover.loop import RecoveryEvent

# -- helpers --------------------------------------------------------------------------------------


def stderr_rule(home: Path, name: str, regex: str, action: str) -> None:
    """A rule matching ``regex`` in a command's stderr, passing its ``path`` capture to ``action``."""
    rule = {
        "name": name,
        "when": [{"fact": "stderr", "regex": regex}],
        "then": [{"action": action, "params": {"path": "{path}"}}],
    }
    write_rule(home, name, yaml.safe_dump(rule))


def observations(home: Path) -> list[dict[str, Any]]:
    path = home / "observations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def trail(home: Path) -> list[tuple[str, str, int]]:
    return [(o["rule"], o["outcome"], o["depth"]) for o in observations(home)]


def stats(t: Tether) -> dict[str, tuple[int, int, int]]:
    return {s.rule: (s.hits, s.successes, s.failures) for s in t.stats()}


# -- three cascading failures, three rules --------------------------------------------------------


def publishing_engine(home: Path, work: Path, sleeps: list[float], **kwargs: Any) -> Tether:
    """Rules for the three failures of :func:`publisher`, each fixing one of them."""
    (work / "settings.ini.example").write_text("channel = stable\n")
    missing_file_rule(home, "settings-from-template", "copy_template", "settings.ini")
    missing_file_rule(home, "create-output-dir", "make_parent", "out/report.txt")
    missing_file_rule(home, "write-stamp", "write_stamp", "out/stamp")
    t = Tether(home, starter_rules=False, sleep=sleeps.append, **kwargs)

    @t.action("copy_template")
    def copy_template(path: str) -> None:
        Path(path).write_text(Path(path + ".example").read_text())

    @t.action("make_parent")
    def make_parent(path: str) -> None:
        Path(path).parent.mkdir()

    @t.action("write_stamp")
    def write_stamp(path: str) -> None:
        Path(path).write_text("v1")

    return t


def publisher(t: Tether, work: Path, raised: list[BaseException], **settings: Any) -> Any:
    @t.mark(**settings)
    def publish() -> str:
        try:
            config = (work / "settings.ini").read_text()  # 1: the config is missing
            (work / "out" / "report.txt").write_text(config)  # 2: its directory is missing
            return (work / "out" / "stamp").read_text() + ":" + config  # 3: the stamp is missing
        except OSError as exc:
            raised.append(exc)
            raise

    return publish


def test_three_cascading_failures_recover_through_three_levels(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    events: list[RecoveryEvent] = []
    t = publishing_engine(home, tmp_path, sleeps, on_event=events.append)
    raised: list[BaseException] = []
    publish = publisher(t, tmp_path, raised)

    assert publish() == "v1:channel = stable\n"

    assert [type(e) for e in raised] == [FileNotFoundError] * 3
    assert trail(home) == [
        ("settings-from-template", "progress", 1),
        ("create-output-dir", "progress", 2),
        ("write-stamp", "success", 3),
    ]
    assert [e.kind for e in events if e.kind in ("progress", "recovered", "gave_up")] == [
        "progress",
        "progress",
        "recovered",
    ]
    assert stats(t) == {
        "settings-from-template": (1, 1, 0),
        "create-output-dir": (1, 1, 0),
        "write-stamp": (1, 1, 0),
    }
    assert sleeps == []


@pytest.mark.parametrize(
    ("max_depth", "deepest"), [(1, "out/report.txt"), (2, "out/stamp")], ids=["depth1", "depth2"]
)
def test_max_depth_stops_at_its_level_and_surfaces_the_deepest_failure(
    home: Path, tmp_path: Path, sleeps: list[float], max_depth: int, deepest: str
) -> None:
    t = publishing_engine(home, tmp_path, sleeps)
    raised: list[BaseException] = []
    publish = publisher(t, tmp_path, raised, max_depth=max_depth)

    with pytest.raises(FileNotFoundError) as info:
        publish()

    assert len(raised) == max_depth + 1
    assert info.value is raised[-1]  # the failure of the deepest level reached
    assert info.value.filename == str(tmp_path / deepest)
    assert trail(home) == [(r, "progress", d + 1) for d, r in enumerate(
        ["settings-from-template", "create-output-dir"][:max_depth])]  # fmt: skip
    [note] = info.value.__notes__
    assert f"max_depth={max_depth}" in note
    assert f"at depth {max_depth + 1}" in note


def test_engine_default_max_depth_applies_to_marked_functions(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    t = publishing_engine(home, tmp_path, sleeps, max_depth=1)
    raised: list[BaseException] = []
    publish = publisher(t, tmp_path, raised)
    with pytest.raises(FileNotFoundError):
        publish()
    assert len(raised) == 2


def test_command_cascade_reports_progress_progress_success(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    work = tmp_path / "job"
    work.mkdir()
    (work / "settings.ini.example").write_text("channel = stable\n")
    for name, regex, action in [
        ("settings-from-template", r"cat: (?P<path>settings.ini): No such file", "copy_template"),
        ("create-output-dir", r"cannot create regular file '(?P<path>[^']+)'", "make_parent"),
        ("write-stamp", r"cat: (?P<path>out/stamp): No such file", "write_stamp"),
    ]:
        stderr_rule(home, name, regex, action)
    t = Tether(home, starter_rules=False, sleep=sleeps.append)
    t.action("copy_template")(
        lambda path: Path(path).write_text(Path(path + ".example").read_text())
    )
    t.action("make_parent")(lambda path: Path(path).parent.mkdir())
    t.action("write_stamp")(lambda path: Path(path).write_text("v1\n"))

    script = "cat settings.ini >/dev/null && cp settings.ini out/settings.ini && cat out/stamp"
    result, outcome = t.run_command(["sh", "-c", script], cwd=work, stream=False)

    assert result.exit_code == 0 and result.stdout == "v1\n"
    assert outcome is not None and outcome.recovered and outcome.levels == 3
    assert [(a.rule, a.outcome, a.level) for a in outcome.attempts] == [
        ("settings-from-template", "progress", 1),
        ("create-output-dir", "progress", 2),
        ("write-stamp", "success", 3),
    ]


def test_command_cascade_with_absolute_tmp_paths_is_not_a_cycle(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    work = tmp_path / "job"
    work.mkdir()
    stderr_rule(home, "create-missing", "cat: (?P<path>[^:]+): No such file", "create_file")
    t = Tether(home, starter_rules=False, sleep=sleeps.append)
    t.action("create_file")(lambda path: Path(path).write_text("x"))

    script = f"cat {work}/first.txt && cat {work}/second.txt"
    result, outcome = t.run_command(["sh", "-c", script], cwd=work, stream=False)

    assert outcome is not None
    assert "cycle" not in outcome.reason
    assert outcome.recovered and result.exit_code == 0


# -- cycles ---------------------------------------------------------------------------------------


def seesaw_rules(home: Path, key: str) -> None:
    """fix-a creates ``a.txt`` and removes ``b.txt``; fix-b creates ``b.txt`` and removes ``a.txt``."""
    for mine, other in (("a", "b"), ("b", "a")):
        rule = {
            "name": f"fix-{mine}",
            "when": [{"fact": key, "contains": f"{mine}.txt"}],
            "then": [{"action": "swap", "params": {"make": f"{mine}.txt", "drop": f"{other}.txt"}}],
        }
        write_rule(home, f"fix-{mine}", yaml.safe_dump(rule))


def test_command_cycle_stops_with_a_cycle_reason(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    seesaw_rules(home, "stderr")
    work = tmp_path / "job"
    work.mkdir()
    t = Tether(home, starter_rules=False, sleep=sleeps.append)

    @t.action("swap")
    def swap(make: str, drop: str) -> None:  # runs in the job's directory
        Path(make).write_text("x")
        Path(drop).unlink(missing_ok=True)

    result, outcome = t.run_command(["sh", "-c", "cat a.txt && cat b.txt"], cwd=work, stream=False)

    assert result.exit_code == 1
    assert outcome is not None and not outcome.recovered
    assert "cycle" in outcome.reason
    assert [(a.rule, a.outcome, a.level) for a in outcome.attempts] == [
        ("fix-a", "progress", 1),
        ("fix-b", "progress", 2),
    ]


def seesaw_job(home: Path, work: Path, sleeps: list[float], **settings: Any) -> Any:
    seesaw_rules(home, "error")
    t = Tether(home, starter_rules=False, sleep=sleeps.append)

    @t.action("swap")
    def swap(make: str, drop: str) -> None:
        (work / make).write_text("x")
        (work / drop).unlink(missing_ok=True)

    @t.mark(**settings)
    def both() -> str:
        return (work / "a.txt").read_text() + (work / "b.txt").read_text()

    return both


def test_marked_cycle_stops_with_a_cycle_reason(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    both = seesaw_job(home, tmp_path, sleeps)
    with pytest.raises(FileNotFoundError) as info:
        both()
    [note] = info.value.__notes__
    assert "gave up: cycle" in note


def test_marked_cycle_back_to_the_first_failure_is_detected_at_once(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    both = seesaw_job(home, tmp_path, sleeps, max_depth=2)
    with pytest.raises(FileNotFoundError) as info:
        both()
    [note] = info.value.__notes__
    assert "tried fix-a (progress), fix-b (progress); gave up: cycle" in note


# -- a rule that does not fix it ------------------------------------------------------------------


def test_same_error_again_counts_the_rule_as_failed_and_tries_the_next(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    missing_file_rule(home, "touch-sibling", "touch_sibling", "data.csv")
    missing_file_rule(home, "write-default", "write_default", "data.csv")
    t = Tether(home, starter_rules=False, sleep=sleeps.append)

    @t.action("touch_sibling")
    def touch_sibling(path: str) -> None:
        Path(path + ".lock").write_text("")  # the wrong file: the error comes back unchanged

    @t.action("write_default")
    def write_default(path: str) -> None:
        Path(path).write_text("a,b\n")

    runs: list[int] = []

    @t.mark(rules=["touch-sibling", "write-default"])
    def load(path: Path) -> str:
        runs.append(1)
        return path.read_text()

    assert load(tmp_path / "data.csv") == "a,b\n"
    assert len(runs) == 3
    assert trail(home) == [("touch-sibling", "failure", 1), ("write-default", "success", 1)]
    assert stats(t) == {"touch-sibling": (1, 0, 1), "write-default": (1, 1, 0)}


# -- retry with backoff ---------------------------------------------------------------------------


def producer_engine(home: Path, work: Path, sleeps: list[float], ready_after: int,
                    retry: str) -> Tether:  # fmt: skip
    """A rule that pokes a slow producer, which writes ``ready`` on its ``ready_after``-th poke."""
    missing_file_rule(home, "wait-for-producer", "poke_producer", "ready", extra=retry)
    t = Tether(home, starter_rules=False, sleep=sleeps.append)

    @t.action("poke_producer")
    def poke_producer(path: str) -> None:
        log = work / "pokes.log"
        with log.open("a") as fh:
            fh.write("poke\n")
        if len(log.read_text().splitlines()) >= ready_after:
            Path(path).write_text("ready\n")

    return t


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_retry_policy_reruns_with_growing_backoff(
    home: Path, tmp_path: Path, sleeps: list[float], is_async: bool
) -> None:
    retry = "retry:\n  attempts: 3\n  backoff_s: 1\n"
    t = producer_engine(home, tmp_path, sleeps, ready_after=3, retry=retry)
    runs: list[int] = []

    if is_async:

        @t.mark
        async def consume_async() -> str:
            runs.append(1)
            await asyncio.sleep(0)
            return (tmp_path / "ready").read_text()

        started = time.monotonic()
        assert asyncio.run(consume_async()) == "ready\n"
    else:

        @t.mark
        def consume() -> str:
            runs.append(1)
            return (tmp_path / "ready").read_text()

        started = time.monotonic()
        assert consume() == "ready\n"

    assert time.monotonic() - started < 1.0  # nothing really waited
    assert len(runs) == 4
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2]
    for n, wait in enumerate(sleeps):
        assert 2.0**n <= wait <= 1.25 * 2.0**n  # backoff_s * 2**n, plus up to 25% jitter
    assert trail(home) == [("wait-for-producer", "success", 1)]


def test_retry_without_jitter_doubles_exactly_up_to_the_cap(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    retry = "retry:\n  attempts: 5\n  backoff_s: 1\n  max_backoff_s: 4\n  jitter: false\n"
    t = producer_engine(home, tmp_path, sleeps, ready_after=99, retry=retry)
    raised: list[BaseException] = []

    @t.mark
    def consume() -> str:
        try:
            return (tmp_path / "ready").read_text()
        except OSError as exc:
            raised.append(exc)
            raise

    with pytest.raises(FileNotFoundError) as info:
        consume()

    assert sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(raised) == 6 and info.value is raised[0]
    assert "wait-for-producer (failure)" in info.value.__notes__[0]
    assert trail(home) == [("wait-for-producer", "failure", 1)]
    assert len((tmp_path / "pokes.log").read_text().splitlines()) == 5
