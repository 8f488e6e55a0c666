"""Sub-agent definitions: ``agents/<name>.md`` files, loaded and checked.

A sub-agent file follows the Claude Code sub-agent convention: YAML frontmatter between two
``---`` lines, then the body, which is the agent's system prompt::

    ---
    name: reviewer
    description: Reads the code and reports problems; never edits.
    tools: [read_file, list_directory]      # or "Read, Grep, Glob"
    max_iterations: 8                       # or maxTurns: 8
    token_limit: 40000
    isolation: worktree                     # optional: run in a git worktree of its own
    ---
    You review code. Report each problem with its file and line.

Files are looked up in ``<project>/agents/`` first, then ``<home>/agents/``; an agent is found
by the ``name`` in its frontmatter (files are listed, never opened by a name given at run
time, so no name can reach a file outside those folders). A file that does not load raises
:class:`SubAgentError` naming the file and the key; :func:`find_agents` collects such errors
instead of failing, so one broken file never hides the others.

What a sub-agent may do at run time (its tools are the intersection of its allow-list and
its parent's tools, its budget is charged to the parent) is :mod:`tether.orchestrate.delegate`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tether.errors import ConfigError

__all__ = [
    "AGENTS_DIR",
    "BUILTIN_TOOLS",
    "AgentCatalog",
    "SubAgent",
    "SubAgentError",
    "UnknownAgent",
    "find_agents",
    "load_agent",
    "parse_agent",
]

AGENTS_DIR = "agents"
"""The folder (under the project and under the home) holding ``<name>.md`` agent files."""

BUILTIN_TOOLS = frozenset({"read_file", "write_file", "list_directory", "run_command"})
"""Tool names every workspace offers (:class:`tether.tools.builtin.Workspace`)."""

CLAUDE_TOOL_NAMES: Mapping[str, tuple[str, ...]] = {
    "Read": ("read_file",),
    "Write": ("write_file",),
    "Edit": ("write_file",),
    "MultiEdit": ("write_file",),
    "LS": ("list_directory",),
    "Glob": ("list_directory",),
    "Grep": ("read_file", "list_directory"),
    "Bash": ("run_command",),
}
"""Claude Code tool names in an allow-list, mapped to tether's tools, so its files load."""

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
_IGNORED_KEYS = frozenset(
    {"color", "permissionMode", "skills", "hooks", "mcpServers", "memory", "background", "effort"}
)
_KEYS = frozenset(
    {
        "name",
        "description",
        "tools",
        "disallowed_tools",
        "disallowedTools",
        "model",
        "max_iterations",
        "maxTurns",
        "token_limit",
        "cost_limit_usd",
        "wall_clock_s",
        "isolation",
    }
)


class SubAgentError(ConfigError):
    """An agent file that does not load, or a use of one that cannot work.

    Attributes:
        file: the agent file, when one is concerned.
        key: the frontmatter key at fault (``"max_iterations"``, ``"tools"``), else ``None``.
        problem: what is wrong and what to do.
    """

    def __init__(self, problem: str, *, file: str | None = None, key: str | None = None) -> None:
        self.problem = problem
        self.file = file
        self.key = key
        where = [part for part in (file, f"key {key!r}" if key else None) if part]
        super().__init__(f"{': '.join(where)}: {problem}" if where else problem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.problem, self.file, self.key))


class UnknownAgent(SubAgentError):
    """No agent file defines this name (the CLI exits 2)."""


def _rebuild(cls: type[SubAgentError], problem: str, file: str | None, key: str | None) -> Any:
    return cls(problem, file=file, key=key)


@dataclass(frozen=True)
class SubAgent:
    """One sub-agent, as its file defines it.

    Attributes:
        name: its identifier (lowercase letters, digits, ``-`` and ``_``).
        description: when to use it; shown to a parent that may delegate.
        system_prompt: the file's body (its instructions), sent once per request.
        tools: the allow-list (tether tool names), ``None`` when the file sets none: then the
            agent may use every tool of its parent (except ``delegate``).
        disallowed_tools: tools it may never use, even when allowed.
        model: a ``provider/model`` name, ``None`` for the parent's model.
        max_iterations: its iteration ceiling.
        token_limit: its token ceiling (input + output), ``None``: what the parent has left.
        cost_limit_usd: its USD ceiling, ``None``: what the parent has left (if it has a limit).
        wall_clock_s: its wall-clock ceiling in seconds, ``None``: what the parent has left.
        isolation: ``"worktree"`` to run in a git worktree of its own, else ``None``.
        path: the file it came from (``None`` for agents built in code).
    """

    name: str
    description: str
    system_prompt: str
    tools: tuple[str, ...] | None = None
    disallowed_tools: tuple[str, ...] = ()
    model: str | None = None
    max_iterations: int = 10
    token_limit: int | None = None
    cost_limit_usd: float | None = None
    wall_clock_s: float | None = None
    isolation: Literal["worktree"] | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def file(self) -> str | None:
        """:attr:`path` as text (what errors name), ``None`` for agents built in code."""
        return str(self.path) if self.path is not None else None

    def allowed(self, available: Iterable[str]) -> list[str]:
        """The tools this agent gets from a parent offering ``available``: the intersection
        with its allow-list, less ``disallowed_tools`` and ``delegate`` (no nesting).

        Raises:
            SubAgentError: the allow-list names a tool that is neither a built-in tool nor
                one of ``available`` (key ``tools``).
        """
        offered = list(dict.fromkeys(available))
        if self.tools is not None:
            known = set(offered) | BUILTIN_TOOLS
            unknown = [t for t in self.tools if t not in known]
            if unknown:
                raise SubAgentError(
                    f"unknown tool {unknown[0]!r} in the allow-list; known tools: "
                    + ", ".join(sorted(known)),
                    file=self.file,
                    key="tools",
                )
        chosen = offered if self.tools is None else [t for t in offered if t in self.tools]
        return [t for t in chosen if t not in self.disallowed_tools and t != "delegate"]


def parse_agent(text: str, *, file: str = "<string>") -> SubAgent:
    """A :class:`SubAgent` from the text of an agent file.

    Args:
        text: ``---`` YAML frontmatter ``---`` then the system prompt.
        file: the name used in errors.

    Raises:
        SubAgentError: no frontmatter, broken YAML, an unknown key, a missing ``name`` or
            ``description``, or a value of the wrong type (each names ``file`` and the key).
    """
    import yaml

    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)(.*)\Z", text, re.S | re.M)
    if match is None:
        raise SubAgentError(
            "no YAML frontmatter: start the file with '---', the keys, then '---'", file=file
        )
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise SubAgentError(f"frontmatter is not valid YAML ({exc})", file=file) from None
    if not isinstance(meta, dict):
        raise SubAgentError("frontmatter must be a mapping of keys", file=file)
    for key in meta:
        if key in _IGNORED_KEYS:
            continue
        if not isinstance(key, str) or key not in _KEYS:
            close = difflib.get_close_matches(str(key), sorted(_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SubAgentError(f"unknown key{hint}", file=file, key=str(key))
    fields = _Fields(meta, file)
    name = fields.text("name", required=True)
    assert name is not None
    if not _NAME.match(name):
        raise SubAgentError(
            f"{name!r} is not a valid agent name (lowercase letters, digits, '-' and '_', "
            "at most 64 characters)",
            file=file,
            key="name",
        )
    if "max_iterations" in meta and "maxTurns" in meta:
        raise SubAgentError("give max_iterations or maxTurns, not both", file=file, key="maxTurns")
    turns_key = "maxTurns" if "maxTurns" in meta else "max_iterations"
    isolation = fields.text("isolation")
    if isolation not in (None, "worktree"):
        raise SubAgentError(
            f"{isolation!r} is not an isolation; use 'worktree' or leave it out",
            file=file,
            key="isolation",
        )
    disallowed_key = "disallowedTools" if "disallowedTools" in meta else "disallowed_tools"
    description = fields.text("description", required=True)
    assert description is not None
    return SubAgent(
        name=name,
        description=description,
        system_prompt=match.group(2).strip(),
        tools=fields.tools("tools"),
        disallowed_tools=fields.tools(disallowed_key) or (),
        model=fields.text("model"),
        max_iterations=fields.positive_int(turns_key) or 10,
        token_limit=fields.positive_int("token_limit"),
        cost_limit_usd=fields.positive_number("cost_limit_usd"),
        wall_clock_s=fields.positive_number("wall_clock_s"),
        isolation="worktree" if isolation == "worktree" else None,
        path=None if file == "<string>" else Path(file),
    )


def load_agent(path: str | os.PathLike[str]) -> SubAgent:
    """The agent defined in the file at ``path``.

    Raises:
        SubAgentError: the file cannot be read or does not load (naming it and the key).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubAgentError(f"cannot read the agent file ({exc})", file=str(path)) from None
    return parse_agent(text, file=str(path))


@dataclass(frozen=True)
class AgentCatalog:
    """The agents found under the project and the home, by name.

    Attributes:
        agents: name -> agent; a project file wins over a home file of the same name.
        errors: files that did not load (each a :class:`SubAgentError`), skipped.
    """

    agents: Mapping[str, SubAgent]
    errors: Sequence[SubAgentError] = ()

    def get(self, name: str) -> SubAgent:
        """The agent called ``name``.

        Raises:
            UnknownAgent: no file defines it (the message lists the agents there are, and
                the broken file when one might have been meant).
        """
        agent = self.agents.get(name)
        if agent is not None:
            return agent
        known = ", ".join(sorted(self.agents)) or "none"
        hint = ""
        for error in self.errors:
            if error.file and Path(error.file).stem == name:
                hint = f"; {error.file} might define it but does not load: {error.problem}"
        raise UnknownAgent(f"no agent named {name!r} (agents: {known}){hint}")

    def __contains__(self, name: object) -> bool:
        return name in self.agents

    def __len__(self) -> int:
        return len(self.agents)


def find_agents(
    project: str | os.PathLike[str] | None = None, home: str | os.PathLike[str] | None = None
) -> AgentCatalog:
    """Every agent in ``<project>/agents/*.md`` and ``<home>/agents/*.md``.

    Args:
        project: the project root (the run's ``cwd``), or ``None``.
        home: the tether home, or ``None``.

    Returns:
        The catalog; files that do not load are listed in ``errors`` and skipped. Two files of
        one folder defining the same name: the second is an error (key ``name``).
    """
    agents: dict[str, SubAgent] = {}
    errors: list[SubAgentError] = []
    for base in (project, home):
        if base is None:
            continue
        folder = Path(base) / AGENTS_DIR
        if not folder.is_dir():
            continue
        here: dict[str, SubAgent] = {}
        for path in sorted(folder.glob("*.md")):
            if path.name.lower() == "readme.md" or not path.is_file():
                continue
            try:
                agent = load_agent(path)
            except SubAgentError as exc:
                errors.append(exc)
                continue
            if agent.name in here:
                errors.append(
                    SubAgentError(
                        f"{agent.name!r} is already defined by {here[agent.name].path}",
                        file=str(path),
                        key="name",
                    )
                )
                continue
            here[agent.name] = agent
        for name, agent in here.items():
            agents.setdefault(name, agent)
    return AgentCatalog(agents, tuple(errors))


class _Fields:
    """Typed reads of frontmatter keys; a wrong type names the file and the key."""

    def __init__(self, meta: Mapping[str, Any], file: str) -> None:
        self.meta = meta
        self.file = file

    def _error(self, key: str, problem: str) -> SubAgentError:
        return SubAgentError(problem, file=self.file, key=key)

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.meta.get(key)
        if value is None:
            if required:
                raise self._error(key, "missing; it is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self._error(key, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def positive_int(self, key: str) -> int | None:
        value = self.meta.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._error(
                key, f"must be a whole number, got {value!r} ({type(value).__name__})"
            )
        if value <= 0:
            raise self._error(key, f"must be positive, got {value}")
        return value

    def positive_number(self, key: str) -> float | None:
        value = self.meta.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._error(key, f"must be a number, got {value!r} ({type(value).__name__})")
        if value <= 0:
            raise self._error(key, f"must be positive, got {value}")
        return float(value)

    def tools(self, key: str) -> tuple[str, ...] | None:
        value = self.meta.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list):
            items = value
        else:
            raise self._error(key, f"must be a list of tool names, got {value!r}")
        names: list[str] = []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise self._error(key, f"must be a list of tool names, got {item!r} in it")
            names.extend(CLAUDE_TOOL_NAMES.get(item.strip(), (item.strip(),)))
        return tuple(dict.fromkeys(names))
