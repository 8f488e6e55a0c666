"""Automation files: every key checked, errors naming the file and the key, a faithful round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.orchestrate import (
    Automation,
    AutomationBudget,
    AutomationConfigError,
    Cron,
    Every,
    load_automation,
    load_automations,
    save_automation,
)


def write(home: Path, name: str, text: str) -> Path:
    path = home / "automations" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_full_file_loads_with_its_policies(home: Path) -> None:
    path = write(
        home,
        "nightly",
        "prompt: tidy\ncron: '30 2 * * *'\ntz: Europe/Berlin\noverlap: buffer_one\n"
        "catchup_window: 6h\nmax_catchup_runs: 2\njitter: 30s\n"
        "budget: {window: 1d, usd: 2.5, tokens: 100000}\ncwd: ..\nmax_iterations: 5\n",
    )
    a = load_automation(path, home=home)
    assert a.schedule == Cron("30 2 * * *", "Europe/Berlin")
    assert (a.overlap, a.catchup_window_s, a.max_catchup_runs, a.jitter_s) == (
        "buffer_one",
        21600.0,
        2,
        30.0,
    )
    assert a.budget == AutomationBudget(86400.0, 2.5, 100000)
    assert a.cwd == home / ".." and a.max_iterations == 5
    assert a.created_s == pytest.approx(path.stat().st_mtime)  # no slot before the file


def test_save_and_load_round_trip(home: Path) -> None:
    a = Automation(
        "often",
        Every(5.0),
        "check",
        overlap="allow",
        jitter_s=2.0,
        budget=AutomationBudget(3600.0, tokens=5000),
        created_s=1_780_000_000.0,
    )
    path = save_automation(home, a)
    back = load_automation(path, home=home)
    assert back == a
    with pytest.raises(AutomationConfigError, match="exists"):
        save_automation(home, a)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prompt: x\nevery: 1h\nevry: 2h\n", r"key 'evry': unknown key"),
        ("prompt: x\n", r"give exactly one of 'every'"),
        ("prompt: x\nevery: 1h\ncron: '* * * * *'\n", r"give exactly one of 'every'"),
        ("prompt: x\nevery: 5x\n", r"key 'every': '5x' is not a duration"),
        ("prompt: x\nevery: 0s\n", r"key 'every': '0s': an interval must be longer than zero"),
        ("prompt: x\nevery: 1s\n", r"key 'every': '1s' is shorter than 10s"),
        ("prompt: x\nevery: 1h\ntz: UTC\n", r"key 'tz': 'tz' applies to 'cron' only"),
        ("prompt: x\ncron: '0 0 31 2 *'\n", r"key 'cron': cron '0 0 31 2 \*': Bad day-of-month"),
        ("prompt: x\ncron: '0 0 * * *'\ntz: Nowhere/City\n", r"key 'tz': unknown time zone"),
        ("prompt: x\nevery: 1h\nmax_catchup_runs: '5'\n", r"key 'max_catchup_runs': expected int"),
        ("prompt: x\nevery: 1h\noverlap: queue\n", r"key 'overlap': 'queue': use one of"),
        ("prompt: x\nevery: 1h\nbudget: {usd: 1, when: 1d}\n", r"key 'budget'.when: unknown key"),
        ("prompt: x\nevery: 1h\nbudget: {window: 1d}\n", r"key 'budget': give 'usd' or 'tokens'"),
        ("every: 1h\n", r"key 'prompt': give a prompt"),
        ("prompt: x\nevery: 1h\nenabled: 'no'\n", r"key 'enabled': expected bool"),
        ("prompt: [x\n", r"broken YAML"),
        ("- a list\n", r"expected a mapping"),
    ],
)
def test_bad_files_name_the_file_and_the_key(home: Path, text: str, message: str) -> None:
    path = write(home, "bad", text)
    with pytest.raises(AutomationConfigError, match=message) as info:
        load_automation(path, home=home)
    assert str(info.value).startswith(str(path))


def test_a_broken_file_does_not_hide_the_others(home: Path) -> None:
    write(home, "good", "prompt: x\nevery: 1h\n")
    write(home, "bad", "prompt: x\nevery: often\n")
    found, errors = load_automations(home)
    assert [a.name for a in found] == ["good"]
    assert len(errors) == 1 and "bad.yaml: key 'every'" in str(errors[0])


def test_names_cannot_leave_the_folder(home: Path) -> None:
    with pytest.raises(AutomationConfigError, match="not allowed"):
        save_automation(home, Automation("../escape", Every(60.0), "x"))
    assert not (home / "escape.yaml").exists()
