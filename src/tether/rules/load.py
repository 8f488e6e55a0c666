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
from tether.rules.match import ANALYSIS_VERSION, PatternInfo, analyze, remember_analysis
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
        if cached:
            _remember(item)
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
                stale = not _analysed(hit[2])
                rules = _rules_from_data(hit[2], entry.path, cached=True)
                for rule in rules:
                    rule._source = Path(entry.path)
                if stale:  # cached before its regexes' analysis was stored (or by another version)
                    fresh.append(
                        (entry.path, stat.st_mtime_ns, stat.st_size, [_dump(r) for r in rules])
                    )
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


_ANALYSIS_KEY = "__analysis__"
"""Key of a cached rule's regex analyses: ``[ANALYSIS_VERSION, [[fact_index, groups, ignore_case,
line_local], ...]]`` (see ``tether.rules.match.analyze``), so that building the prefilter after a
warm load parses no regex."""


def _dump(rule: Rule) -> dict[str, Any]:
    data = rule.model_dump(mode="json", exclude_defaults=True)
    analyses = []
    for i, fact in enumerate(rule.when):
        if fact.regex is not None:
            info = analyze(fact.regex)
            analyses.append([i, [list(g) for g in info.groups], info.ignore_case, info.line_local])
    data[_ANALYSIS_KEY] = [ANALYSIS_VERSION, analyses]
    return data


def _analysed(data: Any) -> bool:
    """Whether cached rule data carries analyses of the current version."""
    items = data if isinstance(data, list) else [data]
    return all(
        isinstance(item, dict)
        and isinstance(item.get(_ANALYSIS_KEY), list)
        and item[_ANALYSIS_KEY][:1] == [ANALYSIS_VERSION]
        for item in items
    )


def _remember(item: dict[str, Any]) -> None:
    """Take the stored analyses out of cached rule data and seed ``analyze`` with them."""
    stored = item.pop(_ANALYSIS_KEY, None)
    if not isinstance(stored, list) or stored[:1] != [ANALYSIS_VERSION]:
        return
    when = item.get("when")
    try:
        for index, groups, ignore_case, line_local in stored[1]:
            pattern = when[index]["regex"]  # type: ignore[index]
            info = PatternInfo(tuple(tuple(g) for g in groups), ignore_case, line_local)
            remember_analysis(pattern, info)
    except (TypeError, KeyError, IndexError, ValueError):
        return  # not what this version writes: analyse on first use instead
