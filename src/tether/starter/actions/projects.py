"""Starter actions for a project's own dependencies: node_modules, the project's venv, src layout.

Each action reads the project's manifest in the job's directory (``package.json``,
``requirements*.txt``, ``pyproject.toml``) and installs only what it declares:

- :func:`npm_install_declared`: ``npm ci`` (a lockfile exists) or ``npm install``, with
  ``--no-audit --no-fund``, when a missing package or ``npm run`` binary is declared;
  ``node_modules`` (and a lockfile ``npm install`` wrote) are removed on rollback.
- :func:`pip_install_declared`: ``<venv>/bin/python -m pip install -r requirements.txt``
  (or the declared requirement from ``pyproject.toml``) into the project's own ``.venv/``
  or ``venv/``, only when the failing interpreter is that venv's; what pip added to the
  venv is removed on rollback.
- :func:`put_src_on_pythonpath`: ``PYTHONPATH=src`` for the re-runs (undone on rollback).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tether.actions.fix import FixContext
from tether.actions.registry import action

__all__ = [
    "IMPORT_ALIASES",
    "npm_install_declared",
    "pip_install_declared",
    "put_src_on_pythonpath",
]

_NPM_SECTIONS = ("dependencies", "devDependencies", "optionalDependencies")
_NPM_LOCKS = ("package-lock.json", "npm-shrinkwrap.json")


def _read_package_json(ctx: FixContext) -> dict[str, Any]:
    manifest = ctx.path("package.json")
    if not manifest.is_file():
        raise FileNotFoundError(f"no package.json in {ctx.cwd}; nothing declares the package")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"package.json does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("package.json is not a JSON object")
    return data


def _declared_npm(data: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for section in _NPM_SECTIONS:
        deps = data.get(section)
        if isinstance(deps, dict):
            names.update(str(name) for name in deps)
    return names


def _package_of(module: str) -> str:
    """``@scope/name/sub`` -> ``@scope/name``; ``name/sub`` -> ``name``."""
    parts = module.split("/")
    return "/".join(parts[:2]) if module.startswith("@") else parts[0]


def _bin_owner(ctx: FixContext, binary: str, declared: set[str]) -> str | None:
    """The declared package that provides ``binary``: same name, or the lockfile's ``bin`` map."""
    if binary in declared:
        return binary
    for lock in _NPM_LOCKS:
        path = ctx.path(lock)
        if not path.is_file():
            continue
        try:
            packages = json.loads(path.read_text(encoding="utf-8")).get("packages", {})
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        entries = packages if isinstance(packages, dict) else {}
        # a file: dependency is a link node_modules/x -> vendor/x, and vendor/x holds its bin map
        linked = {
            str(info.get("resolved")): str(key).rpartition("node_modules/")[2]
            for key, info in entries.items()
            if isinstance(info, dict) and info.get("link")
        }
        for key, info in entries.items():
            if not isinstance(info, dict):
                continue
            name = str(info.get("name") or linked.get(key) or key.rpartition("node_modules/")[2])
            if binary in (info.get("bin") or {}) and name in declared:
                return name
    return None


@action("npm_install_declared")
def npm_install_declared(ctx: FixContext, package: str = "", binary: str = "") -> str:
    """Install the project's declared npm dependencies when one of them is missing.

    Args:
        ctx: the job's directory (holding ``package.json``) and the journal.
        package: a module node could not find (``left-pad``, ``@scope/x/sub``); relative
            and absolute paths are refused.
        binary: a program ``npm run`` found no local binary for (``eslint``).

    Runs ``npm ci`` when ``package-lock.json``/``npm-shrinkwrap.json`` exists, else
    ``npm install``, both with ``--no-audit --no-fund``; ``node_modules`` (and a lockfile
    the install wrote) are removed on rollback.

    Raises:
        ValueError: neither or both of ``package``/``binary``, or a path instead of a package.
        LookupError: ``package.json`` does not declare it (nothing is installed).
        FileExistsError: it is installed already; the failure has another cause.
        RuntimeError: npm is missing or the install failed (its output attached).
    """
    if bool(package) == bool(binary):
        raise ValueError("give exactly one of package, binary")
    data = _read_package_json(ctx)
    declared = _declared_npm(data)
    if package:
        if package.startswith((".", "/", "node:")) or "\\" in package:
            raise ValueError(f"{package!r} is a path or a built-in, not a package to install")
        name = _package_of(package)
        if name not in declared:
            raise LookupError(
                f"package.json does not declare {name!r}; not installing what the project "
                "did not ask for"
            )
        if ctx.path(Path("node_modules", name, "package.json")).is_file():
            raise FileExistsError(f"node_modules/{name} is installed; the error has another cause")
        wanted = name
    else:
        owner = _bin_owner(ctx, binary, declared)
        if owner is None:
            raise LookupError(
                f"no dependency declared in package.json provides {binary!r} "
                "(same name, or the lockfile's bin map)"
            )
        if os.path.lexists(ctx.cwd / "node_modules" / ".bin" / binary):
            raise FileExistsError(f"node_modules/.bin/{binary} exists; the error has another cause")
        wanted = owner
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH")
    has_lock = any(ctx.path(lock).is_file() for lock in _NPM_LOCKS)
    argv = [npm, "ci" if has_lock else "install", "--no-audit", "--no-fund"]
    creates = ["node_modules"] + ([] if has_lock else ["package-lock.json"])
    try:
        ctx.run(argv, creates=creates)
    except subprocess.CalledProcessError as exc:
        tail = "\n".join(str(exc.stderr or exc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"npm {argv[1]} failed (exit {exc.returncode}): {tail}") from None
    return f"npm {argv[1]} (for {wanted})"


# -- Python: the project's own venv -------------------------------------------------------------

IMPORT_ALIASES: dict[str, tuple[str, ...]] = {
    "yaml": ("pyyaml",),
    "PIL": ("pillow",),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python"),
    "sklearn": ("scikit-learn",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",),
    "jwt": ("pyjwt",),
    "attr": ("attrs",),
    "serial": ("pyserial",),
    "Crypto": ("pycryptodome",),
    "magic": ("python-magic",),
    "google": ("protobuf",),
    "git": ("gitpython",),
    "MySQLdb": ("mysqlclient",),
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "OpenSSL": ("pyopenssl",),
}
"""Import names whose distribution is named otherwise (canonical names); used only when declared."""

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(path: Path) -> dict[str, str]:
    """canonical name -> requirement line, for the plain requirements of a requirements file."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _REQ_NAME.match(line)
        if match:
            found[_canonical(match.group(1))] = line
    return found


def _pyproject_names(path: Path) -> dict[str, str]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"pyproject.toml does not parse: {exc}") from None
    project = data.get("project", {})
    specs: list[str] = list(project.get("dependencies", []) or [])
    for group in (project.get("optional-dependencies") or {}).values():
        specs.extend(group or [])
    found: dict[str, str] = {}
    for spec in specs:
        match = _REQ_NAME.match(str(spec))
        if match:
            found[_canonical(match.group(1))] = str(spec)
    return found


def _find_venv(ctx: FixContext) -> Path:
    for name in (".venv", "venv"):
        candidate = ctx.cwd / name
        if (candidate / "pyvenv.cfg").is_file() and not candidate.is_symlink():
            ctx.path(candidate)  # refuses a venv directory that leads out of the job
            if os.path.lexists(candidate / "bin" / "python"):
                return candidate
    raise FileNotFoundError(f"no project venv (.venv/ or venv/ with pyvenv.cfg) in {ctx.cwd}")


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _ran_in_venv(context: Mapping[str, Any], venv: Path, cwd: Path) -> bool:
    """Whether the failing interpreter is ``venv``'s: its bin/ in the command, or its files in the traceback."""
    bin_dir = os.path.realpath(venv / "bin")
    words = _words(str(context.get("command", "")))
    heads = [w for i, w in enumerate(words) if i == 0 or words[i - 1] in ("&&", "||", ";", "|")]
    for word in words:
        if "/" in word:
            where = os.path.abspath(word if os.path.isabs(word) else cwd / word)
            if os.path.realpath(os.path.dirname(where)) == bin_dir:
                return True
    for word in heads:
        if "/" not in word:
            found = shutil.which(word)
            if found and os.path.realpath(os.path.dirname(os.path.abspath(found))) == bin_dir:
                return True
    trace = f"{context.get('stderr', '')}\n{context.get('stdout', '')}"
    return f'File "{venv}{os.sep}' in trace or f"\n{venv}{os.sep}lib" in trace


def _site_packages(venv: Path) -> list[Path]:
    return sorted((venv / "lib").glob("python*/site-packages"))


def _installed(venv: Path, dist: str) -> bool:
    for site in _site_packages(venv):
        for info in site.glob("*.dist-info"):
            if _canonical(info.name.removesuffix(".dist-info").rsplit("-", 1)[0]) == dist:
                return True
    return False


def _pip_argv(venv: Path) -> list[str]:
    python = str(venv / "bin" / "python")
    if any((site / "pip").is_dir() for site in _site_packages(venv)):
        return [python, "-m", "pip"]
    import importlib.util

    if importlib.util.find_spec("pip") is not None:  # a venv made without pip (uv venv ...)
        return [sys.executable, "-m", "pip", "--python", python]
    raise RuntimeError(f"{venv.name} has no pip, and neither has tether's interpreter")


@action("pip_install_declared")
def pip_install_declared(ctx: FixContext, module: str) -> str:
    """Install the project's declared requirements into its own venv when ``module`` is missing there.

    Args:
        ctx: the job's directory (holding ``.venv/`` or ``venv/`` and the manifest) and the journal.
        module: the import name Python did not find (``yaml``, ``demo_dep.sub``).

    Preconditions, checked before anything changes: the venv exists in the job's directory,
    the failing command ran its interpreter (its ``bin/`` in the command or on ``PATH``, or its
    files in the traceback), a ``requirements*.txt`` or ``pyproject.toml`` there declares the
    distribution (``demo_dep`` matches ``demo-dep``; ``yaml`` matches ``PyYAML`` through
    :data:`IMPORT_ALIASES`), and that distribution is not installed yet. Then runs
    ``<venv>/bin/python -m pip install -r <requirements file>`` (or the declared requirement of
    ``pyproject.toml``; the project itself is not installed). What pip added to the venv is
    removed on rollback; upgrades of packages already there are not undone.

    Raises:
        FileNotFoundError: no venv; LookupError: not declared, or another interpreter failed;
        FileExistsError: installed already; RuntimeError: pip failed (its output attached).
    """
    top = module.split(".")[0]
    if not top.isidentifier():
        raise ValueError(f"{module!r} is not a module name")
    venv = _find_venv(ctx)
    if not _ran_in_venv(ctx.context, venv, ctx.cwd):
        raise LookupError(
            f"the failing interpreter is not {venv.name}'s (not in the command, PATH or traceback)"
        )
    wanted = {_canonical(top), *IMPORT_ALIASES.get(top, ())}
    target: tuple[str, list[str]] | None = None
    for req in sorted(ctx.cwd.glob("requirements*.txt")):
        names = _requirement_names(ctx.path(req))
        hit = wanted & names.keys()
        if hit:
            target = (min(hit), ["-r", req.name])
            break
    if target is None and ctx.path("pyproject.toml").is_file():
        names = _pyproject_names(ctx.path("pyproject.toml"))
        hit = wanted & names.keys()
        if hit:
            target = (min(hit), [names[min(hit)]])
    if target is None:
        raise LookupError(
            f"neither requirements*.txt nor pyproject.toml declares {top!r}; "
            "not installing what the project did not ask for"
        )
    dist, args = target
    if _installed(venv, dist):
        raise FileExistsError(
            f"{dist} is installed in {venv.name}; the import fails for another reason"
        )
    argv = [*_pip_argv(venv), "install", "--disable-pip-version-check", *args]
    watched = [*_site_packages(venv), venv / "bin"]
    before = {d: set(os.listdir(d)) for d in watched if d.is_dir()}
    try:
        ctx.run(argv)
    except subprocess.CalledProcessError as exc:
        tail = "\n".join(str(exc.stderr or exc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"pip install failed (exit {exc.returncode}): {tail}") from None
    finally:
        added = [d / n for d, names in before.items() for n in set(os.listdir(d)) - names]
        if added:
            ctx.on_rollback(
                lambda: _remove_all(added),
                f"installed into {venv.name}: {', '.join(sorted(p.name for p in added)[:6])}",
            )
    return f"pip install {' '.join(args)} into {venv.name}"


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# -- Python: src layout -------------------------------------------------------------------------


@action("add_src_to_pythonpath")  # the name rules used before 0.2; kept as an alias for a release
@action("put_src_on_pythonpath")
def put_src_on_pythonpath(ctx: FixContext, module: str) -> str:
    """Make a package in ``<job>/src`` importable: prepend ``src`` to ``PYTHONPATH`` for the re-runs.

    Args:
        ctx: the job's directory and the journal (the variable is restored on rollback).
        module: the top-level import name that was not found.

    Raises:
        ModuleNotFoundError: ``src/<module>/`` or ``src/<module>.py`` does not exist.
        RuntimeError: ``src`` is on ``PYTHONPATH`` already; the import fails for another reason.
    """
    src = ctx.path("src")
    if not ((src / module).is_dir() or (src / f"{module}.py").is_file()):
        raise ModuleNotFoundError(f"no {module} package or module in {src}")
    entries = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(src) in entries:
        raise RuntimeError(f"{src} is already on PYTHONPATH; the import fails for another reason")
    ctx.set_env("PYTHONPATH", os.pathsep.join([str(src), *entries]))
    return f"PYTHONPATH={src}"
