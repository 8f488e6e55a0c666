"""atomic_write on real files: content, permission bits, no temp files left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tether.store.files import atomic_write


def test_replacing_a_file_keeps_its_permission_bits(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("echo old\n")
    script.chmod(0o755)
    atomic_write(script, "echo new\n")
    assert script.read_text() == "echo new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["deploy.sh"]


def test_a_new_file_gets_the_umask_default_not_0600(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "sub" / "rule.yaml", "name: x\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "sub" / "rule.yaml").stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_content_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("precious")
    with pytest.raises(TypeError):
        atomic_write(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
