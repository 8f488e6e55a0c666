"""tether.errors names every public error, including those defined in upper layers."""

from __future__ import annotations

import subprocess
import sys

import tether.errors as errors


def test_every_name_in_all_resolves_to_a_tether_error() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        assert isinstance(value, type) and issubclass(value, errors.TetherError), name


def test_upper_layer_errors_are_the_classes_their_modules_raise() -> None:
    from tether.loop.core import NestedLoopError
    from tether.regulator.errors import SnapshotVersionError

    assert errors.NestedLoopError is NestedLoopError
    assert errors.SnapshotVersionError is SnapshotVersionError


def test_importing_errors_imports_nothing_upward() -> None:
    code = "import sys, tether.errors; print(sorted(m for m in sys.modules if m.startswith('tether.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['tether._lazy', 'tether.errors']"
