"""The engine: ephemeral rules promoted only after a verified fix, plugins, config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether import Tether
from tether.rules.load import load_file, load_text

MARKER_JOB = [
    sys.executable,
    "-c",
    "import os,sys; os.path.exists('ready.flag') or sys.exit('ready.flag missing')",
]

EPHEMERAL = """name: create-ready-flag
description: the job wants ready.flag
when: [{fact: stderr, contains: ready.flag missing}]
then: [{action: touch, params: {name: ready.flag}}]
"""


def engine_with_touch(home: Path, **kwargs: object) -> Tether:
    engine = Tether(home=home, starter_rules=False, **kwargs)  # type: ignore[arg-type]

    @engine.action("touch")
    def touch(name: str) -> None:
        Path(name).touch()

    return engine


def test_ephemeral_rule_is_promoted_after_a_verified_fix(home: Path, tmp_path: Path) -> None:
    engine = engine_with_touch(home)
    [rule] = load_text(EPHEMERAL)
    engine.add_rule(rule, ephemeral=True)
    path = home / "rules" / "create-ready-flag.rule.yaml"
    assert not path.exists()
    result, outcome = engine.run_command(MARKER_JOB, cwd=tmp_path, stream=False)
    assert result.exit_code == 0 and outcome is not None and outcome.recovered
    assert path.exists()
    assert load_file(path)[0] == rule and not rule.ephemeral
    fresh = Tether(home=home, starter_rules=False)
    assert fresh.book.get("create-ready-flag") is not None


def test_ephemeral_rule_that_does_not_fix_is_not_written(home: Path, tmp_path: Path) -> None:
    engine = Tether(home=home, starter_rules=False)

    @engine.action("touch")
    def touch(name: str) -> None:
        Path(name + ".wrong").touch()

    [rule] = load_text(EPHEMERAL)
    engine.add_rule(rule, ephemeral=True)
    result, outcome = engine.run_command(MARKER_JOB, cwd=tmp_path, stream=False)
    assert result.exit_code == 1 and outcome is not None and not outcome.recovered
    assert [a.outcome for a in outcome.attempts] == ["failure"]
    assert not (home / "rules" / "create-ready-flag.rule.yaml").exists()


def test_plugin_hooks_run_around_each_attempt(home: Path, tmp_path: Path) -> None:
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "flag.rule.yaml").write_text(EPHEMERAL)
    (home / "actions").mkdir()
    (home / "actions" / "touch.py").write_text(
        "from pathlib import Path\nfrom tether import action\n\n"
        "@action('touch')\ndef touch(name: str) -> None:\n    Path(name).touch()\n"
    )
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "from tether import tool\n\n@tool\ndef check() -> str:\n    '''A tool.'''\n    return 'ok'\n\n"
        "def setup(state, attempt):\n    state['n'] = attempt\n    return state\n\n"
        "def teardown(state, attempt, success):\n"
        "    with open('hooks.log', 'a') as fh:\n"
        "        fh.write(f\"{attempt} {success} {state['n']} {state['_observation']['rule']}\\n\")\n"
    )
    env = {**os.environ, "TETHER_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "tether", "run", "--plugin", str(plugin), "--", *MARKER_JOB],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "hooks.log").read_text() == "1 True 1 create-ready-flag\n"


def test_config_file_sets_engine_defaults(home: Path) -> None:
    (home / "config.yaml").write_text(
        "engine:\n  max_retries: 1\n  max_depth: 5\n  starter_rules: false\n"
    )
    engine = Tether(home=home)
    settings = engine.settings()
    assert (settings.max_retries, settings.max_depth) == (1, 5)
    assert len(engine.book) == 0
    assert Tether(home=home, max_retries=2).settings().max_retries == 2


def test_llm_comes_from_config_and_is_built_on_first_use(home) -> None:
    from tether import Tether, UnknownProvider

    (home / "config.yaml").write_text(
        "engine:\n  llm: ollama/llama3.1\n  llm_secondary: openai/gpt-4.1-mini\n  pricing_policy: token-only\n"
    )
    engine = Tether(home=home)
    assert engine.llm is not None
    assert [s.name for s in engine.llm.slots] == ["ollama/llama3.1", "openai/gpt-4.1-mini"]
    assert engine.llm.prices.policy == "token-only"

    (home / "config.yaml").write_text("engine:\n  llm: antropic/claude-sonnet-4\n")
    broken = Tether(home=home)  # constructing never touches the model
    with pytest.raises(UnknownProvider, match="did you mean 'anthropic'"):
        _ = broken.llm


def test_llm_argument_accepts_a_scripted_model(home) -> None:
    from tether import Tether
    from tether.llm import UserMessage
    from tether.testing import ScriptedModel, reply

    engine = Tether(home=home, llm=ScriptedModel([reply("hello", usage=(7, 3))]))
    assert engine.llm is not None
    answer = engine.llm.complete([UserMessage("hi")])
    assert (answer.text, answer.usage.input_tokens, answer.usage.output_tokens) == ("hello", 7, 3)
    assert Tether(home=home).llm is None


def test_scripted_model_seam_loads_model_from_a_file_in_the_home(home) -> None:
    from tether.errors import ConfigError

    (home / "m.py").write_text(
        "from tether.testing import ScriptedModel, reply\nMODEL = ScriptedModel([reply('hi')])\n"
    )
    (home / "config.yaml").write_text('engine:\n  llm: "scripted:m.py"\n')
    engine = Tether(home=home)
    assert engine.llm is not None and engine.llm.model == "scripted/scripted"
    (home / "config.yaml").write_text('engine:\n  llm: "scripted:missing.py"\n')
    with pytest.raises(ConfigError, match=r"missing\.py does not exist"):
        _ = Tether(home=home).llm
    (home / "n.py").write_text("x = 1\n")
    (home / "config.yaml").write_text('engine:\n  llm: "scripted:n.py"\n')
    with pytest.raises(ConfigError, match="defines no MODEL"):
        _ = Tether(home=home).llm


def test_explore_without_a_model_raises_with_what_to_set(home) -> None:
    from tether.errors import ExplorationError

    with pytest.raises(ExplorationError, match=r"engine\.llm"):
        Tether(home=home).explore({"stderr": "boom", "exit_code": 1})


def test_explore_offers_the_tools_it_is_given(home, tmp_path) -> None:
    from tests.explore.jobs import failing_context
    from tether.testing import ScriptedModel, call, reply

    seen: list[str] = []

    def service_status(name: str) -> str:
        """Report whether a service runs."""
        seen.append(name)
        return "stopped"

    model = ScriptedModel([
        reply(tool_calls=[call("service_status", name="db")]),
        reply(tool_calls=[call("give_up", reason="the database is down; not mine to start")]),
    ])  # fmt: skip
    engine = Tether(home=home, llm=model)
    assert engine.explore(failing_context(tmp_path / "w"), tools=[service_status]) is None
    assert seen == ["db"] and "service_status" in model.requests[0].tools


def test_a_broken_config_warns_and_uses_defaults_unless_strict(home: Path) -> None:
    from tether.errors import ConfigError

    (home / "config.yaml").write_text("engine:\n  max_retries: [not, a, number\n")
    with pytest.raises(ConfigError, match=r"config\.yaml"):
        _ = Tether(home=home).config
    lenient = Tether(home=home, strict_config=False)
    with pytest.warns(RuntimeWarning, match=r"(?s)config\.yaml.*using the default settings"):
        config = lenient.config
    assert config.engine.max_retries == 3 and lenient.config_error is not None
    assert "starter" in {t for rule in lenient.book for t in rule.tags}


def test_opt_in_packs_load_only_when_listed(home: Path) -> None:
    from tether.errors import ConfigError
    from tether.starter import PACKS, load_starter

    pack = sorted(PACKS)[0]
    extra = {r.name for r in load_starter(packs=[pack])} - {r.name for r in load_starter()}
    assert extra
    assert not extra & set(Tether(home=home).book.names())
    (home / "config.yaml").write_text(f"engine:\n  packs: [{pack}]\n")
    assert extra <= set(Tether(home=home).book.names())
    (home / "config.yaml").write_text("engine:\n  packs: [no-such-pack]\n")
    with pytest.raises(ConfigError, match=r"engine\.packs.*no-such-pack"):
        Tether(home=home).load()
