"""Starter actions of the opt-in packs (``engine: {packs: [...]}`` in ``config.yaml``).

Each pack's rules live in ``tether/starter/rules/packs/<pack>/`` and load only when
the pack is enabled. Every action checks its preconditions first and changes
nothing when one fails; changes go through :class:`~tether.actions.fix.FixContext`,
so they stay inside the job's directory and are undone when the re-run shows the
rule did not fix its error (except where said).

============================  =========================================================
pack                          what it changes
============================  =========================================================
``git-upstream``              ``git push --set-upstream <remote> <branch>``, parsed from
                              git's own hint; the remote must be configured and the
                              branch must be the current one (a push cannot be undone)
``dotenv``                    appends ``NAME=value`` from ``.env.example`` to ``.env``
                              (created if missing) for a variable the failure names
                              (``KeyError: 'NAME'``, ``NAME: unbound variable``)
``json-trailing-commas``      removes trailing commas (outside strings and comments)
                              from a JSON file of the job, only if it then parses
``yaml-tabs``                 replaces each tab of a line's indentation with two
                              spaces, only if the file then parses, and parses to the
                              same data with four (the width does not change meaning)
``pytest-duplicate-basenames`` adds ``__init__.py`` to the test directories between the
                              two clashing files and their common directory
``port-in-use``               SIGTERM to the process listening on a loopback port, only
                              when it is the same user's and its working directory is
                              inside the job; waits for the port (cannot be undone)
============================  =========================================================
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tether.actions.fix import FixContext, OutsideWorkspace
from tether.actions.registry import action

__all__ = [
    "add_dotenv_from_example",
    "add_test_package_markers",
    "git_push_set_upstream",
    "remove_json_trailing_commas",
    "replace_yaml_indent_tabs",
    "stop_port_holder",
    "strip_trailing_commas",
]

# -- git-upstream ------------------------------------------------------------------------------

_REF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def _git(ctx: FixContext, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=ctx.cwd, capture_output=True, text=True, timeout=60, check=False
    )


@action("git_push_set_upstream")
def git_push_set_upstream(ctx: FixContext, remote: str, branch: str) -> str:
    """Run git's own suggestion, ``git push --set-upstream <remote> <branch>``.

    Args:
        ctx: the repository's directory.
        remote: a configured remote (``origin``), as git's hint names it.
        branch: the current branch, as git's hint names it.

    Raises:
        ValueError: a name is not a plain remote/branch name (no options, no shell).
        LookupError: the remote is not configured, or the branch is not the current one.
        RuntimeError: the push failed (git's message attached). A push is not undone.
    """
    for kind, name in (("remote", remote), ("branch", branch)):
        if not _REF_NAME.match(name) or ".." in name or name.endswith((".lock", "/", ".")):
            raise ValueError(f"{kind} {name!r} is not a plain {kind} name; not running it")
    remotes = _git(ctx, "remote").stdout.split()
    if remote not in remotes:
        raise LookupError(f"{remote!r} is not a configured remote (have: {', '.join(remotes)})")
    current = _git(ctx, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    if current != branch:
        raise LookupError(f"the current branch is {current!r}, not {branch!r}")
    upstream = _git(ctx, "rev-parse", "--abbrev-ref", f"{branch}@{{upstream}}")
    if upstream.returncode == 0:
        raise FileExistsError(f"{branch} already tracks {upstream.stdout.strip()}")
    try:
        ctx.run(["git", "push", "--set-upstream", remote, branch], timeout_s=300)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"git push failed: {str(exc.stderr).strip()[-400:]}") from None
    return f"git push --set-upstream {remote} {branch}"


# -- dotenv ------------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_lines(text: str) -> Iterator[tuple[str, str]]:
    """(name, line) for each ``NAME=...`` / ``export NAME=...`` line."""
    for line in text.splitlines():
        body = line.strip()
        if body.startswith("export "):
            body = body[len("export ") :].lstrip()
        name, eq, _ = body.partition("=")
        if eq and _ENV_NAME.match(name.strip()):
            yield name.strip(), line


@action("add_dotenv_from_example")
def add_dotenv_from_example(ctx: FixContext, name: str) -> str:
    """Append ``name``'s line from ``.env.example`` to ``.env`` (created if missing).

    Args:
        ctx: the job's directory (holding ``.env.example``).
        name: the variable the failure named (``DATABASE_URL``).

    Raises:
        ValueError: not a variable name. LookupError: ``.env.example`` does not define it.
        FileExistsError: ``.env`` defines it already (the failure has another cause).
    """
    if not _ENV_NAME.match(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    example = ctx.path(".env.example")
    if not example.is_file():
        raise FileNotFoundError("no .env.example in the job's directory")
    lines = dict(_env_lines(example.read_text(encoding="utf-8")))
    if name not in lines:
        raise LookupError(f".env.example does not define {name}")
    target = ctx.path(".env")
    old = target.read_text(encoding="utf-8") if target.exists() else None
    if old is not None and name in dict(_env_lines(old)):
        raise FileExistsError(f".env defines {name} already; the failure has another cause")
    if old is None:
        ctx.write_file(target, lines[name].strip() + "\n")
    else:
        sep = "" if not old or old.endswith("\n") else "\n"
        ctx.write_file(target, f"{old}{sep}{lines[name].strip()}\n", overwrite=True)
    return f"added {name} from .env.example to .env"


# -- json-trailing-commas ----------------------------------------------------------------------


def strip_trailing_commas(text: str) -> str:
    """``text`` with each comma that only whitespace or comments separate from ``]``/``}`` removed.

    Strings (with their escapes) and ``//``/``/* */`` comments are copied unchanged.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(text[i:j])
            i = j
        elif ch == ",":
            j = _skip_blank(text, i + 1)
            if j < n and text[j] in "]}":
                i += 1  # drop it
            else:
                out.append(ch)
                i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _skip_blank(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            break
    return i


_JSON_NAMES = re.compile(r"""[^\s'"(),=:;<>|&]+\.json\b""")
_SOURCE_NAMES = re.compile(r"""[^\s'"(),=:;<>|&]+\.(?:py|js|mjs|cjs)\b""")


def _json_candidates(ctx: FixContext, path: str) -> list[Path]:
    """The job's JSON files named in the command, the output, or the source files these name."""
    if path:
        return [ctx.path(path)]
    text = "\n".join(str(ctx.context.get(k, "")) for k in ("command", "stderr", "stdout"))
    for name in dict.fromkeys(_SOURCE_NAMES.findall(text)):
        try:
            source = ctx.path(name)
            if source.is_file() and source.stat().st_size < 1 << 20:
                text += "\n" + source.read_text(encoding="utf-8", errors="replace")
        except (OutsideWorkspace, OSError):
            continue
    found: list[Path] = []
    for name in dict.fromkeys(_JSON_NAMES.findall(text)):
        try:
            candidate = ctx.path(name)
        except OutsideWorkspace:
            continue
        if candidate.is_file() and candidate not in found:
            found.append(candidate)
    return found


@action("remove_json_trailing_commas")
def remove_json_trailing_commas(ctx: FixContext, path: str = "") -> str:
    """Remove trailing commas from the JSON file that failed to parse, only if it then parses.

    Args:
        ctx: the job's directory and the failure (its command and output name the file
            when ``path`` is not given: ``jq . config.json``, ``open("config.json")``).
        path: the file, when the error names it (node's ``require``).

    Raises:
        LookupError: no file of the job fails to parse and parses once its trailing commas
            are gone (or several do: the action does not guess).
    """
    fixable: list[tuple[Path, str]] = []
    for candidate in _json_candidates(ctx, path):
        text = candidate.read_text(encoding="utf-8")
        try:
            json.loads(text)
            continue  # parses already: not the file that failed
        except ValueError:
            pass
        fixed = strip_trailing_commas(text)
        try:
            json.loads(fixed)
        except ValueError:
            continue
        fixable.append((candidate, fixed))
    if len(fixable) != 1:
        names = ", ".join(ctx.relative(p) for p, _ in fixable) or "none"
        raise LookupError(
            f"need exactly one JSON file of the job that parses once its trailing commas "
            f"are removed (found: {names})"
        )
    target, fixed = fixable[0]
    ctx.write_file(target, fixed, overwrite=True)
    return f"removed trailing commas from {ctx.relative(target)}"


# -- yaml-tabs ---------------------------------------------------------------------------------

_LEADING = re.compile(r"^[ \t]+", re.MULTILINE)


def _expand_indent(text: str, width: int) -> str:
    return _LEADING.sub(lambda m: m.group(0).replace("\t", " " * width), text)


@action("replace_yaml_indent_tabs")
def replace_yaml_indent_tabs(ctx: FixContext, path: str) -> str:
    """Replace tabs in a YAML file's line indentation with two spaces each, only if it then parses.

    The file must also parse to the same data with four spaces per tab: when the width
    changes the meaning (tabs mixed with spaces, tabs inside block scalars) nothing changes.

    Args:
        ctx: the job's directory.
        path: the file PyYAML named (``in "config.yaml", line 2``).

    Raises:
        LookupError: no tab in any indentation. ValueError: it does not parse with the tabs
        replaced, or parses differently with two and four spaces.
    """
    import yaml

    target = ctx.path(path)
    text = target.read_text(encoding="utf-8")
    two, four = _expand_indent(text, 2), _expand_indent(text, 4)
    if two == text:
        raise LookupError(f"{ctx.relative(target)} has no tab in its indentation")
    try:
        data_two = list(yaml.safe_load_all(two))
        data_four = list(yaml.safe_load_all(four))
    except yaml.YAMLError as exc:
        raise ValueError(
            f"{ctx.relative(target)} does not parse with the tabs replaced: {exc}"
        ) from None
    if data_two != data_four:
        raise ValueError(
            f"{ctx.relative(target)} means different things with two and four spaces per tab; "
            "not guessing"
        )
    ctx.write_file(target, two, overwrite=True)
    return f"replaced indentation tabs in {ctx.relative(target)} with two spaces"


# -- pytest-duplicate-basenames ----------------------------------------------------------------


@action("add_test_package_markers")
def add_test_package_markers(ctx: FixContext, first: str, second: str) -> str:
    """Add ``__init__.py`` to the directories between two same-named test files and their common one.

    Then pytest imports them as ``a.test_util`` and ``b.test_util`` instead of two ``test_util``.

    Args:
        ctx: the job's directory; both files and every directory touched must be inside it.
        first: the module pytest imported first (its ``__file__``).
        second: the test file it then wanted to collect.

    Raises:
        ValueError: the files do not share a basename, or are the same file.
        FileExistsError: every directory involved is a package already (stale ``__pycache__``?).
    """
    a, b = ctx.path(first), ctx.path(second)
    if not (a.is_file() and b.is_file()):
        raise FileNotFoundError(f"{first} or {second} is not a file")
    if a == b or a.name != b.name:
        raise ValueError(f"{first} and {second} are not two files with one basename")
    common = Path(os.path.commonpath([a.parent, b.parent]))
    dirs: list[Path] = []
    for file in (a, b):
        walk = file.parent
        while walk != common and common in walk.parents:
            dirs.append(walk)
            walk = walk.parent
    missing = [d for d in dict.fromkeys(dirs) if not (d / "__init__.py").exists()]
    if not missing:
        raise FileExistsError(
            "the test directories are packages already; remove stale __pycache__ instead"
        )
    for directory in missing:
        ctx.write_file(directory / "__init__.py", "")
    return "added " + ", ".join(ctx.relative(d / "__init__.py") for d in missing)


# -- port-in-use -------------------------------------------------------------------------------

_LOOPBACK_V4 = re.compile(r"^[0-9A-F]{6}7F$")  # 127.x.x.x, little-endian in /proc/net/tcp
_LOOPBACK_V6 = {"00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
_LISTEN = "0A"


def _listeners(port: int) -> list[tuple[str, str]]:
    """(local address hex, socket inode) of every TCP socket listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            address, _, hexport = cols[1].partition(":")
            if cols[3] == _LISTEN and int(hexport, 16) == port:
                found.append((address, cols[9]))
    return found


def _is_loopback(address: str) -> bool:
    return bool(_LOOPBACK_V4.match(address)) or address in _LOOPBACK_V6


def _owners(inodes: set[str]) -> set[int]:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    pids.add(int(entry.name))
                    break
        except OSError:
            continue
    return pids


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


@action("stop_port_holder")
def stop_port_holder(
    ctx: FixContext,
    port: int,
    grace_s: float = 5.0,
) -> str:
    """Stop the leftover process of this project that holds loopback ``port`` (SIGTERM, then wait).

    Args:
        ctx: the job's directory: the holder's working directory must be inside it.
        port: the TCP port from the error (``EADDRINUSE ... 127.0.0.1:3000``).
        grace_s: seconds to wait for the port to be free after SIGTERM (never SIGKILL);
            polled every 50 ms.

    Linux only (reads ``/proc``). A stopped process is not restarted on rollback.

    Raises:
        LookupError: nothing listens on the port, or a listener is not on loopback
            (``0.0.0.0``, a LAN address) or cannot be attributed to one process.
        PermissionError: the holder is another user's, or runs outside the job's directory.
        TimeoutError: the port is still held after ``grace_s``.
    """
    if not 0 < port < 65536:
        raise ValueError(f"{port} is not a TCP port")
    if not Path("/proc/net/tcp").exists():
        raise RuntimeError("port holders are found through /proc (Linux only)")
    listeners = _listeners(port)
    if not listeners:
        raise LookupError(f"nothing listens on port {port} now")
    if not all(_is_loopback(address) for address, _ in listeners):
        raise LookupError(f"port {port} has a listener that is not on loopback; not touching it")
    pids = _owners({inode for _, inode in listeners})
    if len(pids) != 1:
        raise LookupError(f"cannot tell which one process holds port {port} (found {len(pids)})")
    pid = pids.pop()
    proc = Path(f"/proc/{pid}")
    if proc.stat().st_uid != os.getuid() or pid == os.getpid():
        raise PermissionError(f"port {port} is held by process {pid} of another user")
    where = (proc / "cwd").resolve()
    if where != ctx.cwd and ctx.cwd not in where.parents:
        raise PermissionError(
            f"process {pid} holding port {port} runs in {where}, outside the job; not stopping it"
        )
    name = shlex.join((proc / "cmdline").read_text().split("\0")[:-1][:3])
    os.kill(pid, signal.SIGTERM)
    ctx.changes.append(f"sent SIGTERM to process {pid} ({name}) holding port {port}")
    ctx.irreversible.append(f"process {pid} ({name}) was stopped")
    deadline = time.monotonic() + grace_s
    while not (_gone(pid) and not _listeners(port)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"port {port} is still held {grace_s:g}s after SIGTERM to {pid}")
        time.sleep(0.05)
    return f"stopped process {pid} ({name}) holding port {port}"
