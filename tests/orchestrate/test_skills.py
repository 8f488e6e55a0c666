"""Agent Skills: spec names, broken files reported by file and key, loading on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.orchestrate import AgentRun, Project, SkillError, Skills
from tether.orchestrate.skills import check_skill_name
from tether.testing import ScriptedModel, call, reply


def skill(root: Path, folder: str, text: str) -> Path:
    path = root / "skills" / folder / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def good(name: str, description: str = "what it does", body: str = "Step 1.") -> str:
    return f"---\nname: {name}\ndescription: {description}\n---\n{body}\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    skill(root, "fix-tests", good("fix-tests", "Fix failing tests", "Run pytest -x first."))
    skill(root, "release", good("release", "Cut a release"))
    (root / "skills" / "README.md").write_text("# our skills\n")
    return root


def test_valid_skills_are_found_and_a_readme_is_not_a_skill(project: Path) -> None:
    skills = Skills.for_project(project)
    assert skills.names() == ["fix-tests", "release"]
    assert skills.problems == []
    assert skills.get("fix-tests").body == "Run pytest -x first."
    assert "- fix-tests: Fix failing tests" in skills.catalogue()


@pytest.mark.parametrize(
    "name",
    ["../etc", "../../secret", "/etc/passwd", "Fix-Tests", "-x", "a--b", "a_b", "x" * 65, ""],
)
def test_names_that_break_the_rules_are_refused_before_any_lookup(project: Path, name: str) -> None:
    (project.parent / "etc").mkdir(exist_ok=True)
    skill(project.parent, "etc", good("etc"))  # a SKILL.md that '../etc' would reach
    assert check_skill_name(name) is not None
    with pytest.raises(SkillError, match="skill name"):
        Skills.for_project(project).get(name)


@pytest.mark.parametrize(
    ("folder", "text", "key", "message"),
    [
        ("no-front", "just text\n", "", "no YAML frontmatter"),
        ("bad-yaml", "---\nname: [bad\n---\nbody\n", "", "malformed YAML"),
        ("no-desc", "---\nname: no-desc\n---\nbody\n", "description", "missing"),
        (
            "wrong-type",
            "---\nname: wrong-type\ndescription: [a, b]\n---\n",
            "description",
            "string",
        ),
        ("other-name", good("not-the-folder"), "name", "folder"),
        ("Upper", good("Upper"), "name", "lowercase"),
    ],
)
def test_a_broken_skill_is_reported_by_file_and_key_and_skipped(
    project: Path, folder: str, text: str, key: str, message: str
) -> None:
    path = skill(project, folder, text)
    skills = Skills.for_project(project)
    assert skills.names() == ["fix-tests", "release"]  # the others still load
    [problem] = skills.problems
    assert (problem.path, problem.key) == (path, key)
    assert message in problem.message and str(path) in str(problem)


def test_project_skills_win_over_home_skills(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    skill(home, "fix-tests", good("fix-tests", "home version"))
    skill(home, "deploy", good("deploy", "home only"))
    skills = Skills.for_project(project, home)
    assert skills.get("fix-tests").source == "project"
    assert skills.get("deploy").source == "home"
    with pytest.raises(SkillError, match="no skill named 'nope'"):
        skills.get("nope")


def test_the_model_loads_a_skill_on_demand(project: Path, home: Path) -> None:
    model = ScriptedModel(
        [reply(tool_calls=[call("load_skill", name="fix-tests")]), reply("read it")]
    )
    AgentRun("fix the tests", project=Project.at(project, home=home), model=model).run()
    assert "load_skill" in model.requests[0].tools
    system = str(model.requests[0].messages[0])
    assert "fix-tests: Fix failing tests" in system and "Run pytest -x first." not in system
    assert "Run pytest -x first." in str(model.requests[1].messages)


def test_load_skill_with_an_escaping_name_is_a_tool_error_not_a_file(
    project: Path, home: Path
) -> None:
    model = ScriptedModel([reply(tool_calls=[call("load_skill", name="../etc")]), reply("ok")])
    result = AgentRun("x", project=Project.at(project, home=home), model=model).run()
    [answer] = result.tool_results
    assert answer["status"] == "error" and "skill name '../etc'" in answer["content"]


def test_skill_preloads_the_body_into_the_system_prompt(project: Path, home: Path) -> None:
    run = AgentRun(
        "x", project=Project.at(project, home=home), model=ScriptedModel([]), skill="fix-tests"
    )
    assert "PRELOADED SKILL fix-tests:\nRun pytest -x first." in run.plan().system_prompt
    with pytest.raises(SkillError):
        AgentRun("x", project=Project.at(project, home=home), model=ScriptedModel([]), skill="../x")
