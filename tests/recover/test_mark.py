"""``@engine.mark``: real functions failing for real, recovered with rules from the home.

Every failure here is a real exception raised by really running code (a file
that is not there, a directory that is missing); rules come from
``<home>/rules/*.rule.yaml`` and actions from ``engine.action`` or
``<home>/actions/*.py``. Only time is injected (``Tether(sleep=...)``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import missing_file_rule, write_action, write_rule
from tether import Tether
from tether.actions.registry import default_registry
from tether.recover.mark import MarkSettings

# -- helpers --------------------------------------------------------------------------------------


def engine(home: Path, sleeps: list[float], **kwargs: Any) -> Tether:
    return Tether(home, starter_rules=False, sleep=sleeps.append, **kwargs)


def observations(home: Path) -> list[dict[str, Any]]:
    path = home / "observations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def stats(t: Tether) -> dict[str, tuple[int, int, int]]:
    return {s.rule: (s.hits, s.successes, s.failures) for s in t.stats()}


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a marked function, running it on an event loop when it is async."""
    if inspect.iscoroutinefunction(fn):
        return asyncio.run(fn(*args, **kwargs))
    return fn(*args, **kwargs)


def reader(t: Tether, raised: list[BaseException], *, is_async: bool, **settings: Any) -> Any:
    """A marked function reading a file for real; every exception it raises is kept in ``raised``."""
    if is_async:

        async def read_async(path: Path) -> str:
            await asyncio.sleep(0)
            try:
                return path.read_text()
            except Exception as exc:
                raised.append(exc)
                raise

        return t.mark(**settings)(read_async)

    def read(path: Path) -> str:
        try:
            return path.read_text()
        except Exception as exc:
            raised.append(exc)
            raise

    return t.mark(**settings)(read)


BOTH = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])

# -- recovery with rules and actions from the home ------------------------------------------------


@BOTH
@pytest.mark.parametrize("where", ["engine-action", "action-file"])
def test_marked_function_recovers_with_home_rule_and_action(
    home: Path, tmp_path: Path, sleeps: list[float], is_async: bool, where: str
) -> None:
    missing_file_rule(home, "create-settings", "write_settings_file", ending="settings.ini")
    t = engine(home, sleeps)
    if where == "engine-action":

        @t.action("write_settings_file")
        def write_settings_file(path: str) -> str:
            Path(path).write_text("color = blue\n")
            return path

    else:
        write_action(
            home,
            "settings",
            """\
from pathlib import Path

from tether import action


@action("write_settings_file")
def write_settings_file(path: str) -> str:
    Path(path).write_text("color = blue\\n")
    return path
""",
        )
    raised: list[BaseException] = []
    read = reader(t, raised, is_async=is_async)
    target = tmp_path / "settings.ini"

    assert call(read, target) == "color = blue\n"

    assert target.read_text() == "color = blue\n"
    assert len(raised) == 1 and isinstance(raised[0], FileNotFoundError)
    assert stats(t) == {"create-settings": (1, 1, 0)}
    [obs] = observations(home)
    assert obs["rule"] == "create-settings"
    assert obs["outcome"] == "success"
    assert obs["target"] == read.__qualname__
    assert obs["captures"] == {"path": str(target)}
    if where == "action-file":
        # the file's @action went to this engine, not to the process-wide registry
        assert t.actions.get("write_settings_file") is not None
        assert default_registry.get("write_settings_file") is None


def test_context_from_gets_args_exc_kwargs_and_its_keys_win(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    write_rule(
        home,
        "stage-input",
        """\
name: stage-input
when:
  - fact: error
    equals: "stage build lost its input"
  - fact: function
    equals: pipeline.build
  - fact: error_type
    equals: FileNotFoundError
then:
  - action: restore_input
    params:
      path: "{input_path}"
      error: "{error}"
      error_type: "{error_type}"
      function: "{function}"
      traceback: "{traceback}"
      errno: "{errno}"
""",
    )
    t = engine(home, sleeps)
    seen_by_action: list[dict[str, Any]] = []

    @t.action("restore_input")
    def restore_input(
        path: str, error: str, error_type: str, function: str, traceback: str, errno: int
    ) -> None:
        seen_by_action.append(
            {"error": error, "error_type": error_type, "function": function,
             "traceback": traceback, "errno": errno}
        )  # fmt: skip
        Path(path).write_text("input\n")

    got: list[tuple[Any, ...]] = []

    def context_from(
        name: str, retries: int, exc: BaseException, *, source: Path
    ) -> dict[str, Any]:
        got.append((name, retries, exc, source))
        assert isinstance(exc, OSError)
        return {
            "error": f"stage {name} lost its input",
            "function": "pipeline.build",
            "input_path": str(source),
            "errno": exc.errno,
        }

    raised: list[BaseException] = []

    @t.mark(context_from=context_from)
    def run_stage(name: str, retries: int, *, source: Path) -> str:
        try:
            return source.read_text()
        except OSError as exc:
            raised.append(exc)
            raise

    source = tmp_path / "input.txt"
    assert run_stage("build", 2, source=source) == "input\n"

    # context_from saw the call's args, then the real exception, then its kwargs
    assert len(got) == 1
    assert got[0][:2] == ("build", 2)
    assert got[0][2] is raised[0]
    assert got[0][3] == source
    # its keys won over the built-in ones; the built-ins it did not set were still filled in
    [ctx] = seen_by_action
    assert ctx["error"] == "stage build lost its input"
    assert ctx["function"] == "pipeline.build"
    assert ctx["error_type"] == "FileNotFoundError"
    assert ctx["errno"] == 2
    assert ctx["traceback"].startswith("Traceback (most recent call last)")
    assert "source.read_text()" in ctx["traceback"]


def test_function_that_never_raises_is_untouched(home: Path) -> None:
    # a rule file that cannot load: reading the rules would warn
    write_rule(home, "broken", "name: [unclosed\n")
    touched: list[str] = []
    t = Tether(home, sleep=lambda s: touched.append("slept"))

    def add(a: list[int], b: int = 2) -> list[int]:
        """Append b to a."""
        a.append(b)
        return a

    marked = t.mark(add)
    items: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert marked(items) is items
        assert marked(items, b=5) is items
    assert items == [2, 5]
    assert marked.__wrapped__ is add
    assert marked.__name__ == "add" and marked.__doc__ == "Append b to a."
    assert touched == []
    # nothing was read or written: no store, no records
    assert sorted(p.name for p in home.iterdir()) == ["rules"]


# -- when recovery does not succeed ---------------------------------------------------------------


@BOTH
def test_failed_recovery_raises_the_same_exception_with_a_note(
    home: Path, tmp_path: Path, sleeps: list[float], is_async: bool
) -> None:
    missing_file_rule(home, "touch-backup", "touch_sibling")
    missing_file_rule(home, "touch-lockfile", "touch_sibling")
    t = engine(home, sleeps)
    applied: list[str] = []

    @t.action("touch_sibling")
    def touch_sibling(path: str) -> None:
        # a fix that does not fix: it creates a file next to the missing one
        Path(path + ".other").write_text("")
        applied.append(path)

    raised: list[BaseException] = []
    read = reader(t, raised, is_async=is_async, rules=["touch-backup", "touch-lockfile"])
    target = tmp_path / "data.csv"

    with pytest.raises(FileNotFoundError) as info:
        call(read, target)

    assert info.value is raised[0]
    assert len(raised) == 3  # the first run and one re-run per rule
    assert info.value.filename == str(target)
    assert applied == [str(target), str(target)]
    [note] = info.value.__notes__
    assert "touch-backup (failure)" in note and "touch-lockfile (failure)" in note
    assert "gave up" in note
    assert stats(t) == {"touch-backup": (1, 0, 1), "touch-lockfile": (1, 0, 1)}


@BOTH
def test_no_matching_rule_raises_the_same_exception_with_a_note(
    home: Path, tmp_path: Path, sleeps: list[float], is_async: bool
) -> None:
    missing_file_rule(home, "only-for-yaml", "touch_sibling", ending=".yaml")
    t = engine(home, sleeps)
    raised: list[BaseException] = []
    read = reader(t, raised, is_async=is_async)

    with pytest.raises(FileNotFoundError) as info:
        call(read, tmp_path / "data.csv")

    assert info.value is raised[0] and len(raised) == 1
    assert info.value.__notes__ == ["tether: no recovery (no rule matches this failure)"]
    assert observations(home) == []


@pytest.mark.parametrize("max_retries", [1, 2])
def test_max_retries_limits_the_rules_tried_per_error(
    home: Path, tmp_path: Path, sleeps: list[float], max_retries: int
) -> None:
    names = ["first-guess", "second-guess", "third-guess"]
    for name in names:
        missing_file_rule(home, name, "touch_sibling")
    t = engine(home, sleeps)
    applied: list[str] = []

    @t.action("touch_sibling")
    def touch_sibling(path: str) -> None:
        Path(path + ".other").write_text("")
        applied.append(path)

    raised: list[BaseException] = []
    read = reader(t, raised, is_async=False, rules=names, max_retries=max_retries)

    with pytest.raises(FileNotFoundError) as info:
        read(tmp_path / "data.csv")

    assert len(applied) == max_retries
    assert [o["rule"] for o in observations(home)] == names[:max_retries]
    [note] = info.value.__notes__
    assert f"max_retries={max_retries}" in note
    for name in names[max_retries:]:
        assert name not in note


def test_engine_default_max_retries_applies_to_marked_functions(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    for name in ("first-guess", "second-guess", "third-guess"):
        missing_file_rule(home, name, "touch_sibling")
    t = engine(home, sleeps, max_retries=1)

    @t.action("touch_sibling")
    def touch_sibling(path: str) -> None:
        Path(path + ".other").write_text("")

    read = reader(t, [], is_async=False)
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "data.csv")
    assert len(observations(home)) == 1


def test_action_that_raises_is_action_error_and_the_next_rule_is_tried(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    missing_file_rule(home, "restore-backup", "restore_backup")
    missing_file_rule(home, "write-default", "write_default")
    t = engine(home, sleeps)

    @t.action("restore_backup")
    def restore_backup(path: str) -> None:
        # really fails: there is no backup to restore from
        Path(path).write_text(Path(path + ".bak").read_text())

    @t.action("write_default")
    def write_default(path: str) -> None:
        Path(path).write_text("default\n")

    read = reader(t, [], is_async=False, rules=["restore-backup", "write-default"])
    target = tmp_path / "data.csv"

    assert read(target) == "default\n"

    first, second = observations(home)
    assert (first["rule"], first["outcome"]) == ("restore-backup", "action_error")
    assert "FileNotFoundError" in first["error"] and "data.csv.bak" in first["error"]
    assert (second["rule"], second["outcome"], second["error"]) == (
        "write-default",
        "success",
        None,
    )
    assert stats(t) == {"restore-backup": (1, 0, 1), "write-default": (1, 1, 0)}


# -- setup and teardown ---------------------------------------------------------------------------


def fail_then_fix(home: Path, t: Tether) -> list[str]:
    """Rules ``no-op-fix`` (fails) then ``real-fix`` (succeeds) for a missing file."""
    missing_file_rule(home, "no-op-fix", "touch_sibling")
    missing_file_rule(home, "real-fix", "write_default")

    @t.action("touch_sibling")
    def touch_sibling(path: str) -> None:
        Path(path + ".other").write_text("")

    @t.action("write_default")
    def write_default(path: str) -> None:
        Path(path).write_text("default\n")

    return ["no-op-fix", "real-fix"]


def test_setup_gets_bound_args_and_its_return_replaces_state(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    t = engine(home, sleeps)
    order = fail_then_fix(home, t)
    setups: list[tuple[int, dict[str, Any]]] = []
    teardowns: list[tuple[int, bool, dict[str, Any]]] = []

    def setup(state: dict[str, Any], attempt: int) -> dict[str, Any]:
        setups.append((attempt, dict(state)))
        return {**state, "token": f"token-{attempt}"}

    def teardown(state: dict[str, Any], attempt: int, success: bool) -> None:
        teardowns.append((attempt, success, dict(state)))

    @t.mark(rules=order, setup=setup, teardown=teardown)
    def load(path: Path, mode: str = "r", *, encoding: str = "utf-8") -> str:
        with path.open(mode, encoding=encoding) as fh:
            return fh.read()

    target = tmp_path / "data.csv"
    assert load(target) == "default\n"

    assert [a for a, _ in setups] == [1, 2]
    first = setups[0][1]
    # the bound arguments, defaults applied
    assert {k: v for k, v in first.items() if not k.startswith("_")} == {
        "path": target, "mode": "r", "encoding": "utf-8"
    }  # fmt: skip
    # what setup returned is the state from then on
    assert setups[1][1]["token"] == "token-1"
    assert [(a, ok, s["token"]) for a, ok, s in teardowns] == [
        (1, False, "token-1"),
        (2, True, "token-2"),
    ]


def test_setup_returning_a_new_dict_replaces_state_and_none_keeps_it(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    t = engine(home, sleeps)
    order = fail_then_fix(home, t)
    teardowns: list[dict[str, Any]] = []

    def teardown(state: dict[str, Any], attempt: int, success: bool) -> None:
        teardowns.append(dict(state))

    @t.mark(rules=order, setup=lambda state, n: {"fresh": n}, teardown=teardown)
    def replaced(path: Path) -> str:
        return path.read_text()

    @t.mark(rules=order, setup=lambda state, n: None, teardown=teardown)
    def kept(path: Path) -> str:
        return path.read_text()

    assert replaced(tmp_path / "a.csv") == "default\n"
    assert [s["fresh"] for s in teardowns] == [1, 2]
    assert all("path" not in s for s in teardowns)

    teardowns.clear()
    assert kept(tmp_path / "b.csv") == "default\n"
    assert [s["path"] for s in teardowns] == [tmp_path / "b.csv"] * 2


def test_teardown_sees_fn_name_and_observation_after_each_attempt(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    t = engine(home, sleeps)
    order = fail_then_fix(home, t)
    calls: list[tuple[int, bool, dict[str, Any]]] = []

    @t.mark(rules=order, teardown=lambda s, n, ok: calls.append((n, ok, dict(s))))
    def load(path: Path) -> str:
        return path.read_text()

    assert load(tmp_path / "data.csv") == "default\n"

    assert [(n, ok) for n, ok, _ in calls] == [(1, False), (2, True)]
    for n, _, state in calls:
        assert state["_fn_name"] == load.__qualname__
        obs = state["_observation"]
        assert obs["attempt"] == n and obs["target"] == load.__qualname__
        assert "_give_up_reason" not in state
    assert [s["_observation"]["rule"] for _, _, s in calls] == order
    assert [s["_observation"]["outcome"] for _, _, s in calls] == ["failure", "success"]


def test_teardown_gets_give_up_reason_on_the_last_attempt_at_max_depth(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    missing_file_rule(home, "write-input", "write_file", ending="input.txt")
    t = engine(home, sleeps)

    @t.action("write_file")
    def write_file(path: str) -> None:
        Path(path).write_text("x")

    calls: list[tuple[int, bool, dict[str, Any]]] = []

    @t.mark(max_depth=1, teardown=lambda s, n, ok: calls.append((n, ok, dict(s))))
    def copy(src: Path, dst: Path) -> None:
        dst.write_text(src.read_text())  # then fails again: dst's directory is missing

    with pytest.raises(FileNotFoundError):
        copy(tmp_path / "input.txt", tmp_path / "missing-dir" / "out.txt")

    [(n, ok, state)] = calls
    assert (n, ok) == (1, False)
    assert "max_depth=1" in state["_give_up_reason"]
    assert state["_fn_name"] == copy.__qualname__


def test_teardown_gets_give_up_reason_when_the_rules_run_out(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    missing_file_rule(home, "no-op-fix", "touch_sibling")
    t = engine(home, sleeps)

    @t.action("touch_sibling")
    def touch_sibling(path: str) -> None:
        Path(path + ".other").write_text("")

    calls: list[dict[str, Any]] = []

    @t.mark(teardown=lambda s, n, ok: calls.append(dict(s)))
    def load(path: Path) -> str:
        return path.read_text()

    with pytest.raises(FileNotFoundError):
        load(tmp_path / "data.csv")

    assert len(calls) == 1
    assert "no other rule matches" in calls[-1].get("_give_up_reason", "")


def test_teardown_sees_fn_name_even_when_setup_replaces_state(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    t = engine(home, sleeps)
    order = fail_then_fix(home, t)
    calls: list[dict[str, Any]] = []

    @t.mark(
        rules=order, setup=lambda s, n: {"attempt": n}, teardown=lambda s, n, ok: calls.append(s)
    )
    def load(path: Path) -> str:
        return path.read_text()

    assert load(tmp_path / "data.csv") == "default\n"
    assert [s.get("_fn_name") for s in calls] == [load.__qualname__] * 2


def test_teardown_exception_becomes_a_warning(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    t = engine(home, sleeps)
    order = fail_then_fix(home, t)

    def teardown(state: dict[str, Any], attempt: int, success: bool) -> None:
        int(state["_observation"]["outcome"])  # really raises ValueError

    @t.mark(rules=order, teardown=teardown)
    def load(path: Path) -> str:
        return path.read_text()

    with pytest.warns(RuntimeWarning, match="teardown hook raised") as rec:
        assert load(tmp_path / "data.csv") == "default\n"
    messages = [str(w.message) for w in rec if "teardown hook raised" in str(w.message)]
    assert [m.split(":")[1].strip() for m in messages] == [
        "teardown hook raised on attempt 1",
        "teardown hook raised on attempt 2",
    ]
    assert all("ValueError: invalid literal for int()" in m for m in messages)


@BOTH
def test_teardown_exception_propagates_when_suppress_exc_is_false(
    home: Path, tmp_path: Path, sleeps: list[float], is_async: bool
) -> None:
    t = engine(home, sleeps)
    order = fail_then_fix(home, t)
    raised_in_teardown: list[BaseException] = []

    def teardown(state: dict[str, Any], attempt: int, success: bool) -> None:
        try:
            int(state["_observation"]["outcome"])
        except ValueError as exc:
            raised_in_teardown.append(exc)
            raise

    read = reader(
        t, [], is_async=is_async, rules=order, teardown=teardown,
        setup=lambda state, n: {**state, "suppress_exc": False},
    )  # fmt: skip

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as info:
            call(read, tmp_path / "data.csv")
    assert info.value is raised_in_teardown[0]
    assert len(raised_in_teardown) == 1  # it stopped recovery at the first attempt


# -- switches and attributes ----------------------------------------------------------------------


@BOTH
def test_enabled_false_never_recovers(
    home: Path, tmp_path: Path, sleeps: list[float], is_async: bool
) -> None:
    missing_file_rule(home, "write-default", "write_default")
    t = engine(home, sleeps)
    applied: list[str] = []

    @t.action("write_default")
    def write_default(path: str) -> None:
        applied.append(path)
        Path(path).write_text("default\n")

    raised: list[BaseException] = []
    read = reader(t, raised, is_async=is_async, enabled=False)

    with pytest.raises(FileNotFoundError) as info:
        call(read, tmp_path / "data.csv")

    assert info.value is raised[0]
    assert not hasattr(info.value, "__notes__")
    assert applied == []
    assert read.mark.enabled is False
    assert inspect.iscoroutinefunction(read) is is_async
    assert not (home / "tether.db").exists()


def test_mark_attribute_holds_the_settings(home: Path) -> None:
    t = Tether(home)

    def context_from(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    def setup(state: dict[str, Any], attempt: int) -> None:
        return None

    def teardown(state: dict[str, Any], attempt: int, success: bool) -> None:
        return None

    @t.mark
    def bare() -> None: ...

    @t.mark(context_from=context_from, max_retries=2, max_depth=5, rules=["a", "b"], tags=["ci"],
            fallback=False, collection="nightly", setup=setup, teardown=teardown)  # fmt: skip
    async def configured() -> None: ...

    assert bare.mark == MarkSettings()
    assert configured.mark == MarkSettings(
        context_from=context_from, max_retries=2, max_depth=5, rules=["a", "b"], tags=["ci"],
        fallback=False, explorable=False, collection="nightly", setup=setup, teardown=teardown,
        enabled=True,
    )  # fmt: skip
    assert inspect.iscoroutinefunction(configured)
    assert not inspect.iscoroutinefunction(bare)
    with pytest.raises(AttributeError):
        bare.mark.max_retries = 9  # frozen


# -- what is never swallowed or replaced ----------------------------------------------------------


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="needs Python's own SIGINT handler",
)
def test_keyboard_interrupt_passes_straight_through(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    missing_file_rule(home, "write-default", "write_default")
    t = engine(home, sleeps)
    applied: list[str] = []

    @t.action("write_default")
    def write_default(path: str) -> None:
        applied.append(path)
        Path(path).write_text("default\n")

    @t.mark
    def interrupted() -> None:
        signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert applied == []
    assert not (home / "tether.db").exists()

    # an interrupt during the re-run after a fix is not swallowed either
    runs: list[int] = []

    @t.mark
    def interrupted_on_rerun(path: Path) -> str:
        runs.append(1)
        if len(runs) == 2:
            signal.raise_signal(signal.SIGINT)
        return path.read_text()

    with pytest.raises(KeyboardInterrupt):
        interrupted_on_rerun(tmp_path / "data.csv")
    assert len(runs) == 2 and len(applied) == 1
    assert observations(home) == []


@BOTH
def test_home_that_is_a_file_never_replaces_the_users_exception(
    tmp_path: Path, sleeps: list[float], is_async: bool
) -> None:
    home = tmp_path / "home-is-a-file"
    home.write_text("not a directory\n")
    t = Tether(home, sleep=sleeps.append)
    raised: list[BaseException] = []
    read = reader(t, raised, is_async=is_async)

    with pytest.warns(RuntimeWarning, match="tether"), pytest.raises(FileNotFoundError) as info:
        call(read, tmp_path / "data.csv")

    assert info.value is raised[0]
    assert info.value.__notes__ and info.value.__notes__[-1].startswith("tether:")
    assert home.read_text() == "not a directory\n"


@BOTH
@pytest.mark.parametrize("broken", ["config", "strict-rules"])
def test_internal_error_is_noted_and_never_replaces_the_users_exception(
    home: Path, tmp_path: Path, sleeps: list[float], is_async: bool, broken: str
) -> None:
    if broken == "config":
        (home / "config.yaml").write_text("engine:\n  max_retries: [not, a, number\n")
        t = Tether(home, sleep=sleeps.append)
        kind = "ConfigError"
    else:
        write_rule(home, "broken", "name: broken\nwhen: []\nthen: []\n")
        t = Tether(home, sleep=sleeps.append, strict=True)
        kind = "RuleError"
    raised: list[BaseException] = []
    read = reader(t, raised, is_async=is_async)

    with (
        pytest.warns(RuntimeWarning, match="tether: recovery failed"),
        pytest.raises(FileNotFoundError) as info,
    ):
        call(read, tmp_path / "data.csv")

    assert info.value is raised[0] and len(raised) == 1
    [note] = info.value.__notes__
    assert note.startswith(f"tether: recovery failed internally ({kind}")


def test_broken_store_warns_but_recovery_still_happens(
    home: Path, tmp_path: Path, sleeps: list[float]
) -> None:
    (home / "tether.db").mkdir()  # the store cannot be opened
    missing_file_rule(home, "write-default", "write_default")
    t = engine(home, sleeps)

    @t.action("write_default")
    def write_default(path: str) -> None:
        Path(path).write_text("default\n")

    read = reader(t, [], is_async=False)
    with pytest.warns(RuntimeWarning, match="records not kept"):
        assert read(tmp_path / "data.csv") == "default\n"
