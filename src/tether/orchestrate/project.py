"""What a target project configures for agent runs: its home, model, ``.env`` and MCP servers.

Everything is resolved from the **project directory** (``--cwd``), never from the shell's
working directory: the home is the nearest ``.tether/`` above the project (or ``$TETHER_HOME``),
``config.yaml`` is that home's, ``.env`` is the project's, and MCP servers come from the
project's ``.mcp.json`` (the Claude Code layout)::

    {"mcpServers": {"git": {"command": "uvx", "args": ["mcp-server-git"], "env": {}},
                    "search": {"url": "http://127.0.0.1:8000/mcp"}}}

Bad files raise :class:`ProjectConfigError` naming the file and the key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError

__all__ = [
    "MCP_FILE",
    "Project",
    "ProjectConfigError",
    "load_model",
    "parse_dotenv",
]

MCP_FILE = ".mcp.json"
"""The project's MCP server list (``{"mcpServers": {name: {...}}}``)."""

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


class ProjectConfigError(ConfigError):
    """A project file (``.env``, ``.mcp.json``, a scripted model) is malformed; names file and key."""


def parse_dotenv(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a ``.env`` file (``export``, quotes and ``#`` comments handled).

    A missing file gives ``{}``.

    Raises:
        ProjectConfigError: a line that is neither blank, a comment nor ``NAME=value``
            (names the file and line number).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectConfigError(f"{path}: cannot read ({exc})") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ProjectConfigError(f"{path}:{number}: expected NAME=value")
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        out[name] = value
    return out


@dataclass(frozen=True)
class Project:
    """A target project as agent runs see it.

    Attributes:
        root: the project directory (absolute).
        home: its tether home (``<home>/config.yaml``, traces, the store).
        env: its ``.env`` values (not applied to the process; see :meth:`missing_env`).
    """

    root: Path
    home: Path
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def at(
        cls, root: str | os.PathLike[str], *, home: str | os.PathLike[str] | None = None
    ) -> Project:
        """The project at ``root``: home resolved from there, ``.env`` read.

        Raises:
            ProjectConfigError: ``root`` is not a directory, or ``.env`` is malformed.
        """
        from tether.home import resolve_home

        where = Path(root).expanduser().absolute()
        if not where.is_dir():
            raise ProjectConfigError(f"--cwd {root}: not a directory")
        return cls(where, resolve_home(home, start=where), parse_dotenv(where / ".env"))

    def missing_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The ``.env`` values whose names ``environ`` does not set (the shell wins)."""
        return {k: v for k, v in self.env.items() if k not in environ}

    def configured_model(self) -> str | None:
        """``engine.llm`` of the project's ``config.yaml``, or ``None``.

        Raises:
            ConfigError: the config file is malformed (names file and field).
        """
        from tether.config import load_config

        return load_config(self.home).engine.llm

    def configured_secondary(self) -> str | None:
        """``engine.llm_secondary`` of the project's ``config.yaml`` (the default evaluator), or
        ``None``.

        Raises:
            ConfigError: the config file is malformed (names file and field).
        """
        from tether.config import load_config

        return load_config(self.home).engine.llm_secondary

    def mcp_servers(self) -> list[Any]:
        """The servers of ``<root>/.mcp.json`` as :class:`tether.tools.mcp.MCPServer` objects.

        Raises:
            ProjectConfigError: malformed JSON, or a server entry with a wrong key or type
                (names the file and the key).
        """
        path = self.root / MCP_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProjectConfigError(f"{path}: cannot read as JSON ({exc})") from None
        servers = data.get("mcpServers", {}) if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            raise ProjectConfigError(f"{path}: key 'mcpServers' must be an object of servers")
        from tether.errors import MCPError
        from tether.tools.mcp import MCPServer

        allowed = {"command", "args", "env", "url", "headers", "timeout_s", "type", "cwd"}
        out = []
        for name, spec in servers.items():
            where = f"{path}: mcpServers.{name}"
            if not isinstance(spec, dict):
                raise ProjectConfigError(f"{where}: expected an object")
            unknown = sorted(set(spec) - allowed)
            if unknown:
                raise ProjectConfigError(f"{where}.{unknown[0]}: unknown key")
            for key, kind in (("args", list), ("env", dict), ("headers", dict)):
                if key in spec and not isinstance(spec[key], kind):
                    raise ProjectConfigError(f"{where}.{key}: expected a {kind.__name__}")
            try:
                out.append(
                    MCPServer(
                        name,
                        command=spec.get("command"),
                        args=spec.get("args", ()),
                        env=spec.get("env"),
                        url=spec.get("url"),
                        headers=spec.get("headers"),
                        cwd=self.root / spec["cwd"] if "cwd" in spec else self.root,
                        timeout_s=spec.get("timeout_s", 60.0),
                    )
                )
            except MCPError as exc:
                raise ProjectConfigError(f"{where}: {exc}") from None
        return out


def load_model(spec: str | None, project: Project) -> Any:
    """The model to hand :class:`tether.Loop`: ``spec`` as given, or a scripted model file.

    ``"scripted:<file.py>"`` (relative to the home, as in ``config.yaml``) is the test seam: the
    file defines ``MODEL`` (a :class:`tether.testing.ScriptedModel`).

    Raises:
        ProjectConfigError: no model configured, or the scripted file is unusable.
    """
    chosen = spec if spec is not None else project.configured_model()
    if chosen is None:
        raise ProjectConfigError(
            f"no model: pass --model provider/name or set engine.llm in {project.home / 'config.yaml'}"
        )
    if not chosen.startswith("scripted:"):
        return chosen
    from tether.errors import ConfigError
    from tether.llm.configured import scripted_model

    try:
        return scripted_model(
            project.home, chosen.removeprefix("scripted:"), label=f"model {chosen!r}"
        )
    except ConfigError as exc:
        raise ProjectConfigError(str(exc)) from None
