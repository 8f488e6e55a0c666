"""Loading rule files: the seed's format unchanged, and precise errors for bad input."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.helpers import write_action, write_rule
from tether import Tether
from tether.errors import RuleError
from tether.rules.load import cache_key, load_dir, load_file, load_text

SEED_RULE = r"""name: module_rename
description: Module path was renamed upstream
tags: [go, dep]

when:
  - fact: error_type
    equals: dep_resolution
  - fact: stderr
    regex: 'declares its path as: (?P<new_path>\S+).*required as: (?P<old_path>\S+)'
    examples:
      - "module declares its path as: dario.cat/mergo but was required as: github.com/imdario/mergo"

then:
  - action: fix_module_rename
    params:
      old_path: "{old_path}"
      new_path: "{new_path}"
"""

SEED_ACTION = '''
import subprocess
from theow import action

@action("fix_module_rename")
def fix_module_rename(workspace: str, old_path: str, new_path: str):
    """Add replace directive for renamed module."""
    with open(f"{workspace}/replaced.txt", "w") as fh:
        fh.write(f"{old_path}={new_path}")
'''

SEED_LLM_RULE = """name: investigate_unknown
description: Unknown failure, use LLM to investigate

when:
  - fact: error_type
    equals: unknown

llm_config:
  prompt_template: file://prompts/investigate.md
  tools: [read_file, run_command]
  constraints:
    max_tool_calls: 20
"""


def test_seed_directory_loads_unchanged_and_runs(home: Path, tmp_path: Path) -> None:
    write_rule(home, "module_rename", SEED_RULE)
    write_rule(home, "investigate_unknown", SEED_LLM_RULE)
    write_action(home, "go_actions", SEED_ACTION)
    engine = Tether(home=home, starter_rules=False, strict=True)
    assert sorted(engine.book.names()) == ["investigate_unknown", "module_rename"]
    rule = engine.book.get("module_rename")
    assert rule is not None and rule.tags == ["go", "dep"]
    llm_rule = engine.book.get("investigate_unknown")
    assert llm_rule is not None and llm_rule.llm_config is not None
    assert llm_rule.llm_config.constraints.max_tool_calls == 20

    # the example spans what go prints on two lines; the seed's regexes are dot-all
    stderr = (
        "go: github.com/imdario/mergo@v1.0.0: parsing go.mod:\n"
        "\tmodule declares its path as: dario.cat/mergo\n"
        "\t        but was required as: github.com/imdario/mergo\n"
    )
    context = {"error_type": "dep_resolution", "stderr": stderr, "workspace": str(tmp_path)}
    assert [r.name for r in engine.resolve(context)] == ["module_rename"]
    run = engine.execute_rule(rule, context)
    assert run.ok, run.error
    assert (tmp_path / "replaced.txt").read_text() == ("github.com/imdario/mergo=dario.cat/mergo")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("name: x\nwhen: [{fact: a, equals: 1, contains: b}]\nthen: [{action: y}]\n", "when[0]",
         "exactly one of equals, contains, regex"),
        ("name: x\nwhen: [{fact: a, regex: '(?<=a)b'}]\nthen: [{action: y}]\n", "when[0].regex",
         "RE2"),
        ("name: x\nwhen: [{fact: a, regex: '(a)\\1'}]\nthen: [{action: y}]\n", "when[0].regex",
         "back-references"),
        ("name: x\nwhen: [{fact: a, equals: 1}]\nthen: [{action: y}]\nthne: []\n", "thne",
         "unknown field"),
        ("name: x\nwhen: [{fact: a, equals: 1}]\n", None, "needs 'then' steps or an 'llm_config'"),
        ("name: x\nwhen: []\nthen: [{action: y}]\n", "when", "at least 1"),
        ("description: no name\nwhen: [{fact: a, equals: 1}]\nthen: [{action: y}]\n", "name",
         "required field 'name'"),
        ("name: x\nwhen: [{fact: a, equals: 1}]\nthen: [{action: y, parms: {}}]\n",
         "then[0].parms", "unknown field"),
    ],
)  # fmt: skip
def test_bad_rules_name_file_rule_and_field(
    home: Path, text: str, field: str | None, words: str
) -> None:
    path = write_rule(home, "bad", text)
    with pytest.raises(RuleError) as caught:
        load_file(path)
    err = caught.value
    assert err.file == str(path)
    assert err.field == field
    assert words in str(err)
    assert str(path) in str(err)
    if "name: x" in text:
        assert err.rule == "x" and "rule 'x'" in str(err)


def test_malformed_yaml_reports_line(home: Path) -> None:
    path = write_rule(home, "broken", "name: x\nwhen:\n  - fact: a\n   equals: [1\n")
    with pytest.raises(RuleError, match=r"malformed YAML at line \d+, column \d+"):
        load_file(path)


def test_non_utf8_and_empty_files(home: Path) -> None:
    binary = home / "rules" / "bin.rule.yaml"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(RuleError, match="not UTF-8"):
        load_file(binary)
    empty = write_rule(home, "empty", "")
    with pytest.raises(RuleError, match="empty"):
        load_file(empty)


def test_one_bad_file_does_not_hide_the_others_and_files_are_untouched(home: Path) -> None:
    good = write_rule(
        home, "good", "name: good\nwhen: [{fact: a, equals: 1}]\nthen: [{action: y}]\n"
    )
    bad_text = "name: bad\nwhen: [{fact: a, regex: '(?!x)'}]\nthen: [{action: y}]\n"
    bad = write_rule(home, "bad", bad_text)
    result = load_dir(home / "rules")
    assert [r.name for r in result.rules] == ["good"]
    assert len(result.errors) == 1 and result.errors[0].file == str(bad)
    assert bad.read_text() == bad_text and good.exists()
    with pytest.warns(RuntimeWarning, match="bad.rule.yaml"):
        engine = Tether(home=home, starter_rules=False)
        assert engine.book.names() == ["good"]
    with pytest.raises(RuleError):
        Tether(home=home, starter_rules=False, strict=True).load()


def test_duplicate_names_across_files_are_reported(home: Path) -> None:
    write_rule(home, "a", "name: same\nwhen: [{fact: a, equals: 1}]\nthen: [{action: y}]\n")
    write_rule(home, "b", "name: same\nwhen: [{fact: b, equals: 1}]\nthen: [{action: y}]\n")
    result = load_dir(home / "rules")
    assert len(result.rules) == 1
    assert "duplicate rule name" in str(result.errors[0]) and "a.rule.yaml" in str(result.errors[0])


def test_warm_load_uses_cache_and_sees_edits(home: Path) -> None:
    path = write_rule(home, "r", "name: r\nwhen: [{fact: a, equals: 1}]\nthen: [{action: y}]\n")
    first = Tether(home=home, starter_rules=False)
    assert first.book.get("r") is not None
    first.close()
    cached = first.store.get_many([cache_key(str(path))])
    assert cache_key(str(path)) in cached
    path.write_text("name: r\nwhen: [{fact: a, equals: 2}]\nthen: [{action: y}]\n")
    second = Tether(home=home, starter_rules=False)
    rule = second.book.get("r")
    assert rule is not None and rule.when[0].equals == "2"


def test_rule_error_pickles_with_its_fields() -> None:
    err = RuleError("bad", file="f.rule.yaml", rule="r", field="when[0]")
    back = pickle.loads(pickle.dumps(err))
    assert (back.file, back.rule, back.field, str(back)) == (
        err.file,
        err.rule,
        err.field,
        str(err),
    )


def test_examples_written_as_mappings_keep_their_text() -> None:
    [rule] = load_text(
        "name: x\nwhen:\n  - fact: stderr\n    contains: 'key: value'\n    examples:\n"
        "      - key: value\nthen: [{action: y}]\n"
    )
    assert rule.when[0].examples == ["key: value"]


def test_to_yaml_round_trips() -> None:
    [rule] = load_text(SEED_RULE)
    [again] = load_text(rule.to_yaml())
    assert again == rule


def test_warm_load_brings_regex_analyses_from_the_cache(home: Path) -> None:
    """Building the prefilter after a warm load parses no regex: the analyses come from the cache."""
    import subprocess
    import sys

    pattern = r"(?P<file>[\w/.-]+\.c):(?P<line>\d+): error: (?P<msg>[^\n]+)"
    path = write_rule(
        home,
        "gcc",
        f"name: gcc\nwhen: [{{fact: stderr, regex: '{pattern}'}}]\nthen: [{{action: y}}]\n",
    )
    Tether(home=home, starter_rules=False).load()  # cold: parses YAML, fills the cache
    check = (
        "import sys\n"
        "from tether import Tether\n"
        "from tether.rules import match\n"
        f"t = Tether(home={str(home)!r}, starter_rules=False)\n"
        "t.load()\n"
        f"info = match._ANALYSES.get({pattern!r})\n"
        "match._ANALYSES.clear()\n"
        f"assert info == match.analyze({pattern!r}), info\n"
        "assert info.line_local and ('.c:',) in info.groups\n"
        "t.book.matching({'stderr': 'a.c:1: error: x'})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    # an entry cached without analyses (an older tether) is upgraded on the next warm load
    store = Tether(home=home, starter_rules=False).store
    key = cache_key(str(path))
    mtime_ns, size, data = store.get_many([key])[key]
    del data[1]["__analysis__"]
    store.put_many([(key, mtime_ns, size, data)])
    Tether(home=home, starter_rules=False).load()
    assert "__analysis__" in store.get_many([key])[key][2][1]


def test_the_cache_key_is_not_a_rule_field() -> None:
    with pytest.raises(RuleError, match="__analysis__"):
        load_text(
            "name: r\nwhen: [{fact: a, equals: 1}]\nthen: [{action: y}]\n__analysis__: [2, []]\n"
        )
