"""Reading rule files: YAML in, validated :class:`Rule` objects or a precise :class:`RuleError` out.

A rule file holds one rule (a mapping, the seed's format) or a list of rules.
Every error names the file, the rule (when its name could be read) and the
field, e.g. ``rules/pip.rule.yaml: rule 'pip-conflict': field 'when[1].regex':
pattern does not compile under RE2 (...)``.

Loading a directory of 10k rule files is dominated by YAML parsing, RE2
compilation and validation, so :func:`load_dir` takes an optional
:class:`RuleCache`. A file parsed once is cached as its rules' dumps (and the
prefilter's analyses of their regexes), keyed by the file's modification and
change times (ns), size and inode, the hash of its bytes, and tether's
version (:data:`CACHE_SCHEMA`). On the next load an unchanged file is rebuilt
from that data without YAML, validation or RE2 (``rule_from_dump``).

A file whose times are too close to the moment it was cached (within
:data:`RACY_WINDOW_NS`, as git's "racily clean" index entries) might have been
rewritten within one tick of the file system's clock, keeping its times and
size: such a file is read and its hash compared, so a rewrite within the same
second is always seen. Rows of files no longer in the directory are pruned.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from tether import __version__
from tether.errors import RuleError
from tether.rules.match import ANALYSIS_VERSION, PatternInfo, analyze, remember_analysis
from tether.rules.model import Rule, rule_from_dump

__all__ = [
    "CACHE_SCHEMA",
    "RACY_WINDOW_NS",
    "RULE_SUFFIX",
    "LoadResult",
    "RuleCache",
    "cache_key",
    "load_dir",
    "load_file",
    "load_text",
]

RULE_SUFFIX = ".rule.yaml"

CACHE_SCHEMA = f"rules/3 tether/{__version__} analysis/{ANALYSIS_VERSION}"
"""What a cached row must carry to be used: the row layout (bump ``rules/N`` when it or the
dump changes), tether's version and the regex analysis's (pydantic's is added on first use)."""

RACY_WINDOW_NS = 3_000_000_000
"""A cached file whose modification or change time is less than this (3 s) before the moment
its row was written is checked by content hash, not by times and size alone: the file system's
clock ticks coarsely (up to 2 s on FAT), so a rewrite then could keep all of them."""


_LAYOUT = "rules/3:"


def cache_key(path: str) -> str:
    """The key of a rule file's row in a :class:`RuleCache`: its path, tagged with the row layout.

    The tag keeps tether versions that wrote other layouts in the same
    ``tether.db`` (one that trusted times and size alone, say) from reading
    these rows, and this one from reading theirs.
    """
    return _LAYOUT + path


class RuleCache(Protocol):
    """Parsed rule files, one row per file path.

    A row is ``(path, mtime_ns, size_bytes, data)``; ``data`` is a JSON-able
    list that only :func:`load_dir` reads and writes (a header, then the dumps
    of the file's rules). The SQLite store implements it.
    """

    def get_many(self, paths: Iterable[str]) -> dict[str, tuple[int, int, list[dict[str, Any]]]]:
        """``{path: (mtime_ns, size_bytes, data)}`` for those of ``paths`` the cache holds."""
        ...

    def put_many(self, rows: Iterable[tuple[str, int, int, list[dict[str, Any]]]]) -> None:
        """Store ``(path, mtime_ns, size_bytes, data)`` rows, replacing older ones."""
        ...

    def prune_rule_cache(self, folders: Iterable[str], keep: Iterable[str]) -> int:
        """Drop the rows of files directly in one of ``folders`` (each a key prefix ending in a
        path separator) whose key is not in ``keep``; returns how many went."""
        ...


@dataclass
class LoadResult:
    """What :func:`load_dir` found: the rules that loaded, and one error per file that did not."""

    rules: list[Rule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


@functools.cache
def _loader() -> Any:
    """PyYAML's C safe loader, with plain scalars' implicit tags remembered by text.

    Rule files repeat the same keys (``name``, ``fact``, ``regex`` ...) and
    quote most values; resolving a plain scalar runs a regex per candidate
    tag, a quoted one none. Same tags as ``SafeLoader`` (it has no path
    resolvers, which would make a tag depend on the node's place).
    """
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    scalar = yaml.ScalarNode
    if base.yaml_path_resolvers:  # pragma: no cover - not PyYAML's safe loader
        return base
    plain: dict[str, str] = {}

    class Loader(base):  # type: ignore[misc,valid-type]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is scalar:
                if not implicit[0]:
                    return _STR
                tag = plain.get(value)
                if tag is None:
                    tag = super().resolve(kind, value, implicit)
                    if len(value) <= 64 and len(plain) < 4096:
                        plain[value] = tag
                return tag
            return super().resolve(kind, value, implicit)

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None

    return Loader


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


def _rules_from_data(data: Any, file: str) -> list[Rule]:
    items = data if isinstance(data, list) else [data]
    rules = []
    for item in items:
        if not isinstance(item, dict):
            raise RuleError(
                f"expected a mapping with name/when/then, got {type(item).__name__}", file=file
            )
        name = item.get("name") if isinstance(item.get("name"), str) else None
        try:
            rules.append(Rule.model_validate(item))
        except ValidationError as exc:
            raise _validation_error(exc, file, name) from None
    return rules


def _parse(text: str, file: str) -> Any:
    import yaml

    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else _construct_document(loader, node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"malformed YAML{where}: {problem}", file=file) from None
    finally:
        loader.dispose()
    if data is None:
        raise RuleError("the file is empty", file=file)
    return data


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Unusual(Exception):
    """A node :func:`_construct_document` leaves to PyYAML's own constructor."""


def _construct_document(loader: Any, root: Any) -> Any:
    """What ``loader.construct_document(root)`` returns, built faster.

    PyYAML's constructor (pure Python) costs more than its C parser. Plain
    maps, sequences and strings, all a rule file holds, are built here
    directly; any other scalar (numbers, booleans, null, dates) goes through
    PyYAML's constructor one by one. A document with merge keys, tagged
    collections, complex keys or recursive aliases is handed whole to PyYAML,
    so the result, and any error, is PyYAML's own.
    """
    try:
        return _build(root, loader)
    except (_Unusual, TypeError, RecursionError):
        # TypeError: an unhashable key; RecursionError: an alias inside itself (or a very deep
        # document); PyYAML builds (or refuses) those
        return loader.construct_document(root)


def _build(node: Any, loader: Any) -> Any:
    # a module-level function, not a closure: a closure referring to itself is a reference
    # cycle, which would keep every file's loader alive while load_dir holds off the collector
    kind = node.id  # "scalar", "mapping", "sequence" (PyYAML's node classes)
    if kind == "scalar":
        if node.tag == _STR:
            return node.value
        return loader.construct_object(node, deep=True)
    if kind == "mapping" and node.tag == _MAP:
        out = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar" or key_node.tag == _MERGE:
                raise _Unusual
            out[_build(key_node, loader)] = _build(value_node, loader)
        return out
    if kind == "sequence" and node.tag == _SEQ:
        return [_build(item, loader) for item in node.value]
    raise _Unusual


def load_text(text: str, *, file: str = "<string>") -> list[Rule]:
    """Rules from YAML text.

    Raises:
        RuleError: malformed YAML, unknown or missing field, bad matcher, regex RE2 rejects.
    """
    return _rules_from_data(_parse(text, file), file)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror}", file=path) from None


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(f"not UTF-8 text (byte {exc.start})", file=file) from None


def load_file(path: str | os.PathLike[str]) -> list[Rule]:
    """Rules from one ``*.rule.yaml`` file, each remembering its source path.

    Raises:
        RuleError: unreadable or non-UTF-8 file, or any problem :func:`load_text` reports.
    """
    file = os.fspath(path)
    rules = load_text(_decode(_read(file), file), file=file)
    for rule in rules:
        rule.placed(source=file)
    return rules


def load_dir(directory: str | os.PathLike[str], *, cache: RuleCache | None = None) -> LoadResult:
    """Every ``*.rule.yaml`` directly in ``directory``, in file-name order.

    A file that fails to load is reported in ``LoadResult.errors`` and skipped;
    the others still load. Rule names must be unique across the directory: a
    second rule with a taken name is reported as an error naming both files.
    A missing directory yields an empty result.

    Args:
        directory: the rules folder (``<home>/rules``).
        cache: where parsed files are kept between processes (see the module's
            docstring); unchanged files then load without YAML, validation or
            RE2. ``None`` parses every file.

    Returns:
        The rules in file-name order (a file's rules in its order) and one
        :class:`~tether.errors.RuleError` per file that failed or rule name taken twice.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()  # building many small objects; collection passes would only slow it down
    try:
        return _load_dir(Path(directory), cache)
    finally:
        if gc_was_enabled:
            gc.enable()


_Row = tuple[str, int, int, list[dict[str, Any]]]
_HEADER = "__cache__"


@functools.cache
def _schema() -> str:
    import pydantic

    return f"{CACHE_SCHEMA} pydantic/{pydantic.VERSION}"


def _digest(data: bytes) -> str:
    return "b2:" + hashlib.blake2b(data, digest_size=16).hexdigest()


def _load_dir(directory: Path, cache: RuleCache | None) -> LoadResult:
    result = LoadResult()
    try:
        entries = sorted(
            (e for e in os.scandir(directory) if e.name.endswith(RULE_SUFFIX) and e.is_file()),
            key=lambda e: e.name,
        )
    except FileNotFoundError:
        entries = []
    except OSError as exc:
        result.errors.append(RuleError(f"cannot list rules: {exc.strerror}", file=str(directory)))
        return result

    paths = [e.path for e in entries]
    keys = [cache_key(p) for p in paths]
    cached = cache.get_many(keys) if cache is not None and keys else {}
    fresh: list[_Row] = []
    seen: dict[str, str] = {}
    schema = _schema()
    for entry in entries:
        path = entry.path
        try:
            stat = entry.stat()
            key = (stat.st_mtime_ns, stat.st_size, stat.st_ctime_ns, stat.st_ino)
            rules, read, row = _from_cache(path, key, cached.get(cache_key(path)), schema)
            if rules is None:
                if read is None:
                    checked_ns = time.time_ns()  # before the read: a later write is newer
                    content = _read(path)
                else:
                    content, checked_ns = read
                rules = load_text(_decode(content, path), file=path)
                row = _row(path, key, content, checked_ns, rules, schema)
                for rule in rules:
                    rule.placed(source=path)
        except RuleError as exc:
            result.errors.append(exc)
            continue
        if row is not None:
            fresh.append(row)
        for rule in rules:
            if rule.name in seen:
                result.errors.append(
                    RuleError(
                        f"duplicate rule name, already defined in {seen[rule.name]}",
                        file=path,
                        rule=rule.name,
                        field="name",
                    )
                )
                continue
            seen[rule.name] = path
            result.rules.append(rule)
    if cache is not None:
        if fresh:
            cache.put_many(fresh)
        folder = os.path.join(str(directory), "")
        # rows of deleted files, and of this folder's files in the layout before the tag
        cache.prune_rule_cache([cache_key(folder), folder], keys)
    return result


def _from_cache(
    path: str, key: tuple[int, int, int, int], hit: Any, schema: str
) -> tuple[list[Rule] | None, tuple[bytes, int] | None, _Row | None]:
    """``(rules, read, row)`` for a file from its cached row.

    ``rules`` is ``None`` when the row is missing, stale or unreadable.
    ``read`` is ``(content, checked_ns)`` when the file was read to compare
    hashes (``checked_ns``: the clock just before the read), else ``None``.
    ``row`` is a refreshed row to write back (a racily clean file whose hash
    matched), else ``None``.
    """
    if hit is None:
        return None, None, None
    mtime_ns, size, data = hit
    header = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    if (
        header.get(_HEADER) != schema
        or (mtime_ns, size, header.get("ctime_ns"), header.get("inode")) != key
    ):
        return None, None, None
    read = None
    row = None
    checked_ns = header.get("checked_ns")
    if not isinstance(checked_ns, int) or max(key[0], key[2]) > checked_ns - RACY_WINDOW_NS:
        checked_ns = time.time_ns()
        read = (_read(path), checked_ns)
        if _digest(read[0]) != header.get("hash"):
            return None, read, None
        row = (cache_key(path), mtime_ns, size, [{**header, "checked_ns": checked_ns}, *data[1:]])
    try:
        rules = [_from_dump(item, path) for item in data[1:]]
    except (TypeError, KeyError, ValueError, IndexError):
        return None, read, None  # not what this version writes
    return rules, read, row


def _from_dump(item: dict[str, Any], path: str) -> Rule:
    item = dict(item)  # the row may be written back: keep its analyses
    _remember(item)
    return rule_from_dump(item, path)


def _row(
    path: str,
    key: tuple[int, int, int, int],
    content: bytes,
    checked_ns: int,
    rules: list[Rule],
    schema: str,
) -> _Row | None:
    """The cache row for a freshly parsed file; ``None`` when its rules do not survive JSON."""
    mtime_ns, size, ctime_ns, inode = key
    header = {
        _HEADER: schema,
        "ctime_ns": ctime_ns,
        "inode": inode,
        "hash": _digest(content),
        "checked_ns": checked_ns,
    }
    if not all(_plain(step.params) for rule in rules for step in rule.then):
        return None  # e.g. a date or a set in params, which JSON would change: always parse it
    return (cache_key(path), mtime_ns, size, [header, *(_dump(rule) for rule in rules)])


def _plain(value: Any) -> bool:
    """Whether ``value`` comes back from JSON as it went in (the only free-form rule field)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return True
    if kind is list:
        return all(_plain(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


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


def _remember(item: dict[str, Any]) -> None:
    """Take the stored analyses out of cached rule data and seed ``analyze`` with them."""
    stored = item.pop(_ANALYSIS_KEY, None)
    if not isinstance(stored, list) or stored[:1] != [ANALYSIS_VERSION]:
        raise ValueError("no analyses of this version")
    when = item.get("when")
    try:
        for index, groups, ignore_case, line_local in stored[1]:
            pattern = when[index]["regex"]  # type: ignore[index]
            info = PatternInfo(tuple(tuple(g) for g in groups), ignore_case, line_local)
            remember_analysis(pattern, info)
    except (TypeError, KeyError, IndexError, ValueError):
        raise ValueError("not the analyses this version writes") from None
