"""Importing submitted action code in a child process that refuses side effects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.explore.isolate import import_in_isolation

GOOD = '''\
from theow import action   # the seed's import works too


@action("fix_it")
def fix_it(path: str, mode: int = 0o644, **extra: str) -> str:
    """Fix the thing at path."""
    return path
'''


def test_a_clean_file_reports_its_actions_and_signatures() -> None:
    report = import_in_isolation(GOOD)
    assert report.ok
    sig = report.actions["fix_it"]
    assert (sig.params, sig.required, sig.var_keyword) == (("path", "mode"), ("path",), True)
    assert sig.description == "Fix the thing at path."
    assert sig.check({"path": "x", "anything": "y"}) is None
    assert "requires path" in (sig.check({"mode": "1"}) or "")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("import os\nos.system('touch {target}')\n", "starts a program (os.system)"),
        (
            "import subprocess\ntry:\n    subprocess.run(['touch', '{target}'])\nexcept OSError:\n    pass\n",
            "subprocess.Popen",
        ),
        (
            "from pathlib import Path\ntry:\n    Path('{target}').write_text('x')\nexcept OSError:\n    pass\n",
            "for writing",
        ),
        ("import os\nos.makedirs('{target}')\n", "os.mkdir"),
    ],
)
def test_side_effects_outside_are_refused_even_when_the_code_catches_them(
    tmp_path: Path, body: str, words: str
) -> None:
    target = tmp_path / "made-by-import"
    report = import_in_isolation(body.format(target=target))
    assert not report.ok
    assert any(words in v for v in report.violations), report.violations
    assert not target.exists()


def test_removing_things_outside_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "keep"
    victim.mkdir()
    (victim / "file").write_text("data")
    report = import_in_isolation(f"import shutil\nshutil.rmtree({str(victim)!r})\n")
    assert report.violations and (victim / "file").read_text() == "data"


def test_writing_inside_its_own_directory_is_allowed() -> None:
    report = import_in_isolation("open('scratch.txt', 'w').write('ok')\n")
    assert report.ok


def test_a_watched_directory_that_changes_is_a_violation(tmp_path: Path) -> None:
    # a write through libc, past Python's audit hooks, is still seen by the watch
    watched = tmp_path / "rules"
    watched.mkdir()
    code = (
        f"p = {str(watched / 'sneaky.rule.yaml')!r}\n"
        "import ctypes\n"
        "libc = ctypes.CDLL(None)\n"
        "fd = libc.open(p.encode(), 0o101, 0o644)\n"
        "libc.close(fd)\n"
    )
    report = import_in_isolation(code, watch=[watched])
    assert any("sneaky.rule.yaml" in v for v in report.violations)


def test_an_import_that_hangs_is_stopped() -> None:
    report = import_in_isolation("import time\ntime.sleep(30)\n", timeout_s=1.0)
    assert report.timed_out and not report.ok
