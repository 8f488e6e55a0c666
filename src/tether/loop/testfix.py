"""A blueprint: a governed loop that makes a repository's pytest suite pass.

::

    from tether.loop.testfix import TestFixLoop

    result = TestFixLoop("anthropic/claude-sonnet-4-20250514", "./repo", token_limit=200_000).run()
    result.status, result.reason

Each iteration runs the suite (``observe``) and measures it with
:class:`PytestMetric`: the failing node ids are the metric's identities, so a
change that fixes one test and breaks another is a regression even though the
count stays flat. The model gets four tools confined to the repository
(through :class:`~tether.tools.Workspace`): ``run_tests``, ``read_file``,
``edit_file`` and ``list_files``. The run ends SUCCESS when the suite passes;
the model's own claim never ends it.

Stale bytecode: CPython trusts a ``.pyc`` whose recorded source mtime (whole
seconds) and size match, so an edit of equal size within the same second is
invisible to the next import. Tests therefore run with
``PYTHONDONTWRITEBYTECODE=1``, and every edit removes the edited module's
``__pycache__/<name>.*.pyc`` (pytest's rewritten test modules included).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether._types import Seconds, to_seconds
from tether.errors import ToolError
from tether.llm.client import LLM
from tether.loop.core import Loop
from tether.loop.progress import MetricSnapshot
from tether.loop.result import LoopResult
from tether.process.command import run_command
from tether.tools.builtin import Workspace, write_file
from tether.tools.tool import Tool

__all__ = ["DEFAULT_TEST_CMD", "PytestMetric", "TestFixLoop"]

DEFAULT_TEST_CMD = "python -m pytest -q -rfE --tb=short"
"""The default test command: quiet, failures and errors listed by node id at the end."""
RUN_TESTS_TAIL_CHARS = 8_000
"""Characters of the test output's end that ``run_tests`` returns (failures are printed last)."""
READ_MAX_CHARS = 24_000
"""Most characters of numbered lines ``read_file`` returns in one call."""
LIST_MAX_FILES = 1_000
"""Most paths ``list_files`` returns."""
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", "build", "dist"})
_EXIT_LINE = re.compile(r"(?:^|\n)exit code: (-?\d+)\s*$")
_SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+|no tests ran) in \d[\d.]*s\b.*?=*$")
_COUNT = re.compile(r"(\d+) ([a-z]+)")
_SECTION = re.compile(r"^=+ (ERRORS|FAILURES|short test summary info|.*?) =+$")
_HEADER = re.compile(r"^_{3,} (.+?) _{3,}$")


class TestFixLoop(Loop):
    """A :class:`~tether.loop.Loop` whose goal is a passing test suite in ``repo``.

    Example::

        loop = TestFixLoop(llm, "repo", max_iterations=15, trace_path="fix.jsonl")
        result = loop.run()          # also kept as loop.result
        loop.observe()               # the suite's output now, ending "exit code: N"

    Args:
        llm: an :class:`~tether.llm.LLM`, a ``"provider/model"`` name, or a pydantic-ai model.
        repo: the repository root; every tool is confined to it (symlinks followed).
        test_cmd: a shell command line run in ``repo`` (``/bin/sh -c``, stderr merged into
            stdout). ``run_tests(select=...)`` appends a node id or ``-k <expression>``, so it
            should be a pytest invocation.
        timeout_s: seconds (or ``timedelta``) one test run may take; at the limit its process
            group is killed and the run reads as exit code 124.
        **loop_options: passed to :class:`~tether.loop.Loop` (``max_iterations``,
            ``token_limit``, ``trace_path``, ``policies``, ``pinned`` ... ; ``goal_metric``
            replaces :class:`PytestMetric`).

    Raises:
        ToolError: ``repo`` is not a directory.
        ValueError: ``timeout_s`` is not positive.
        TypeError: ``observe`` or ``tools`` in ``loop_options`` (this blueprint owns both).
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        llm: LLM | str | Any,
        repo: str | os.PathLike[str],
        test_cmd: str = DEFAULT_TEST_CMD,
        *,
        timeout_s: Seconds = 300.0,
        **loop_options: Any,
    ) -> None:
        for owned in ("observe", "tools"):
            if owned in loop_options:
                raise TypeError(
                    f"TestFixLoop sets {owned}= itself; use Loop directly for a custom {owned}"
                )
        self.workspace = Workspace(repo)
        self.test_cmd = test_cmd
        self.timeout_s = to_seconds(timeout_s)
        if not self.timeout_s > 0:
            raise ValueError(f"TestFixLoop timeout_s must be positive, got {timeout_s!r}")
        root = self.workspace.root
        pinned = [
            f"The repository root is {root}; tool paths are relative to it.",
            f"The tests run with: {test_cmd}",
            "Fix the code under test. Edit a test only when the test itself is wrong, and say why.",
            *loop_options.pop("pinned", ()),
        ]
        loop_options.setdefault("goal_metric", PytestMetric())
        super().__init__(
            f"make the test suite in {root} pass without editing the tests unless they are wrong",
            self._tools(),
            llm,
            observe=self._observe,
            pinned=pinned,
            **loop_options,
        )
        self.result: LoopResult | None = None
        """The last run's result (``None`` before a run ends)."""

    def run(self) -> LoopResult:
        """Run to a status (blocking); see :meth:`tether.loop.Loop.run`."""
        self.result = super().run()
        return self.result

    async def arun(self) -> LoopResult:
        """Run to a status (async form of :meth:`run`)."""
        self.result = await super().arun()
        return self.result

    # -- the suite -----------------------------------------------------------------------------

    def run_suite(self, select: str | None = None) -> tuple[int, str]:
        """Run ``test_cmd`` in the repository; returns ``(exit_code, output)``, stderr merged in.

        Args:
            select: a node id (``tests/test_x.py::test_y``, a file or directory) appended as is,
                or else a ``-k`` expression. ``None``: the whole suite.

        Raises:
            ToolError: ``select`` names a path outside the repository.
        """
        command = self.test_cmd
        if select:
            target = select.split("::", 1)[0]
            if "::" in select or (self.workspace.root / target).exists():
                self.workspace.resolve(target)  # refuses paths that leave the repository
                command += " " + shlex.quote(select)
            else:
                command += " -k " + shlex.quote(select)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        result = run_command(
            ["/bin/sh", "-c", "exec 2>&1\n" + command],
            cwd=self.workspace.root,
            env=env,
            stream=False,
            timeout_s=self.timeout_s,
        )
        output = result.stdout + result.stderr
        if result.timed_out:
            output += (
                f"\n[tests timed out after {self.timeout_s:g} s; their process group was killed]"
            )
        return result.exit_code, output

    def _observe(self) -> str:
        code, output = self.run_suite()
        return f"{output.rstrip()}\nexit code: {code}"

    # -- tools ---------------------------------------------------------------------------------

    def _tools(self) -> list[Tool]:
        return [
            Tool.from_function(
                self._run_tests_tool, name="run_tests", timeout_s=self.timeout_s + 10
            ),
            Tool.from_function(
                self._read_file_tool, name="read_file", parallel_safe=True, timeout_s=30
            ),
            Tool.from_function(self._edit_file_tool, name="edit_file", timeout_s=30),
            Tool.from_function(
                self._list_files_tool, name="list_files", parallel_safe=True, timeout_s=30
            ),
        ]

    def _run_tests_tool(self, select: str | None = None) -> str:
        """Run the test suite, or part of it; returns the end of the output and the exit code.

        Args:
            select: a node id (``tests/test_x.py::test_y``, or a test file) or a pytest ``-k``
                expression (``"parse and not slow"``); omit to run everything.
        """
        code, output = self.run_suite(select)
        output = output.rstrip()
        if len(output) > RUN_TESTS_TAIL_CHARS:
            dropped = len(output) - RUN_TESTS_TAIL_CHARS
            output = (
                f"[... {dropped} earlier characters omitted ...]\n{output[-RUN_TESTS_TAIL_CHARS:]}"
            )
        return f"{output}\nexit code: {code}"

    def _read_file_tool(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> str:
        """Read a text file of the repository as numbered lines (``  12\\tcode``).

        Args:
            path: relative to the repository root.
            start_line: first line to show, 1-based (default 1).
            end_line: last line to show, inclusive (default: the end, within a size cap; the
                text then says where to continue).
        """
        target = self._file(path)
        lines = target.read_bytes().decode("utf-8", errors="replace").splitlines()
        first = 1 if start_line is None else start_line
        if first < 1 or (end_line is not None and end_line < first):
            raise ToolError(
                f"read_file {path}: bad range start_line={start_line}, end_line={end_line}; "
                "lines are numbered from 1 and end_line must not be before start_line"
            )
        if not lines:
            return f"({path} is empty)"
        if first > len(lines):
            raise ToolError(
                f"read_file {path}: start_line={first} is past the end ({len(lines)} lines)"
            )
        last = len(lines) if end_line is None else min(end_line, len(lines))
        shown: list[str] = []
        size = 0
        for number in range(first, last + 1):
            row = f"{number:6}\t{lines[number - 1]}"
            size += len(row) + 1
            if size > READ_MAX_CHARS and shown:
                shown.append(
                    f"[... {last - number + 1} more lines; read again with start_line={number} ...]"
                )
                break
            shown.append(row)
        return "\n".join(shown)

    def _edit_file_tool(self, path: str, old: str, new: str) -> str:
        """Replace the one occurrence of ``old`` in a file with ``new`` (exact text, whitespace
        included). With ``old`` empty, create a file that does not exist yet.

        Args:
            path: relative to the repository root.
            old: text that occurs exactly once in the file; include enough surrounding lines
                to make it unique.
            new: the replacement.
        """
        target = self.workspace.resolve(path)
        if old == "":
            if target.exists():
                raise ToolError(
                    f"edit_file {path}: old is empty but the file exists; give the text to replace"
                )
            write_file(str(target), new)
            return f"created {path} ({len(new.splitlines())} lines)"
        target = self._file(path)
        try:
            text = target.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(
                f"edit_file {path}: not UTF-8 text; edit_file changes text files only"
            ) from None
        if "\r\n" in text and "\r\n" not in old:  # the model writes \n; the file uses \r\n
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        count = text.count(old)
        if count == 0:
            raise ToolError(
                f"edit_file {path}: old was not found; read the file again and copy the text "
                "exactly (indentation and whitespace included)"
            )
        if count > 1:
            at, lines = 0, []
            for _ in range(count):
                at = text.index(old, at)
                lines.append(str(text.count("\n", 0, at) + 1))
                at += 1
            raise ToolError(
                f"edit_file {path}: old occurs {count} times (lines {', '.join(lines)}); "
                "include more surrounding lines so that it occurs once"
            )
        mode = target.stat().st_mode
        line = text.count("\n", 0, text.index(old)) + 1
        write_file(str(target), text.replace(old, new, 1))
        os.chmod(target, mode)  # the atomic rewrite creates the file 0600
        _drop_bytecode(target)
        removed, added = old.count("\n") + 1, new.count("\n") + 1
        return f"edited {path} at line {line}: {removed} line(s) replaced by {added}"

    def _list_files_tool(self, path: str = ".") -> str:
        """List the files under a directory of the repository, recursively, one path a line
        (hidden directories, caches and virtualenvs skipped).

        Args:
            path: a directory relative to the repository root (default: the root).
        """
        top = self.workspace.resolve(path)
        if not top.is_dir():
            raise ToolError(f"list_files {path}: not a directory; use read_file for files")
        found: list[str] = []
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".") and d not in _SKIP_DIRS and not d.endswith(".egg-info")
            )
            base = Path(folder).relative_to(self.workspace.root)
            found += [str(base / f) for f in sorted(files) if not f.endswith(".pyc")]
            if len(found) > LIST_MAX_FILES:
                return (
                    "\n".join(found[:LIST_MAX_FILES])
                    + f"\n[... more than {LIST_MAX_FILES} files; list a subdirectory ...]"
                )
        return "\n".join(found) if found else f"(no files under {path})"

    def _file(self, path: str) -> Path:
        """``path`` resolved inside the repository, and an existing regular file."""
        target = self.workspace.resolve(path)
        if target.is_dir():
            raise ToolError(f"{path} is a directory; use list_files to see what it holds")
        if not target.is_file():
            raise ToolError(f"{path} does not exist; use list_files to find the right path")
        return target


def _drop_bytecode(source: Path) -> None:
    """Remove the cached bytecode of ``source`` (``__pycache__/<stem>.*.pyc``), if a module."""
    if source.suffix != ".py":
        return
    for pyc in (source.parent / "__pycache__").glob(f"{glob.escape(source.stem)}.*.pyc"):
        pyc.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Outcome:
    counts: dict[str, int] = field(default_factory=dict)
    failing: frozenset[str] = frozenset()
    summary: str = ""


class PytestMetric:
    """A :class:`~tether.loop.progress.GoalMetric` reading pytest's terminal output.

    ``measure(observation)`` takes the output text ending with an ``exit code: N`` line (what
    :class:`TestFixLoop` observes), or a mapping ``{"exit_code": int, "output": str}`` (or
    ``stdout``/``stderr``, as the built-in ``run_command`` returns), and gives a
    :class:`~tether.loop.progress.MetricSnapshot`:

    - ``value``: failed + errors, from the summary line (``2 failed, 5 passed in 0.1s``);
    - ``failing``: their node ids, from the ``FAILED``/``ERROR`` lines of the short summary
      (``-rfE``), from ``ERROR collecting <path>`` headers, and — when the short summary does
      not list them — from the section headers (``test_name``, ``ERROR at setup of test_name``);
    - ``detail``: the summary line;
    - ``success``: exit code 0 and at least one test passed. Exit code 5 (no tests collected)
      and an all-skipped run are not success.

    A run that fails without any failure identity (no tests ran, a crash, a timeout, a usage
    error) reads as value 1 with the identity ``<no tests ran>`` or ``<exit code N>``, so that
    breaking the suite never looks like an improvement.
    """

    def measure(self, observation: Any) -> MetricSnapshot:
        """The snapshot for one run's output (see the class docstring for the shapes)."""
        output, exit_code = _split(observation)
        outcome = parse_pytest_output(output)
        failed = outcome.counts.get("failed", 0) + outcome.counts.get("error", 0)
        passed = outcome.counts.get("passed", 0)
        if exit_code is None:
            success = bool(outcome.summary) and passed > 0 and failed == 0
        else:
            success = exit_code == 0 and passed > 0
        failing = outcome.failing
        value = max(failed, len(failing))
        detail = outcome.summary or f"no pytest summary line (exit code {exit_code})"
        if not success and not failing:
            if exit_code == 5 or outcome.summary.startswith("no tests ran"):
                failing = frozenset({"<no tests ran>"})
            elif exit_code:
                failing = frozenset({f"<exit code {exit_code}>"})
            else:
                failing = frozenset({"<no test passed>"})
            value = max(value, 1)
        return MetricSnapshot(value=value, detail=detail, failing=failing, success=success)


def _split(observation: Any) -> tuple[str, int | None]:
    """``(output, exit code or None)`` from the observation shapes :class:`PytestMetric` takes."""
    if isinstance(observation, Mapping):
        code = observation.get("exit_code")
        output = observation.get("output")
        if output is None:
            output = f"{observation.get('stdout') or ''}{observation.get('stderr') or ''}"
        return str(output), int(code) if code is not None else None
    text = str(observation)
    match = _EXIT_LINE.search(text)
    if match is None:
        return text, None
    return text[: match.start()], int(match.group(1))


def parse_pytest_output(output: str) -> _Outcome:
    """Counts (``failed``, ``passed``, ``error`` ...), failing identities and the summary line."""
    lines = output.splitlines()
    summary = ""
    counts: dict[str, int] = {}
    for line in reversed(lines):
        match = _SUMMARY.match(line.strip())
        if match:
            summary = line.strip().strip("=").strip()
            for number, word in _COUNT.findall(match.group(1)):
                word = {"errors": "error", "warnings": "warning"}.get(word, word)
                counts[word] = counts.get(word, 0) + int(number)
            break
    # kind -> ids listed in the short summary (-rfE) / names from section headers (fallback)
    listed: dict[str, set[str]] = {"FAILED": set(), "ERROR": set()}
    headers: dict[str, set[str]] = {"FAILED": set(), "ERROR": set()}
    collection: set[str] = set()
    section = ""
    for line in lines:
        heading = _SECTION.match(line)
        if heading:
            section = heading.group(1)
            continue
        if section == "short test summary info":
            kind, _, rest = line.partition(" ")
            if kind in listed and rest:
                listed[kind].add(_node_id(rest))
            continue
        header = _HEADER.match(line)
        if header and section in ("ERRORS", "FAILURES"):
            name = header.group(1)
            if name.startswith("ERROR collecting "):
                collection.add(name.removeprefix("ERROR collecting "))
            else:
                headers["ERROR" if section == "ERRORS" else "FAILED"].add(name)
    failing = set(collection)
    for kind in ("FAILED", "ERROR"):
        failing |= listed[kind] or headers[kind]
    return _Outcome(counts=counts, failing=frozenset(failing), summary=summary)


def _node_id(rest: str) -> str:
    """The node id at the start of a short-summary line's rest (``path::test[param] - message``);
    parametrize ids may themselves hold `` - `` or ``]``."""
    bracket = rest.find("[")
    dash = rest.find(" - ")
    if bracket != -1 and (dash == -1 or bracket < dash):
        close = rest.find("] - ", bracket)
        if close != -1:
            return rest[: close + 1]
        return rest.strip()
    return (rest if dash == -1 else rest[:dash]).strip()
