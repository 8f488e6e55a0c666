"""Real failing jobs for explorer tests, and the rule + action a careful model would write."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tether.process.command import run_command

PYTHON = sys.executable

CONFIG_JOB = """\
import sys
from pathlib import Path
path = Path(sys.argv[1] if len(sys.argv) > 1 else "conf/app.ini")
if not path.exists():
    sys.exit(f"fatal: cannot open config file '{path}': No such file or directory")
print("config ok")
"""

RULE = """\
name: missing-config-file
description: The job needs a config file that is not there; create it.
when:
  - fact: stderr
    regex: "cannot open config file '(?P<path>[^']+)'"
then:
  - action: create_config_file
    params: {path: "{path}"}
"""

CODE = '''\
from pathlib import Path

from tether import action


@action("create_config_file")
def create_config_file(path: str) -> str:
    """Create the missing config file (empty)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("")
    return f"created {target}"
'''

NOOP_CODE = '''\
from tether import action


@action("create_config_file")
def create_config_file(path: str) -> str:
    """Claims to fix it, does nothing."""
    return "nothing done"
'''


def config_job(work: Path) -> list[str]:
    """Write the job into ``work``; its argv (it fails until conf/app.ini exists)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "job.py").write_text(CONFIG_JOB)
    return [PYTHON, "job.py"]


def failing_context(work: Path, *args: str) -> dict[str, Any]:
    """Run the job for real and return its failure context."""
    result = run_command([*config_job(work), *args], cwd=work, stream=False)
    assert result.exit_code != 0, result.stdout
    return result.context()
