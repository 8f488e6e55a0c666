"""Agent Skills: ``skills/<name>/SKILL.md`` folders the model loads on demand.

The `Agent Skills <https://agentskills.io/specification>`_ format: a folder per skill holding a
``SKILL.md`` whose YAML frontmatter has ``name`` and ``description`` and whose body is the
instructions. Skills are found in the project's ``skills/`` and in ``<home>/skills/`` (a project
skill wins over a home skill of the same name). The model sees each skill's name and
description in the system prompt and loads a body with the ``load_skill`` tool; ``--skill NAME``
preloads one.

Names follow the spec: 1-64 lowercase letters, digits and single hyphens, not starting or ending
with a hyphen, and equal to the folder's name. Because a name is validated before it is looked
up, and only names found by the scan can be loaded, no name (``../x``, ``/etc``) reaches a file
outside the skill folders. Only ``SKILL.md`` inside a folder is a skill: a ``README.md`` in
``skills/`` is not. A broken skill (no frontmatter, bad YAML, a missing or wrong-typed key, a
name that breaks the rules) is reported by file and key and skipped; the others stay usable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import ConfigError

__all__ = [
    "MAX_DESCRIPTION_CHARS",
    "MAX_SKILL_BYTES",
    "Skill",
    "SkillError",
    "SkillProblem",
    "Skills",
    "check_skill_name",
]

SKILL_FILE = "SKILL.md"
MAX_DESCRIPTION_CHARS = 1024
"""The spec's limit on ``description``."""
MAX_SKILL_BYTES = 64 * 1024
"""Most bytes of a ``SKILL.md`` that are read (a bigger body is cut, and said so)."""

_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class SkillError(ConfigError):
    """A skill name is invalid or unknown, or a skill file is broken (names the file and key)."""


@dataclass(frozen=True)
class Skill:
    """One valid skill.

    Attributes:
        name: its name (equal to its folder's).
        description: what it is for and when to use it (shown to the model).
        body: the instructions (the file after the frontmatter).
        path: its ``SKILL.md``.
        source: ``"project"`` or ``"home"``.
    """

    name: str
    description: str
    body: str
    path: Path
    source: str


@dataclass(frozen=True)
class SkillProblem:
    """Why one skill file was skipped: ``path``, the ``key`` at fault (or ``""``) and a message."""

    path: Path
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.key}" if self.key else str(self.path)
        return f"{where}: {self.message}"


def check_skill_name(name: str) -> str | None:
    """Why ``name`` is not a valid skill name, or ``None`` when it is."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > 64:
        return f"is {len(name)} characters; at most 64"
    if not _NAME.match(name):
        return "use lowercase letters, digits and single hyphens, not at the start or end"
    return None


def _parse(path: Path, folder: str, source: str) -> Skill | SkillProblem:
    import yaml

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SKILL_BYTES + 1)
        text = raw[:MAX_SKILL_BYTES].decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SkillProblem(path, "", f"cannot read ({exc})")
    if not text.startswith("---"):
        return SkillProblem(path, "", "no YAML frontmatter (the file must start with '---')")
    head, sep, body = text[3:].partition("\n---")
    if not sep:
        return SkillProblem(path, "", "the frontmatter is not closed by a '---' line")
    try:
        meta = yaml.load(head, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return SkillProblem(path, "", f"malformed YAML frontmatter{where}: {problem}")
    if not isinstance(meta, dict):
        return SkillProblem(path, "", "the frontmatter must be a mapping with name and description")
    for key in ("name", "description"):
        if key not in meta:
            return SkillProblem(path, key, "missing")
        if not isinstance(meta[key], str) or not meta[key].strip():
            return SkillProblem(path, key, f"must be a non-empty string, got {meta[key]!r}")
    name, description = meta["name"], meta["description"].strip()
    problem = check_skill_name(name)
    if problem is not None:
        return SkillProblem(path, "name", f"{name!r}: {problem}")
    if name != folder:
        return SkillProblem(path, "name", f"{name!r} must equal its folder's name {folder!r}")
    if len(description) > MAX_DESCRIPTION_CHARS:
        return SkillProblem(path, "description", f"longer than {MAX_DESCRIPTION_CHARS} characters")
    body = body.partition("\n")[2].strip()
    if len(raw) > MAX_SKILL_BYTES:
        body += f"\n[… {SKILL_FILE} cut at {MAX_SKILL_BYTES} bytes]"
    return Skill(name, description, body, path, source)


class Skills:
    """The skills of a project and a home, scanned once.

    Args:
        roots: ``(directory, source)`` pairs searched in order; the first skill of a name wins.

    Use :meth:`for_project` for the usual ``<project>/skills`` + ``<home>/skills``.
    """

    def __init__(self, roots: Iterable[tuple[Path, str]]) -> None:
        self.skills: dict[str, Skill] = {}
        """Valid skills by name, in scan order."""
        self.problems: list[SkillProblem] = []
        """The files that were skipped, and why."""
        for root, source in roots:
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                path = folder / SKILL_FILE
                if not path.is_file():
                    continue
                found = _parse(path, folder.name, source)
                if isinstance(found, SkillProblem):
                    self.problems.append(found)
                elif found.name not in self.skills:
                    self.skills[found.name] = found

    @classmethod
    def for_project(cls, root: str | Path, home: str | Path | None = None) -> Skills:
        """Skills of ``<root>/skills/`` (source ``project``) and ``<home>/skills/`` (``home``)."""
        roots = [(Path(root) / "skills", "project")]
        if home is not None:
            roots.append((Path(home) / "skills", "home"))
        return cls(roots)

    def names(self) -> list[str]:
        """The valid skills' names, in scan order."""
        return list(self.skills)

    def get(self, name: str) -> Skill:
        """The skill ``name``.

        Raises:
            SkillError: ``name`` breaks the naming rules (``../x``), or no valid skill has it
                (the message lists the known ones, and a problem found in its file if any).
        """
        problem = check_skill_name(name)
        if problem is not None:
            raise SkillError(f"skill name {name!r}: {problem}")
        try:
            return self.skills[name]
        except KeyError:
            pass
        broken = [str(p) for p in self.problems if p.path.parent.name == name]
        if broken:
            raise SkillError(f"skill {name!r} is broken: {broken[0]}")
        known = ", ".join(self.skills) or "none"
        raise SkillError(f"no skill named {name!r} (skills: {known})")

    def catalogue(self) -> str:
        """The text the model sees: each skill's name and description, and how to load one."""
        if not self.skills:
            return ""
        lines = ["SKILLS (call load_skill with a name to read its instructions before using it):"]
        lines += [f"- {s.name}: {s.description}" for s in self.skills.values()]
        return "\n".join(lines)

    def load_skill_tool(self) -> Any:
        """The ``load_skill(name)`` tool over these skills (a :class:`tether.tools.Tool`).

        Its schema is written out rather than built from type hints: building it costs a few ms
        per run, and the function checks its one argument itself.
        """
        from tether.tools.tool import Tool

        def load_skill(name: Any) -> str:
            if not isinstance(name, str):
                raise SkillError(f"skill name must be a string, got {type(name).__name__}")
            skill = self.get(name)
            return f"# Skill: {skill.name}\n{skill.body}"

        return Tool(
            name="load_skill",
            fn=load_skill,
            description="Read a skill's instructions by its name (one of the SKILLS listed).",
            parameters={
                "type": "object",
                "properties": {"name": {"type": "string", "description": "the skill's name"}},
                "required": ["name"],
                "additionalProperties": False,
            },
            timeout_s=10.0,
            parallel_safe=True,
        )
