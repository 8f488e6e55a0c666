"""Resolution order (names > tags > fallback), collections, and near misses."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import write_rule
from tether import Tether


def rule_text(
    name: str, pattern: str, tags: str = "[]", collection: str = "default", desc: str = ""
) -> str:
    return (f"name: {name}\ndescription: {desc or name}\ntags: {tags}\ncollection: {collection}\n"
            f"when: [{{fact: stderr, regex: '{pattern}'}}]\nthen: [{{action: noop}}]\n")  # fmt: skip


def real_git_failure(tmp_path: Path) -> dict[str, object]:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "f.txt").write_text("x")
    (repo / ".git" / "index.lock").write_text("")
    proc = subprocess.run(
        ["git", "add", "f.txt"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    return {"stderr": proc.stderr, "exit_code": proc.returncode, "command": "git add f.txt"}


def test_order_is_names_then_tags_then_fallback(home: Path, tmp_path: Path) -> None:
    context = real_git_failure(tmp_path)
    write_rule(home, "a-generic", rule_text("a-generic", "fatal"))
    write_rule(home, "b-tagged", rule_text("b-tagged", "index.lock", tags="[git]"))
    write_rule(home, "c-named", rule_text("c-named", "File exists"))
    write_rule(
        home, "d-other-collection", rule_text("d-other-collection", "fatal", collection="ops")
    )
    write_rule(home, "e-no-match", rule_text("e-no-match", "segmentation fault"))
    engine = Tether(home=home, starter_rules=False)
    names = [r.name for r in engine.resolve(context, rules=["c-named", "e-no-match"], tags=["git"])]
    assert names == ["c-named", "b-tagged", "a-generic"]
    assert [r.name for r in engine.resolve(context, fallback=False, tags=["git"])] == ["b-tagged"]
    assert [r.name for r in engine.resolve(context, collection="ops")] == ["d-other-collection"]
    assert len(engine.resolve(context, collection=None)) == 4


def test_starter_rule_resolves_and_user_rule_overrides_it(home: Path, tmp_path: Path) -> None:
    context = real_git_failure(tmp_path)
    engine = Tether(home=home)
    [rule] = engine.resolve(context)
    assert rule.name == "git-index-lock"
    write_rule(home, "mine", rule_text("git-index-lock", "never matches this"))
    engine.reload()
    assert engine.resolve(context) == []
    assert Tether(home=home, starter_rules=False).book.get("script-not-executable") is None


def test_near_misses_rank_similar_rules_and_never_include_matches(
    home: Path, tmp_path: Path
) -> None:
    context = real_git_failure(tmp_path)
    write_rule(home, "git-lock-other", rule_text(
        "git-lock-other", "cannot lock ref", desc="git cannot lock a ref because a lock file exists"))  # fmt: skip
    write_rule(home, "npm", rule_text("npm", "ERESOLVE", desc="npm peer dependency conflict"))
    engine = Tether(home=home, starter_rules=False)
    misses = engine.near_misses(context, k=3)
    names = [m.rule.name for m in misses]
    assert names == ["git-lock-other"]  # npm shares no word with git's message
    with_starter = [m.rule.name for m in Tether(home=home).near_misses(context, k=20)]
    assert "git-lock-other" in with_starter
    assert "git-index-lock" not in with_starter  # it matches, so it is no miss
    assert all(m.score > 0 for m in misses)
    assert misses[0].unmet and misses[0].unmet[0].regex == "cannot lock ref"


def test_many_rules_sharing_gcc_literals_resolve_exactly_on_a_real_build_log(
    home: Path, tmp_path: Path
) -> None:
    """300 line-local gcc rules share '.c:' and ': error: '; the one naming the real undeclared identifier
    is returned with its captures, buried in a long log, and the result equals checking every rule."""
    import shutil

    import pytest

    from tether.rules.match import match_rule, prepare

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    (tmp_path / "broken.c").write_text("int main(void) { return undeclared_thing + 1; }\n")
    proc = subprocess.run(["gcc", "-c", "broken.c"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0 and "undeclared_thing" in proc.stderr
    noise = "".join(
        f"  CC      src/mod{i}/file{i}.o\nsrc/x{i}.c:{i}:1: warning: unused\n" for i in range(800)
    )
    context = {"stderr": noise + proc.stderr + noise, "exit_code": proc.returncode}
    for i in range(300):
        ident = "undeclared_thing" if i == 123 else f"other_ident_{i}"
        pattern = (
            rf"(?P<file>[\w/.-]+\.c):(?P<line>\d+):(?P<col>\d+): error: \S{ident}\S undeclared"
        )
        write_rule(home, f"gcc-{i}", rule_text(f"gcc-{i}", pattern.replace("'", "''")))
    engine = Tether(home=home, starter_rules=False)
    assert [r.name for r in engine.resolve(context)] == ["gcc-123"]
    [match] = engine.book.matching(context)
    assert match.captures["file"] == "broken.c" and match.captures["line"] == "1"
    brute = [(r.name, c) for r in engine.book if (c := match_rule(r, prepare(context))) is not None]
    assert brute == [(match.rule.name, match.captures)]
