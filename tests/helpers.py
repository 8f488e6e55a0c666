"""Builders for tests: real failing jobs made in tmp_path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def run(argv: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a real command, capture text output, never raise on failure."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, **kwargs)


def write_rule(home: Path, name: str, text: str) -> Path:
    """Write ``text`` as ``home/rules/<name>.rule.yaml``."""
    path = home / "rules" / f"{name}.rule.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_action(home: Path, name: str, text: str) -> Path:
    """Write ``text`` as ``home/actions/<name>.py``."""
    path = home / "actions" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def missing_file_rule(
    home: Path, name: str, action: str, ending: str = "", extra: str = ""
) -> None:
    """A rule for FileNotFoundError on a path ending with ``ending``; ``{path}`` goes to ``action``."""
    write_rule(
        home,
        name,
        f"""\
name: {name}
when:
  - fact: error_type
    equals: FileNotFoundError
  - fact: error
    regex: "No such file or directory: '(?P<path>[^']*{ending})'"
then:
  - action: {action}
    params:
      path: "{{path}}"
{extra}""",
    )


PYTHON = sys.executable
