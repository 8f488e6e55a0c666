"""``tether agent schedule|automations|inbox`` as a user runs them (real processes, real home)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def tether(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TETHER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=home.parent,
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--every", "5x"], "--every: '5x' is not a duration"),
        (["--every", "0s"], "--every: '0s': an interval must be longer than zero"),
        (["--every", "3s"], "--every: '3s' is shorter than 10s; pass --force"),
        (["--cron", "0 2 * * * *"], "--cron: cron '0 2 * * * *' has 6 fields"),
        (["--cron", "0 0 31 2 *"], "--cron: cron '0 0 31 2 *': Bad day-of-month"),
        (
            ["--cron", "0 2 * * *", "--tz", "Europe/Berlni"],
            "--tz: unknown time zone 'Europe/Berlni'",
        ),
        (["--every", "1h", "--overlap", "sometimes"], "--overlap: 'sometimes'"),
        (["--every", "1h", "--cron", "0 2 * * *"], "--every/--cron: give exactly one"),
    ],
)
def test_bad_schedules_exit_2_naming_the_flag_and_write_nothing(
    home: Path, flags: list[str], named: str
) -> None:
    proc = tether("agent", "schedule", "add", "nightly", "do it", *flags, home=home)
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr
    assert not (home / "automations").exists()


def test_schedule_add_list_tick_history_and_inbox(home: Path) -> None:
    add = tether(
        "agent", "schedule", "add", "nightly", "summarise CI",
        "--cron", "30 2 * * *", "--tz", "Europe/Berlin", "--model", "anthropic/claude-test",
        home=home,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    text = (home / "automations" / "nightly.yaml").read_text()
    assert "cron: 30 2 * * *" in text and "tz: Europe/Berlin" in text
    again = tether("agent", "schedule", "add", "nightly", "x", "--every", "1h", home=home)
    assert again.returncode == 2 and "exists" in again.stderr
    assert (home / "automations" / "nightly.yaml").read_text() == text  # nothing lost

    listed = json.loads(tether("agent", "automations", "list", "--json", home=home).stdout)
    assert [a["name"] for a in listed["automations"]] == ["nightly"]
    assert listed["automations"][0]["schedule"] == "cron '30 2 * * *' Europe/Berlin"

    # An every-10s automation that is due at once; its run raises before starting (no key).
    (home / "automations" / "often.yaml").write_text(
        "prompt: check\nevery: 10s\nmodel: anthropic/claude-test\ncreated: 2020-01-01T00:00:00+00:00\n"
    )
    tick = tether("agent", "automations", "tick", "--json", home=home)
    assert tick.returncode == 1, tick.stderr  # a run failed
    ran = json.loads(tick.stdout)["ran"]
    # the catch-up, and the current slot when one is on time: each failed
    assert 1 <= len(ran) <= 2
    assert {(r["automation"], r["status"]) for r in ran} == {("often", "failed")}

    hist = json.loads(
        tether("agent", "automations", "history", "often", "--json", home=home).stdout
    )
    statuses = [s["status"] for s in hist["slots"]]
    assert statuses[0] == "failed" and set(statuses) <= {"failed", "missed"}
    assert len(statuses) == 50  # the newest 50 of the slots since the outage
    assert (
        "ANTHROPIC_API_KEY" in hist["slots"][0]["reason"] or "Missing" in hist["slots"][0]["reason"]
    )

    items = json.loads(tether("agent", "inbox", "list", "--json", home=home).stdout)["items"]
    assert len(items) == 1 and items[0]["key"].startswith("automation:often:")
    assert ran[0]["run_id"] in items[0]["run_ids"]
    assert items[0]["count"] == statuses.count("failed")
    acked = tether("agent", "inbox", "ack", str(items[0]["id"]), "--json", home=home)
    assert json.loads(acked.stdout)["status"] == "acked"
    shown = tether("agent", "inbox", "show", items[0]["key"], home=home)
    assert "[acked]" in shown.stdout and ran[0]["run_id"] in shown.stdout
    assert tether("agent", "inbox", "resolve", "999", home=home).returncode == 2


def test_a_broken_automation_file_is_named_and_exits_2_in_list(home: Path) -> None:
    folder = home / "automations"
    folder.mkdir(parents=True)
    (folder / "broken.yaml").write_text("prompt: [unclosed\n")
    (folder / "typo.yaml").write_text("prompt: x\nevery: 1h\nmax_catchup_runs: '5'\n")
    (folder / "good.yaml").write_text("prompt: x\nevery: 1h\n")
    proc = tether("agent", "automations", "list", home=home)
    assert proc.returncode == 2
    assert "broken.yaml: broken YAML" in proc.stderr
    assert "typo.yaml: key 'max_catchup_runs': expected int, got str '5'" in proc.stderr
    assert "good: every 3600s" in proc.stdout
    unknown = tether("agent", "automations", "history", "nope", home=home)
    assert unknown.returncode == 2 and "no automation 'nope'" in unknown.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_the_daemon_stops_cleanly_on_sigterm_and_ctrl_c(home: Path, sig: int, code: int) -> None:
    (home / "automations").mkdir(parents=True)
    (home / "automations" / "hourly.yaml").write_text("prompt: x\nevery: 1h\n")
    env = {**os.environ, "TETHER_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "agent", "automations", "run"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    assert "scheduling 1 automation(s)" in proc.stderr.readline()
    proc.send_signal(sig)
    assert proc.wait(timeout=20) == code
    assert "scheduler stopped" in proc.stderr.read()
