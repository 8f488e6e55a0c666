"""Every case of the shell corpus, end to end: ``Tether.run_command`` on the real command.

``recovered``: a rule fired and the re-run passed. ``not-fired``: no rule's
action completed (nothing changed on disk, the command's exit code came
back unchanged). ``recognised``: a merge-conflict rule fired, changed nothing,
said what to do, and the command's exit code came back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.starter.corpus import Case
from tests.starter.corpus_shell import CASES
from tether import Tether


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every path of the job's directory and of its sibling ``elsewhere``, with its mode and bytes."""
    out = {}
    paths = [*(root / "work").rglob("*"), *(root / "elsewhere").rglob("*")]
    for path in sorted(paths):
        if ".git" in path.relative_to(root).parts:
            continue
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[str(path.relative_to(root))] = (path.lstat().st_mode, data)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path: Path, work: Path, engine: Tether) -> None:
    for tool in case.needs:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    (tmp_path / "elsewhere").mkdir()
    argv = case.setup(work)
    before = snapshot(tmp_path)
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    if case.expect == "recovered":
        assert result.exit_code == 0, result.stderr
        assert outcome is not None and outcome.recovered, outcome
        return
    if outcome is None:  # the command passed, or no recovery ran: nothing fired
        assert case.expect == "not-fired"
        return
    attempts = outcome.attempts if outcome is not None else []
    assert all(a.outcome == "action_error" for a in attempts), attempts
    assert snapshot(tmp_path) == before  # nothing left behind, inside the job or out
    if case.expect == "recognised":
        assert [a.rule for a in attempts][:1] and attempts[0].rule.startswith("merge-conflict")
        assert "MergeConflict: a file has merge conflict markers (<<<<<<< at " in (
            attempts[0].error or ""
        )
