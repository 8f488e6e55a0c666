"""Importing submitted action code in isolation, before any of it runs in this process.

The code is written to a fresh temporary directory and imported by a child
Python process whose working directory is that directory, under a time limit
(:data:`IMPORT_TIMEOUT_S`). The child installs an audit hook
(:func:`sys.addaudithook`) before the import, which refuses — and reports —
what an action file has no business doing at import time:

- opening a file for writing, creating, deleting, renaming, linking or
  changing the mode of anything outside the temporary directory;
- starting programs (``os.system``, ``subprocess``, ``exec*``, ``spawn*``, ``fork``).

The hook raises ``PermissionError`` at the first such event, so the write
never happens; the attempt is reported as a violation even if the code
catches the exception. The child then lists the ``@action`` functions the
code registered with their parameters, as JSON on a marker line.

As a second line of defence the caller gives :func:`import_in_isolation`
directories to watch (the job's directory, the home's ``rules/`` and
``actions/``): a file that appears or changes there during the import is a
violation too. None of this is an OS sandbox; it keeps an explorer's mistakes
(and the obvious mischief) from touching the machine before a person reviews
the rule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["IMPORT_TIMEOUT_S", "ActionSignature", "ImportReport", "import_in_isolation"]

IMPORT_TIMEOUT_S = 10.0
"""Seconds the child may take to import the code."""

_MARKER = "@@tether-isolated-import@@ "

_CHILD = r"""
import importlib.util, json, os, sys, types
root = os.path.realpath(sys.argv[1])
module_path = sys.argv[2]
marker = sys.argv[3]
violations = []

def inside(path):
    try:
        path = os.fsdecode(path)
    except TypeError:
        return True
    return os.path.realpath(os.path.join(os.getcwd(), path)).startswith(root + os.sep)

WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {"os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
               "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile", "os.symlink",
               "os.link", "os.rename", "os.replace"}
SPAWN_EVENTS = {"os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
                "os.fork", "os.forkpty", "pty.spawn", "os.startfile"}

def hook(event, args):
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, 0))[:3]
        if path is None or isinstance(path, int):
            return
        writing = bool(mode) and any(c in str(mode) for c in "wax+")
        writing = writing or bool((flags or 0) & WRITES)
        if writing and not inside(path):
            violations.append(f"opens {os.fsdecode(path)!r} for writing")
            raise PermissionError(f"tether: writing outside the workspace is refused: {path}")
    elif event in PATH_EVENTS:
        paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
        for path in paths:
            if not inside(path):
                violations.append(f"{event} on {os.fsdecode(path)!r}")
                raise PermissionError(f"tether: {event} outside the workspace is refused")
    elif event in SPAWN_EVENTS:
        violations.append(f"starts a program ({event})")
        raise PermissionError(f"tether: starting programs at import time is refused ({event})")

from tether.actions.registry import ActionRegistry, collecting
try:
    import theow  # noqa: F401
except ImportError:
    from tether.actions.discover import _theow_shim
    sys.modules["theow"] = _theow_shim()
import inspect, traceback
registry = ActionRegistry()
token = collecting.set(registry)
sys.addaudithook(hook)
result = {"actions": {}, "violations": violations, "error": None}
try:
    spec = importlib.util.spec_from_file_location("tether_submitted_action", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
except BaseException as exc:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == module_path]
    line = f" (line {frames[-1].lineno})" if frames else ""
    result["error"] = f"{type(exc).__name__}: {exc}{line}"
collecting.reset(token)
for action in registry:
    params = []
    for name, p in inspect.signature(action.fn).parameters.items():
        params.append({"name": name, "kind": p.kind.name, "required": p.default is p.empty})
    result["actions"][action.name] = {"params": params, "description": action.description}
sys.stdout.write("\n" + marker + json.dumps(result) + "\n")
sys.stdout.flush()
"""


@dataclass(frozen=True)
class ActionSignature:
    """An action the code registered: its parameters as the child saw them.

    Attributes:
        name: the registered action name.
        params: parameter names that can be passed by keyword.
        required: the ones without a default.
        var_keyword: the function takes ``**kwargs`` (accepts any param).
        description: the docstring's first line.
    """

    name: str
    params: tuple[str, ...]
    required: tuple[str, ...]
    var_keyword: bool
    description: str = ""

    def check(self, given: Iterable[str]) -> str | None:
        """Why params named ``given`` do not fit this signature, or ``None`` when they do."""
        names = set(given)
        missing = [p for p in self.required if p not in names]
        if missing:
            return (
                f"action {self.name!r} requires {', '.join(missing)}, which the step does not pass"
            )
        unknown = sorted(names - set(self.params))
        if unknown and not self.var_keyword:
            accepted = ", ".join(self.params) or "no params"
            return (
                f"action {self.name!r} takes {accepted}; the step also passes {', '.join(unknown)}"
            )
        return None


@dataclass
class ImportReport:
    """What importing the code in isolation showed.

    Attributes:
        actions: the registered actions by name.
        error: the exception the import raised (type, message, line), or ``None``.
        violations: side effects that were refused (writes outside, programs started).
        timed_out: the import did not finish within the time limit.
        output: the child's stderr tail, for the model to read when something is wrong.
    """

    actions: dict[str, ActionSignature] = field(default_factory=dict)
    error: str | None = None
    violations: list[str] = field(default_factory=list)
    timed_out: bool = False
    output: str = ""

    @property
    def ok(self) -> bool:
        """The code imported, within the time, with no refused side effect."""
        return self.error is None and not self.violations and not self.timed_out


def _snapshot(directories: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """``{path: (mtime_ns, size)}`` of the files directly in ``directories`` (missing: none)."""
    seen: dict[str, tuple[int, int]] = {}
    for directory in directories:
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    try:
                        stat = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    seen[entry.path] = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            continue
    return seen


def import_in_isolation(
    code: str,
    *,
    module_name: str = "submitted_action",
    watch: Iterable[Path] = (),
    timeout_s: float = IMPORT_TIMEOUT_S,
) -> ImportReport:
    """Import ``code`` in a child process confined as described in the module docstring.

    Args:
        code: the Python source of one action file.
        module_name: the file's stem inside the temporary directory.
        watch: directories whose direct entries must not change during the import.
        timeout_s: seconds before the child is killed (reported as ``timed_out``).

    Returns:
        The :class:`ImportReport`; this function does not raise for anything the code does.
    """
    watched = [Path(p) for p in watch]
    before = _snapshot(watched)
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding tether/
    search_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": search_path}
    with tempfile.TemporaryDirectory(prefix="tether-action-") as tmp:
        path = Path(tmp) / f"{module_name}.py"
        path.write_text(code, encoding="utf-8")
        argv = [sys.executable, "-c", _CHILD, tmp, str(path), _MARKER]
        try:
            proc = subprocess.run(
                argv,
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
            return ImportReport(timed_out=True, output=stderr[-2000:])
    report = _parse(proc.stdout, proc.stderr)
    after = _snapshot(watched)
    changed = sorted(p for p, v in after.items() if before.get(p) != v)
    report.violations += [f"{p} appeared or changed while the code was imported" for p in changed]
    return report


def _parse(stdout: str, stderr: str) -> ImportReport:
    line = next((x for x in reversed(stdout.splitlines()) if x.startswith(_MARKER)), None)
    if line is None:
        tail = stderr.strip().splitlines()[-5:]
        return ImportReport(
            error="the import process ended without a report: " + (" | ".join(tail) or "no output"),
            output=stderr[-2000:],
        )
    data: dict[str, Any] = json.loads(line[len(_MARKER) :])
    actions = {}
    for name, info in data.get("actions", {}).items():
        params = info.get("params", [])
        keyword = [p for p in params if p["kind"] in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")]
        actions[name] = ActionSignature(
            name=name,
            params=tuple(p["name"] for p in keyword),
            required=tuple(p["name"] for p in keyword if p["required"]),
            var_keyword=any(p["kind"] == "VAR_KEYWORD" for p in params),
            description=info.get("description", ""),
        )
    return ImportReport(
        actions=actions,
        error=data.get("error"),
        violations=list(data.get("violations", [])),
        output=stderr[-2000:],
    )
