"""Reading rule files: YAML in, validated :class:`Rule` objects or a precise :class:`RuleError` out.

A rule file holds one rule (a mapping, the seed's format) or a list of rules.
Every error names the file, the rule (when its name could be read) and the
field, e.g. ``rules/pip.rule.yaml: rule 'pip-conflict': field 'when[1].regex':
pattern does not compile under RE2 (...)``.

Loading a directory of 10k rule files is dominated by YAML parsing, so
:func:`load_dir` takes an optional :class:`RuleCache`: files whose size and
modification time are unchanged since the last load are rebuilt from the
cached, already-parsed data instead of being parsed again.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from tether.errors import RuleError
from tether.rules.model import Rule

__all__ = ["RULE_SUFFIX", "LoadResult", "RuleCache", "load_dir", "load_file", "load_text"]

RULE_SUFFIX = ".rule.yaml"


class RuleCache(Protocol):
    """Parsed rule data keyed by file path, size and modification time (ns)."""

    def get_many(self, paths: Iterable[str]) -> dict[str, tuple[int, int, list[dict[str, Any]]]]:
        """``{path: (mtime_ns, size, data)}`` for the paths the cache holds."""
        ...

    def put_many(self, rows: Iterable[tuple[str, int, int, list[dict[str, Any]]]]) -> None:
        """Store ``(path, mtime_ns, size, data)`` rows, replacing older ones."""
        ...


@dataclass
class LoadResult:
    """What :func:`load_dir` found: the rules that loaded, and one error per file that did not."""

    rules: list[Rule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def _loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _validation_error(exc: ValidationError, file: str, name: str | None) -> RuleError:
    first = exc.errors()[0]
    loc = tuple(first.get("loc", ()))
    message = str(first.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}; check its spelling (see `tether rules show` for the format)"
    elif first.get("type") == "missing":
        message = f"required field {loc[-1]!r} is missing"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return RuleError(message, file=file, rule=name, field=_field_path(loc) or None)


def _rules_from_data(data: Any, file: str, *, cached: bool = False) -> list[Rule]:
    items = data if isinstance(data, list) else [data]
    rules = []
    for item in items:
        if not isinstance(item, dict):
            raise RuleError(
                f"expected a mapping with name/when/then, got {type(item).__name__}", file=file
            )
        name = item.get("name") if isinstance(item.get("name"), str) else None
        try:
            rules.append(Rule.model_validate(item, context={"compiled_before": cached}))
        except ValidationError as exc:
            raise _validation_error(exc, file, name) from None
    return rules


def _parse(text: str, file: str) -> Any:
    import yaml

    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"malformed YAML{where}: {problem}", file=file) from None
    if data is None:
        raise RuleError("the file is empty", file=file)
    return data


def load_text(text: str, *, file: str = "<string>") -> list[Rule]:
    """Rules from YAML text.

    Raises:
        RuleError: malformed YAML, unknown or missing field, bad matcher, regex RE2 rejects.
    """
    return _rules_from_data(_parse(text, file), file)


def load_file(path: str | os.PathLike[str]) -> list[Rule]:
    """Rules from one ``*.rule.yaml`` file, each remembering its source path.

    Raises:
        RuleError: unreadable or non-UTF-8 file, or any problem :func:`load_text` reports.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror}", file=str(path)) from None
    rules = load_text(text, file=str(path))
    for rule in rules:
        rule._source = path
    return rules


def load_dir(directory: str | os.PathLike[str], *, cache: RuleCache | None = None) -> LoadResult:
    """Every ``*.rule.yaml`` directly in ``directory``, in file-name order.

    A file that fails to load is reported in ``LoadResult.errors`` and skipped;
    the others still load. Rule names must be unique across the directory: a
    second rule with a taken name is reported as an error naming both files.
    A missing directory yields an empty result.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()  # building many small objects; collection passes would only slow it down
    try:
        return _load_dir(Path(directory), cache)
    finally:
        if gc_was_enabled:
            gc.enable()


def _load_dir(directory: Path, cache: RuleCache | None) -> LoadResult:
    result = LoadResult()
    try:
        entries = sorted(
            (e for e in os.scandir(directory) if e.name.endswith(RULE_SUFFIX) and e.is_file()),
            key=lambda e: e.name,
        )
    except FileNotFoundError:
        return result
    except OSError as exc:
        result.errors.append(RuleError(f"cannot list rules: {exc.strerror}", file=str(directory)))
        return result

    cached = cache.get_many(e.path for e in entries) if cache is not None else {}
    fresh: list[tuple[str, int, int, list[dict[str, Any]]]] = []
    seen: dict[str, str] = {}
    for entry in entries:
        stat = entry.stat()
        hit = cached.get(entry.path)
        try:
            if hit is not None and hit[0] == stat.st_mtime_ns and hit[1] == stat.st_size:
                rules = _rules_from_data(hit[2], entry.path, cached=True)
                for rule in rules:
                    rule._source = Path(entry.path)
            else:
                rules = load_file(entry.path)
                fresh.append(
                    (entry.path, stat.st_mtime_ns, stat.st_size, [_dump(r) for r in rules])
                )
        except RuleError as exc:
            result.errors.append(exc)
            continue
        for rule in rules:
            if rule.name in seen:
                result.errors.append(
                    RuleError(
                        f"duplicate rule name, already defined in {seen[rule.name]}",
                        file=entry.path,
                        rule=rule.name,
                        field="name",
                    )
                )
                continue
            seen[rule.name] = entry.path
            result.rules.append(rule)
    if cache is not None and fresh:
        cache.put_many(fresh)
    return result


def _dump(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json", exclude_defaults=True)
