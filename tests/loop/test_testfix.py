"""TestFixLoop: real pytest runs in temporary repositories; the scripted model is the only fake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tether.loop import LoopStatus
from tether.loop.testfix import PytestMetric, TestFixLoop
from tether.testing import ScriptedModel, call, reply
from tether.tools.tool import ToolResult

pytest.importorskip("pydantic_ai")

CALC = """\
def add(a, b):
    return a - b


def mul(a, b):
    return a + b


def neg(a):
    return -a
"""
CALC_TESTS = """\
from calc import add, mul, neg


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6


def test_neg():
    assert neg(2) == -2
"""


@pytest.fixture(autouse=True)
def _fast_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python`` is this interpreter; child pytests skip plugin autoload (hypothesis alone
    costs half a second per run) and write no bytecode unless a test asks for it."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    (repo / "pytest.ini").write_text("[pytest]\n")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    return repo


def _loop(repo: Path, script: list[Any] | None = None, **options: Any) -> TestFixLoop:
    return TestFixLoop(ScriptedModel(script or []), repo, quiet=True, **options)


def _tool(loop: TestFixLoop, name: str, **arguments: Any) -> ToolResult:
    return loop.runner.run(call(name, **arguments))


def _tool_returns(request: Any) -> list[Any]:
    return [
        part
        for message in request.messages
        for part in getattr(message, "parts", [])
        if getattr(part, "part_kind", "") == "tool-return"
    ]


# -- the loop, end to end ------------------------------------------------------------------------


def test_scripted_fix_reaches_success_by_the_metric(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"calc.py": CALC, "test_calc.py": CALC_TESTS})
    model = ScriptedModel([
        reply(tool_calls=[call("read_file", path="calc.py")]),
        reply(tool_calls=[call("edit_file", path="calc.py", old="return a - b", new="return a + b")]),
        reply(tool_calls=[call("run_tests", select="test_calc.py::test_add")]),
        reply(tool_calls=[call("edit_file", path="calc.py", old="def mul(a, b):\n    return a + b",
                               new="def mul(a, b):\n    return a * b")]),
    ])  # fmt: skip
    loop = TestFixLoop(model, repo, quiet=True, pinned=["calc is pure arithmetic"])
    assert loop.result is None
    result = loop.run()

    assert result.status is LoopStatus.SUCCESS, result.reason
    assert "3 passed" in result.reason
    assert loop.result is result
    assert model.remaining == 0  # success is seen before a fifth model call
    fixed = (repo / "calc.py").read_text()
    assert "return a + b" in fixed and "return a * b" in fixed and "return a - b" not in fixed
    assert (repo / "test_calc.py").read_text() == CALC_TESTS
    assert loop.trace is not None
    metrics = [e for e in loop.trace.events if e["event"] == "metric"]
    values = [e["value"] for e in metrics]
    assert values == [2, 2, 1, 1, 0]  # credited at the start of the iteration after each edit
    assert metrics[0]["failing"] == ["test_calc.py::test_add", "test_calc.py::test_mul"]
    assert [r.trend for r in loop.reports] == ["flat", "improved", "flat", "improved"]
    assert result.signals == []
    # what the model read: the failing run, numbered lines, the narrowed run's tail
    first = model.requests[0].last_user_text
    assert "2 failed, 1 passed" in first and first.rstrip().endswith("exit code: 1")
    assert "     1\tdef add(a, b):" in _tool_returns(model.requests[1])[-1].content
    narrowed = _tool_returns(model.requests[3])[-1].content
    assert "1 passed" in narrowed and narrowed.endswith("exit code: 0")
    assert "calc is pure arithmetic" in loop.pinned and any("run with" in p for p in loop.pinned)


SCALE = """\
def scale(x, k):
    return x * k


def double(x):
    return scale(x, 3)


def triple(x):
    return scale(x, 3)
"""
SCALE_TESTS = """\
from scale import double, triple


def test_double():
    assert double(2) == 4


def test_triple():
    assert triple(2) == 6
"""


def test_edit_that_swaps_the_failing_test_is_a_regression_of_that_iteration(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path, {"scale.py": SCALE, "test_scale.py": SCALE_TESTS})
    model = ScriptedModel([
        # "fixes" double by breaking scale: test_double passes, test_triple fails; 1 -> 1 failing
        reply(tool_calls=[call("edit_file", path="scale.py", old="return x * k", new="return x * 2")]),
        reply(tool_calls=[
            call("edit_file", path="scale.py", old="return x * 2", new="return x * k"),
            call("edit_file", path="scale.py", old="def double(x):\n    return scale(x, 3)",
                 new="def double(x):\n    return scale(x, 2)"),
        ]),
    ])  # fmt: skip
    loop = TestFixLoop(model, repo, quiet=True)
    result = loop.run()

    assert result.status is LoopStatus.SUCCESS, result.reason
    assert loop.trace is not None
    metrics = [e for e in loop.trace.events if e["event"] == "metric"]
    assert [(e["iteration"], e["value"], e["failing"], e["trend"]) for e in metrics] == [
        (1, 1, ["test_scale.py::test_double"], "first"),
        (2, 1, ["test_scale.py::test_triple"], "regressed"),  # flat count, new failing id
        (3, 0, [], "improved"),
    ]
    assert [r.trend for r in loop.reports] == ["regressed", "improved"]
    assert result.signals == ["iteration 1: regressed"]


def test_paths_outside_the_repo_come_back_as_errors_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path, {"test_x.py": "def test_x():\n    assert False\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("keep")
    (repo / "link.txt").symlink_to(secret)
    (repo / "dirlink").symlink_to(outside)
    attempts = [
        call("edit_file", path=str(secret), old="keep", new="gone"),
        call("edit_file", path="../outside/secret.txt", old="keep", new="gone"),
        call("edit_file", path="link.txt", old="keep", new="gone"),
        call("edit_file", path="dirlink/new.py", old="", new="x = 1\n"),
        call("read_file", path="../outside/secret.txt"),
        call("read_file", path="link.txt"),
        call("list_files", path=".."),
        call("run_tests", select="../outside::test_x"),
    ]
    model = ScriptedModel([reply(tool_calls=attempts), reply("I cannot reach it")])
    result = TestFixLoop(model, repo, quiet=True, max_iterations=2).run()

    assert result.status is LoopStatus.BUDGET_EXHAUSTED
    returns = _tool_returns(model.requests[1])
    assert len(returns) == len(attempts)
    for part in returns:
        assert part.outcome == "failed"
        assert "outside the workspace" in part.content
    assert secret.read_text() == "keep"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


# -- tools ---------------------------------------------------------------------------------------


def test_edit_file_needs_old_to_occur_exactly_once(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"m.py": "a = 1\nb = 1\n\nc = 2\n"})
    loop = _loop(repo)

    missing = _tool(loop, "edit_file", path="m.py", old="d = 4", new="d = 5")
    assert missing.status == "error" and "not found" in missing.content
    twice = _tool(loop, "edit_file", path="m.py", old=" = 1", new=" = 3")
    assert twice.status == "error" and "occurs 2 times (lines 1, 2)" in twice.content
    absent = _tool(loop, "edit_file", path="nope.py", old="x", new="y")
    assert absent.status == "error" and "does not exist" in absent.content
    assert (repo / "m.py").read_text() == "a = 1\nb = 1\n\nc = 2\n"

    done = _tool(loop, "edit_file", path="m.py", old="b = 1\n", new="b = 10\n")
    assert done.ok and "line 2" in done.content
    assert (repo / "m.py").read_text() == "a = 1\nb = 10\n\nc = 2\n"


def test_edit_file_creates_new_files_keeps_mode_and_line_endings(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"run.py": "print('hi')\r\nprint('bye')\r\n"})
    os.chmod(repo / "run.py", 0o755)
    loop = _loop(repo)

    assert _tool(
        loop, "edit_file", path="run.py", old="print('hi')\nprint", new="print('hey')\nprint"
    ).ok
    assert (repo / "run.py").read_bytes() == b"print('hey')\r\nprint('bye')\r\n"
    assert (repo / "run.py").stat().st_mode & 0o777 == 0o755

    assert _tool(loop, "edit_file", path="pkg/new.py", old="", new="X = 1\n").ok
    assert (repo / "pkg" / "new.py").read_text() == "X = 1\n"
    again = _tool(loop, "edit_file", path="pkg/new.py", old="", new="X = 2\n")
    assert again.status == "error" and "exists" in again.content


def test_read_file_numbers_lines_and_checks_the_range(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"m.py": "".join(f"line{i}\n" for i in range(1, 11)), "empty.py": ""})
    loop = _loop(repo)

    part = _tool(loop, "read_file", path="m.py", start_line=3, end_line=4)
    assert part.content == "     3\tline3\n     4\tline4"
    assert _tool(loop, "read_file", path="m.py", start_line=9).content.endswith("    10\tline10")
    assert "past the end (10 lines)" in _tool(loop, "read_file", path="m.py", start_line=11).content
    assert "bad range" in _tool(loop, "read_file", path="m.py", start_line=5, end_line=2).content
    assert _tool(loop, "read_file", path="empty.py").content == "(empty.py is empty)"
    assert "is a directory" in _tool(loop, "read_file", path=".").content


def test_list_files_skips_hidden_dirs_and_caches(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path, {"a.py": "", "pkg/b.py": "", ".git/HEAD": "", "pkg/__pycache__/b.pyc": ""}
    )
    listing = _tool(_loop(repo), "list_files").content.splitlines()
    assert listing == ["a.py", "pytest.ini", "pkg/b.py"]


def test_run_tests_narrows_by_node_id_or_k_expression(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"calc.py": CALC, "test_calc.py": CALC_TESTS})
    loop = _loop(repo)

    node = _tool(loop, "run_tests", select="test_calc.py::test_neg").content
    assert "1 passed in" in node and node.endswith("exit code: 0")
    expression = _tool(loop, "run_tests", select="neg or add").content
    assert "FAILED test_calc.py::test_add" in expression
    assert "1 failed, 1 passed, 1 deselected" in expression and expression.endswith("exit code: 1")


def test_loop_owns_observe_and_tools() -> None:
    with pytest.raises(TypeError, match="observe"):
        TestFixLoop(ScriptedModel([]), ".", observe=lambda: "")


# -- stale bytecode ------------------------------------------------------------------------------


def test_equal_size_edit_in_the_same_second_is_seen_by_the_next_run(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"mod.py": "VALUE = 1\n", "test_mod.py": TEST_VALUE})
    # an earlier run by the user, writing bytecode as Python does by default
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=repo,
                   capture_output=True, check=False)  # fmt: skip
    assert list((repo / "__pycache__").glob("mod.*.pyc"))
    before = (repo / "mod.py").stat()

    def same_second_same_size(text: str) -> None:
        assert len(text) == before.st_size
        (repo / "mod.py").write_text(text)
        os.utime(repo / "mod.py", ns=(before.st_atime_ns, before.st_mtime_ns))

    loop = _loop(repo)
    # the hazard is real: without invalidation the next run imports the old bytecode
    same_second_same_size("VALUE = 2\n")
    code, output = loop.run_suite()
    assert code == 1 and "assert 1 == 2" in output
    same_second_same_size("VALUE = 1\n")

    assert _tool(loop, "edit_file", path="mod.py", old="VALUE = 1", new="VALUE = 2").ok
    os.utime(repo / "mod.py", ns=(before.st_atime_ns, before.st_mtime_ns))
    after = _tool(loop, "run_tests").content
    assert "1 passed" in after and after.endswith("exit code: 0")
    assert not list((repo / "__pycache__").glob("mod.*.pyc"))  # runs write no bytecode


TEST_VALUE = """\
from mod import VALUE


def test_value():
    assert VALUE == 2
"""

# -- the metric on real pytest output ------------------------------------------------------------

MIXED = """\
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("fixture boom")


def test_ok():
    assert True


def test_fail():
    assert 1 == 2, "one is not two"


@pytest.mark.parametrize("x", ["a - b"])
def test_param(x):
    assert x == "zz"


def test_fix(broken):
    pass


class TestK:
    def test_m(self):
        assert False
"""


def _measure(tmp_path: Path, files: dict[str, str], **options: Any) -> Any:
    loop = _loop(_repo(tmp_path, files), **options)
    assert loop.observe is not None
    return PytestMetric().measure(loop.observe())


def test_metric_reads_failures_and_fixture_errors_by_node_id(tmp_path: Path) -> None:
    snap = _measure(tmp_path, {"test_m.py": MIXED})
    assert snap.failing == {
        "test_m.py::test_fail",
        "test_m.py::test_param[a - b]",
        "test_m.py::test_fix",
        "test_m.py::TestK::test_m",
    }
    assert snap.value == 4 and not snap.success
    assert snap.detail.startswith("3 failed, 1 passed, 1 error in ")


def test_metric_without_error_lines_falls_back_to_section_headers(tmp_path: Path) -> None:
    snap = _measure(tmp_path, {"test_m.py": MIXED}, test_cmd="python -m pytest -q -rf --tb=short")
    assert snap.failing == {
        "test_m.py::test_fail",
        "test_m.py::test_param[a - b]",
        "test_m.py::TestK::test_m",
        "ERROR at setup of test_fix",
    }
    assert snap.value == 4


def test_metric_reads_a_collection_error(tmp_path: Path) -> None:
    files = {"test_ok.py": "def test_ok():\n    pass\n", "test_bad.py": "import no_such_module\n"}
    snap = _measure(tmp_path, files)
    assert snap.failing == {"test_bad.py"}
    assert snap.value == 1 and not snap.success
    assert snap.detail.startswith("1 error in ")


def test_metric_all_pass_is_success(tmp_path: Path) -> None:
    files = {"test_ok.py": "def test_a():\n    pass\n\n\ndef test_b():\n    pass\n"}
    loop = _loop(_repo(tmp_path, files))
    code, output = loop.run_suite()
    for observation in (f"{output}\nexit code: {code}", {"exit_code": code, "stdout": output}):
        snap = PytestMetric().measure(observation)
        assert snap.success and snap.value == 0 and snap.failing == frozenset()
        assert snap.detail.startswith("2 passed in ")


def test_metric_no_tests_or_only_skips_is_not_success(tmp_path: Path) -> None:
    none = _measure(tmp_path, {"notes.txt": "no tests here\n"})
    assert not none.success and none.value == 1
    assert none.failing == {"<no tests ran>"} and none.detail.startswith("no tests ran in ")

    skipped = _measure(tmp_path / "b", {"test_s.py": SKIPPED})
    assert not skipped.success and skipped.failing == {"<no test passed>"}
    assert skipped.detail.startswith("1 skipped in ")


SKIPPED = """\
import pytest


@pytest.mark.skip(reason="later")
def test_later():
    pass
"""
