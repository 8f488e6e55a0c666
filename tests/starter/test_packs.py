"""The opt-in packs: loading them, and each pack's refusals beyond the corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.starter.corpus_projects import (
    SERVER,
    TRAILING,
    engine_with_packs,
    free_port,
    git_repo,
    start_holder,
    write,
)
from tests.starter.support import need
from tether.actions.fix import FixContext
from tether.errors import ConfigError
from tether.starter import PACKS, PACKS_DIR, load_starter
from tether.starter.actions.packs import git_push_set_upstream, strip_trailing_commas

PYTHON = sys.executable


# -- loading ----------------------------------------------------------------------------------


def test_packs_are_off_by_default_and_each_adds_its_own_rules() -> None:
    default = {r.name for r in load_starter()}
    assert sorted(p.name for p in PACKS_DIR.iterdir() if p.is_dir()) == sorted(PACKS)
    for pack in PACKS:
        added = [r for r in load_starter([pack]) if r.name not in default]
        assert added, pack
        assert all(f"pack-{pack}" in r.tags for r in added)
        assert not any(f"pack-{pack}" in r.tags for r in load_starter())


def test_an_unknown_pack_names_the_file_the_field_and_the_known_packs() -> None:
    with pytest.raises(ConfigError) as caught:
        load_starter(["dotenv", "dot-env"])
    message = str(caught.value)
    assert "config.yaml" in message and "engine.packs" in message and "'dot-env'" in message
    assert all(name in message for name in PACKS)


def test_every_pack_rule_matches_its_own_examples() -> None:
    for rule in load_starter(PACKS):
        for fact in rule.when:
            for example in fact.examples:
                if fact.regex is not None:
                    assert fact.compiled.search(example), (rule.name, example)
                else:
                    assert (fact.contains or fact.equals or "") in example, (rule.name, example)


# -- dotenv -----------------------------------------------------------------------------------


def test_dotenv_line_is_removed_again_when_the_job_does_not_read_env(
    work: Path, home: Path
) -> None:
    write(work / ".env.example", "DATABASE_URL=sqlite:///dev.db\n")
    write(work / ".env", "DEBUG=1")  # no final newline: kept as it was
    write(work / "app.py", "import os\nprint(os.environ['DATABASE_URL'])\n")
    engine = engine_with_packs(home, ("dotenv",), [])
    result, outcome = engine.run_command([PYTHON, "app.py"], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and [a.rule for a in outcome.attempts] == ["dotenv-python-environ"]
    assert outcome.attempts[0].outcome != "action_error"
    assert (work / ".env").read_text() == "DEBUG=1"


def test_dotenv_leaves_a_variable_env_already_defines(work: Path, home: Path) -> None:
    write(work / ".env.example", "DATABASE_URL=sqlite:///dev.db\n")
    write(work / ".env", "export DATABASE_URL=\n")
    write(work / "run.sh", 'set -u\nunset DATABASE_URL\necho "$DATABASE_URL"\n')
    engine = engine_with_packs(home, ("dotenv",), [])
    result, outcome = engine.run_command(["bash", "run.sh"], cwd=work, stream=False)
    assert result.exit_code != 0
    assert outcome is not None and [a.outcome for a in outcome.attempts] == ["action_error"]
    assert "defines DATABASE_URL already" in (outcome.attempts[0].error or "")
    assert (work / ".env").read_text() == "export DATABASE_URL=\n"


# -- json-trailing-commas ---------------------------------------------------------------------


def test_trailing_commas_go_and_strings_and_comments_stay() -> None:
    assert json.loads(strip_trailing_commas(TRAILING)) == {
        "name": "a, b",
        "list": [1, 2],
        "url": "http://x/,}",
    }
    jsonc = '{"a": [1, /* x, ] */ 2, // y,]\n], "s": "\\",]"}'
    assert strip_trailing_commas(jsonc) == '{"a": [1, /* x, ] */ 2 // y,]\n], "s": "\\",]"}'


# -- yaml-tabs --------------------------------------------------------------------------------


def test_a_yaml_file_named_outside_the_job_is_not_touched(
    work: Path, tmp_path: Path, home: Path
) -> None:
    outside = write(tmp_path / "elsewhere" / "config.yaml", "a:\n\tb: 1\n")
    write(work / "app.py", f"import yaml\nyaml.safe_load(open({str(outside)!r}))\n")
    engine = engine_with_packs(home, ("yaml-tabs",), [])
    result, outcome = engine.run_command([PYTHON, "app.py"], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and [a.rule for a in outcome.attempts] == ["yaml-tab-indentation"]
    assert "outside the job" in (outcome.attempts[0].error or "")
    assert outside.read_text() == "a:\n\tb: 1\n"


# -- git-upstream -----------------------------------------------------------------------------


def test_git_upstream_refuses_names_that_are_not_plain(work: Path, git_config: Path) -> None:
    git_repo(work)
    ctx = FixContext(work)
    with pytest.raises(ValueError, match="not a plain branch name"):
        git_push_set_upstream(ctx, remote="origin", branch="--delete")
    with pytest.raises(LookupError, match="not a configured remote"):
        git_push_set_upstream(ctx, remote="upstream", branch="feature/x-1")
    with pytest.raises(LookupError, match="current branch"):
        git_push_set_upstream(ctx, remote="origin", branch="main")
    assert ctx.changes == []


# -- port-in-use ------------------------------------------------------------------------------


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Port holders a test starts; each is stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)


def test_a_listener_on_all_interfaces_is_never_stopped(
    work: Path, home: Path, holders: list[subprocess.Popen[bytes]]
) -> None:
    need("node")
    port = free_port()
    holders.append(start_holder(work / "run", port, host="0.0.0.0"))
    write(work / "server.js", SERVER)
    engine = engine_with_packs(home, ("port-in-use",), [])
    result, outcome = engine.run_command(["node", "server.js", str(port)], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and [a.rule for a in outcome.attempts] == ["port-in-use-node"]
    assert "not on loopback" in (outcome.attempts[0].error or "")
    assert holders[0].poll() is None


def test_a_holder_outside_the_job_keeps_running(
    work: Path, tmp_path: Path, home: Path, holders: list[subprocess.Popen[bytes]]
) -> None:
    need("node")
    port = free_port()
    holders.append(start_holder(tmp_path / "elsewhere", port))
    write(work / "server.js", SERVER)
    engine = engine_with_packs(home, ("port-in-use",), [])
    result, outcome = engine.run_command(["node", "server.js", str(port)], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and "outside the job" in (outcome.attempts[0].error or "")
    assert holders[0].poll() is None


def test_python_asyncio_bind_error_names_the_port(
    work: Path, home: Path, holders: list[subprocess.Popen[bytes]]
) -> None:
    need("node")
    port = free_port()
    holders.append(start_holder(work / "run", port))
    serve = (
        "import asyncio, sys\n"
        "async def main():\n"
        "    server = await asyncio.start_server(lambda r, w: None, '127.0.0.1', int(sys.argv[1]))\n"
        "    server.close()\n"
        "asyncio.run(main())\n"
    )
    write(work / "serve.py", serve)
    engine = engine_with_packs(home, ("port-in-use",), [])
    result, outcome = engine.run_command([PYTHON, "serve.py", str(port)], cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert outcome.attempts[0].rule == "port-in-use-python"
    holders[0].wait(5)
    assert os.path.isdir(work / "run")
