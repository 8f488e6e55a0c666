"""What `tether run` shows while it works: retries with their backoff, rollbacks, and a spinner
with the elapsed time for slow fixes on a terminal only."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from tests.helpers import write_action, write_rule
from tether.cli.display import Display
from tether.engine import Tether

TETHER = [sys.executable, "-m", "tether"]

# A job that fails the same way until it has run `n` times (a counter file in its directory).
FLAKY = (
    "import pathlib, sys\n"
    "p = pathlib.Path('runs')\n"
    "n = int(p.read_text()) + 1 if p.exists() else 1\n"
    "p.write_text(str(n))\n"
    "sys.exit(0 if n > int(sys.argv[1]) else 'service busy: try again later')\n"
)

RETRY_RULE = """\
name: busy-service
when:
  - fact: stderr
    contains: "service busy: try again later"
then:
  - action: wait_for_service
retry:
  attempts: {attempts}
  backoff_s: {backoff}
  jitter: false
"""

ACTIONS = """\
import time
from tether import action


@action("wait_for_service")
def wait_for_service() -> None:
    '''Nothing to change: the service comes back by itself.'''


@action("slow_fix")
def slow_fix(seconds: float) -> None:
    '''A fix that takes a while.'''
    time.sleep(seconds)
"""

SLOW_RULE = """\
name: slow-fix
when:
  - fact: stderr
    contains: "needs the slow fix"
then:
  - action: slow_fix
    params: {{seconds: {seconds}}}
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

NEEDS_FIX = "import os, sys; os.path.exists('fixed') or sys.exit('needs the slow fix')"


def recover(home: Path, work: Path, argv: list[str], display: Display) -> int:
    sleeps: list[float] = []
    engine = Tether(home=home, on_event=display, sleep=sleeps.append, starter_rules=False)
    try:
        result, _ = engine.run_command(argv, cwd=work, stream=False)
    finally:
        engine.close()
        display.close()
    display.sleeps = sleeps  # type: ignore[attr-defined]
    return result.exit_code


def test_retries_show_their_number_and_backoff(tmp_path: Path, home: Path) -> None:
    write_rule(home, "busy-service", RETRY_RULE.format(attempts=4, backoff=1.0))
    write_action(home, "service", ACTIONS)
    (tmp_path / "flaky.py").write_text(FLAKY)
    out = io.StringIO()
    display = Display(False, console=Console(file=out, width=200))
    code = recover(home, tmp_path, [sys.executable, "flaky.py", "3"], display)
    assert code == 0
    text = out.getvalue()
    assert "busy-service: retry 1/4 in 1.0 s" in text
    assert "busy-service: retry 2/4 in 2.0 s" in text
    assert "busy-service: retry 3/4 in 4.0 s" in text
    assert "retry 4/4" not in text  # the third re-run passed
    assert display.sleeps == [1.0, 2.0, 4.0]  # type: ignore[attr-defined]
    assert "tether ✓ recovered" in text


def test_retries_are_visible_through_the_real_cli(tmp_path: Path, home: Path) -> None:
    write_rule(home, "busy-service", RETRY_RULE.format(attempts=2, backoff=0))
    write_action(home, "service", ACTIONS)
    (tmp_path / "flaky.py").write_text(FLAKY)
    env = {**os.environ, "TETHER_HOME": str(home)}
    proc = subprocess.run(
        [*TETHER, "run", "--", sys.executable, "flaky.py", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "busy-service: retry 1/2 in 0.0 s" in proc.stderr
    assert "busy-service: retry 2/2 in 0.0 s" in proc.stderr
    assert (tmp_path / "runs").read_text() == "3"


def test_a_slow_fix_gets_a_spinner_with_elapsed_time_on_a_terminal(
    tmp_path: Path, home: Path
) -> None:
    write_rule(home, "slow-fix", SLOW_RULE.format(seconds=0.4))
    write_action(home, "service", ACTIONS)
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=100)
    display = Display(False, console=terminal, spinner_after_s=0.05)
    argv = [sys.executable, "-c", NEEDS_FIX + " if not os.path.exists('x') else None"]
    assert recover(home, tmp_path, argv, display) == 1  # the fix makes nothing: not recovered
    text = ANSI.sub("", out.getvalue())
    shown = re.findall(r"applying rule slow-fix \.\.\. (\d+\.\d) s", text)
    assert shown, text
    assert max(float(s) for s in shown) >= 0.1  # it ticked while the action ran
    assert "✓ slow_fix" in text


def test_no_spinner_for_a_fast_fix_or_off_a_terminal(tmp_path: Path, home: Path) -> None:
    write_rule(home, "slow-fix", SLOW_RULE.format(seconds=0.2))
    write_action(home, "service", ACTIONS)
    argv = [sys.executable, "-c", NEEDS_FIX]
    terminal = io.StringIO()
    display = Display(
        False, console=Console(file=terminal, force_terminal=True, width=100), spinner_after_s=5.0
    )
    recover(home, tmp_path, argv, display)
    assert "applying rule" not in ANSI.sub("", terminal.getvalue())
    assert "trying rule slow-fix" in ANSI.sub("", terminal.getvalue())
    piped = io.StringIO()
    display = Display(False, console=Console(file=piped, width=100), spinner_after_s=0.01)
    recover(home, tmp_path, argv, display)
    assert "applying rule" not in piped.getvalue() and "\x1b[" not in piped.getvalue()
    assert "trying rule slow-fix" in piped.getvalue()
