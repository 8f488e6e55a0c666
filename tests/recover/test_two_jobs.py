"""Two threads recover two jobs on one engine at once, each fixed in its own directory.

No process-wide state: an action that declares ``ctx``, ``cwd`` or ``workspace`` is given the
job's directory, so nothing changes the process's working directory and the two fixes run side
by side. A barrier makes the two actions wait for each other: if one fix held a process-wide
lock (as ``os.chdir`` around actions did), the barrier would break and both jobs would fail.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tether import FixContext, Tether
from tether.rules.load import load_text

# a real job: reads settings.ini in its own directory, fails until it is there
JOB = [
    sys.executable,
    "-c",
    "import sys; open('settings.ini').read(); print('ok')",
]

RULES = load_text(
    "- name: settings-by-ctx\n"
    "  when: [{fact: stderr, regex: \"No such file or directory: 'settings.ini'\"},"
    " {fact: command, contains: by-ctx}]\n"
    "  then: [{action: make_settings_ctx}]\n"
    "- name: settings-by-cwd\n"
    "  when: [{fact: stderr, regex: \"No such file or directory: 'settings.ini'\"},"
    " {fact: command, contains: by-cwd}]\n"
    "  then: [{action: make_settings_cwd}]\n"
)


def engine(home: Path, barrier: threading.Barrier, where: list[str]) -> Tether:
    t = Tether(home=home, starter_rules=False)

    @t.action("make_settings_ctx")
    def make_settings_ctx(ctx: FixContext) -> str:
        where.append(os.getcwd())
        barrier.wait()  # both fixes are running now
        ctx.write_file("settings.ini", "[app]\n")
        return "wrote settings.ini"

    @t.action("make_settings_cwd")
    def make_settings_cwd(cwd: str) -> str:
        where.append(os.getcwd())
        barrier.wait()
        Path(cwd, "settings.ini").write_text("[app]\n", encoding="utf-8")
        return "wrote settings.ini"

    for rule in RULES:
        t.add_rule(rule, ephemeral=False)
    return t


@pytest.mark.parametrize("names", [("by-ctx", "by-ctx"), ("by-ctx", "by-cwd")])
def test_two_threads_recover_two_jobs_each_in_its_own_directory(
    home: Path, tmp_path: Path, names: tuple[str, str]
) -> None:
    barrier = threading.Barrier(2, timeout=20)
    where: list[str] = []
    t = engine(home, barrier, where)
    t.load()
    dirs = [tmp_path / "a", tmp_path / "b"]
    results: dict[int, Any] = {}
    before = os.getcwd()

    def recover(n: int) -> None:
        dirs[n].mkdir()
        argv = [*JOB, names[n]]  # the name is in the command, so each job has its rule
        results[n] = t.run_command(argv, cwd=dirs[n], stream=False)

    threads = [threading.Thread(target=recover, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not barrier.broken, "the two fixes did not run at the same time"
    for n in (0, 1):
        result, outcome = results[n]
        assert outcome is not None and outcome.recovered, outcome
        assert result.exit_code == 0 and result.stdout.strip() == "ok"
        assert (dirs[n] / "settings.ini").read_text(encoding="utf-8") == "[app]\n"
    assert where == [before, before]  # nothing changed the process's working directory
    assert os.getcwd() == before
    assert not (Path(before) / "settings.ini").exists()  # nothing was written where we are


def test_an_action_that_relies_on_the_working_directory_still_works(
    home: Path, tmp_path: Path
) -> None:
    t = Tether(home=home, starter_rules=False)

    @t.action("make_settings_here")
    def make_settings_here() -> str:
        Path("settings.ini").write_text("[app]\n", encoding="utf-8")  # relative: the job's dir
        return "wrote settings.ini"

    t.add_rule(
        load_text(
            "name: settings-here\n"
            "when: [{fact: stderr, regex: \"No such file or directory: 'settings.ini'\"}]\n"
            "then: [{action: make_settings_here}]\n"
        )[0],
        ephemeral=False,
    )
    job = tmp_path / "job"
    job.mkdir()
    before = os.getcwd()
    result, outcome = t.run_command(JOB, cwd=job, stream=False)
    assert result.exit_code == 0
    assert outcome is not None and outcome.recovered
    assert (job / "settings.ini").is_file() and os.getcwd() == before
