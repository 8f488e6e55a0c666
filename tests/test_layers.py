"""The import graph points down the layers, and no module uses another's ``_private`` names.

Reads every module under ``src/tether`` with :mod:`ast` (imports inside functions and under
``TYPE_CHECKING`` included). ``KNOWN`` lists today's violations, each with its reason; the test
fails on a violation not in ``KNOWN`` and on a ``KNOWN`` entry that no longer occurs, so the
set shrinks as the fixes land.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "tether"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_types", "_lazy", "errors", "home", "_text", "_bridge", "__version__"),
    ("config",),
    ("store",),
    ("llm",),
    ("process",),
    ("tools",),
    ("rules",),
    ("actions",),
    ("resolve",),
    ("recover",),
    ("loop",),
    ("regulator",),
    ("protocols",),
    ("explore",),
    ("starter",),
    ("orchestrate",),
    ("testing",),
    ("wiring",),
    ("engine",),
    ("cli",),
    ("__init__", "__main__"),
)
"""Bottom up. A module's layer is that of its first segment under ``tether``."""

RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

ALLOWED_PRIVATE_ATTRS = {
    "_getframe": "sys._getframe: the stdlib's way to read a caller's frame",
    "_exit": "os._exit: leave a forked child without running the parent's cleanup",
    "_replace": "namedtuple._replace: the public copy-with-changes of a namedtuple",
    "_asdict": "namedtuple._asdict: public namedtuple API",
    "_fields": "namedtuple._fields: public namedtuple API",
    "_runtime_param": "typer's hook name for a parameter filled in at run time",
}

KNOWN: dict[str, str] = {}
"""Violations present today -> why they are still here (another helper of issue 12 removes them)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _is_module(module: str) -> bool:
    rel = Path(*module.split("."))
    return (SRC.parent / rel).with_suffix(".py").exists() or (SRC.parent / rel).is_dir()


def _resolve(module: str, node: ast.ImportFrom, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _defined_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
    return names


def _violations() -> list[str]:
    found: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        layer = _layer(module)
        rank = RANK.get(layer)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        defined = _defined_names(tree)
        for node in ast.walk(tree):
            targets: list[tuple[str, list[str]]] = []
            if isinstance(node, ast.Import):
                targets = [(alias.name, []) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node, path.name == "__init__.py")
                targets = [(target, [alias.name for alias in node.names])]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.endswith("__")
                and node.attr not in defined
                and node.attr not in ALLOWED_PRIVATE_ATTRS
            ):
                found.append(f"private attribute: {module} reads ._{node.attr[1:]}")
            for target, names in targets:
                if target != "tether" and not target.startswith("tether."):
                    continue
                for name in names:
                    if (
                        name.startswith("_")
                        and not name.startswith("__")
                        and target != module
                        and not _is_module(f"{target}.{name}")
                    ):
                        found.append(f"private import: {module} imports {name} from {target}")
                if target == "tether":
                    layers = [n if n in RANK else "__init__" for n in names] or ["__init__"]
                else:
                    layers = [_layer(target)]
                for other in layers:
                    if other == layer:
                        continue
                    if rank is None or other not in RANK:
                        found.append(f"unknown layer: {module} -> {target} ({other})")
                    elif RANK[other] > rank:
                        found.append(f"upward import: {module} -> {target} ({other} above {layer})")
    return sorted(set(found))


def test_imports_point_down_and_privates_stay_home() -> None:
    found = _violations()
    new = [v for v in found if v not in KNOWN]
    gone = [v for v in KNOWN if v not in found]
    lines = [f"new violation:   {v}" for v in new] + [f"KNOWN, now gone: {v}" for v in gone]
    assert not lines, "\n" + "\n".join(lines)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    tree = ast.parse("from tether.engine import Tether\n")
    node = tree.body[0]
    assert isinstance(node, ast.ImportFrom)
    assert RANK[_layer(node.module or "")] > RANK["recover"]
