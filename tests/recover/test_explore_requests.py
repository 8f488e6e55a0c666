"""The recovery loop asks for explorations (``Explore``) at the right moments, on a real job.

The explorer itself is replaced by a recorder (it stands in for the model); everything else —
the job, the rules, the re-runs — is real.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tether import Tether
from tether.recover.loop import Explore, Explored
from tether.rules.book import Match
from tether.rules.load import load_text

JOB = [sys.executable, "-c", "import sys; sys.exit(\"fatal: lockfile 'app.lock' is stale\")"]
RULE = load_text(
    "name: stale-lock\nwhen: [{fact: stderr, regex: \"lockfile '(?P<path>[^']+)' is stale\"}]\n"
    "then: [{action: say, params: {text: '{path}'}}]\n"
)[0]


def engine(home: Path, answers: list[Explored], asked: list[Explore]) -> Tether:
    def explore(request: Explore) -> Explored:
        asked.append(request)
        return answers.pop(0)

    t = Tether(home=home, starter_rules=False, explorer=explore)

    @t.action("say")
    def say(text: str) -> str:
        return text  # does not fix anything

    return t


def run(t: Tether, tmp_path: Path, **settings: Any) -> Any:
    return t.run_command(JOB, cwd=tmp_path, stream=False, settings=t.settings(**settings))[1]


def test_no_exploration_unless_switched_on(home: Path, tmp_path: Path) -> None:
    asked: list[Explore] = []
    outcome = run(engine(home, [], asked), tmp_path)
    assert asked == [] and outcome.reason == "no rule matches this failure"


def test_one_exploration_per_failure_and_the_reason_it_ended(home: Path, tmp_path: Path) -> None:
    asked: list[Explore] = []
    outcome = run(engine(home, [Explored(reason="gave up: no idea")], asked), tmp_path, explore=True,
                  hint="a CI box")  # fmt: skip
    assert len(asked) == 1 and asked[0].hint == "a CI box" and not asked[0].escalate
    assert "fatal: lockfile 'app.lock' is stale" in asked[0].context["stderr"]
    assert outcome.reason == "no rule matches this failure; exploration ended: gave up: no idea"


def test_a_rejected_rule_escalates_once_with_the_rejection(home: Path, tmp_path: Path) -> None:
    asked: list[Explore] = []
    answers: list[Explored] = []
    t = engine(home, answers, asked)
    rule = t.add_rule(RULE.model_copy(deep=True))  # as an exploration would have installed it
    answers += [
        Explored(Match(rule, {"path": "app.lock"}), record={"model": "m"}),
        Explored(reason="the secondary gave up"),
    ]
    outcome = run(t, tmp_path, explore=True, allow_escalation=True, rules=["none"], fallback=False)
    assert [a.escalate for a in asked] == [False, True]
    assert asked[1].rejections == ["rule 'stale-lock' was valid but did not fix the failure "
                                   "(failure: the job failed the same way after the rule ran)"]  # fmt: skip
    assert [a.rule for a in outcome.attempts] == ["stale-lock"]
    assert outcome.reason.endswith("exploration ended: the secondary gave up")


def test_not_explored_is_not_asked_again_at_the_same_level(home: Path, tmp_path: Path) -> None:
    asked: list[Explore] = []
    answers = [Explored(reason="no model is configured", explored=False)]
    outcome = run(engine(home, answers, asked), tmp_path, explore=True, allow_escalation=True)
    assert len(asked) == 1 and "not explored: no model is configured" in outcome.reason
