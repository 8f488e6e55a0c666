"""Matching facts and rules, the text cap, and the literal prefilter's soundness."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.rules.book import RuleBook
from tether.rules.match import MATCH_CAP_BYTES, clip, match_rule, prepare, required_literal
from tether.rules.model import Fact, Rule, Step


def rule(name: str, *facts: Fact) -> Rule:
    return Rule(name=name, when=list(facts), then=[Step(action="noop")])


def test_equals_compares_string_forms_of_real_exit_codes(tmp_path) -> None:
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    proc = subprocess.run(["sh", "-c", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 126  # not executable, as the shell reports it
    r = rule("r", Fact(fact="exit_code", equals="126"))
    assert match_rule(r, prepare({"exit_code": proc.returncode})) == {}
    assert (
        match_rule(rule("int", Fact(fact="exit_code", equals=126)), prepare({"exit_code": 126}))
        == {}
    )
    assert match_rule(rule("b", Fact(fact="ok", equals=True)), prepare({"ok": True})) == {}
    assert match_rule(r, prepare({"exit_code": 1})) is None


def test_regex_captures_and_missing_key() -> None:
    r = rule("r", Fact(fact="stderr", regex=r"No module named '(?P<module>\w+)'"))
    proc = subprocess.run([sys.executable, "-c", "import nosuchmodule_xyz"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert match_rule(r, prepare({"stderr": proc.stderr})) == {"module": "nosuchmodule_xyz"}
    assert match_rule(r, prepare({"stdout": proc.stderr})) is None


def test_all_facts_must_hold() -> None:
    r = rule("r", Fact(fact="a", contains="x"), Fact(fact="b", equals="1"))
    assert match_rule(r, prepare({"a": "..x..", "b": 1})) == {}
    assert match_rule(r, prepare({"a": "..x..", "b": 2})) is None


def test_clip_keeps_head_and_tail_where_the_error_is() -> None:
    text = "START\n" + "noise line\n" * 100_000 + "FATAL: the real error\n"
    assert len(text) > MATCH_CAP_BYTES
    clipped = clip(text)
    assert len(clipped) < MATCH_CAP_BYTES + 100
    assert clipped.startswith("START") and clipped.endswith("FATAL: the real error\n")
    assert "characters omitted" in clipped
    r = rule("r", Fact(fact="stderr", regex=r"FATAL: (?P<what>[^\n]+)"))
    assert match_rule(r, prepare({"stderr": text})) == {"what": "the real error"}


def test_regex_on_multi_megabyte_output_is_linear() -> None:
    # a pattern that backtracks catastrophically in Python's re; RE2 runs it in linear time
    r = rule("evil", Fact(fact="stderr", regex=r"(a+)+$"))
    assert match_rule(r, prepare({"stderr": "a" * 200_000 + "b"})) is None


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        (r"Unable to create '(?P<lock>[^']+\.lock)': File exists", (".lock': File exists", False)),
        (r"declares its path as: (?P<new>\S+).*required as: (?P<old>\S+)", ("declares its path as: ", False)),
        (r"(?i)database is locked", ("database is locked", True)),
        (r"foo|barbaz", None),
        (r"\w+: \d+ errors?", (" error", False)),
        (r"\w+: \d+", None),
        (r"a(bc)?d", None),
        (r"(?:error|fatal)", None),
    ],
)  # fmt: skip
def test_required_literal(pattern: str, literal: tuple[str, bool] | None) -> None:
    assert required_literal(pattern) == literal


words = st.text(alphabet="abcdeXYZ :'./-_", min_size=0, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    literal_parts=st.lists(words, min_size=1, max_size=6),
    text=st.text(alphabet="abcdeXYZ :'./-_\n", max_size=200),
    case=st.booleans(),
)
def test_prefilter_never_hides_a_matching_rule(literal_parts, text, case) -> None:
    """Whatever the rules and text, the indexed book returns exactly what checking every rule returns."""
    import re2

    rules = []
    for i, part in enumerate(literal_parts):
        escaped = re2.escape(part) if part else "x"
        flags = "(?i)" if case and i % 2 else ""
        rules.append(rule(f"re{i}", Fact(fact="stderr", regex=f"{flags}{escaped}(?P<tail>.?)")))
        if part:
            rules.append(rule(f"co{i}", Fact(fact="stderr", contains=part)))
        rules.append(rule(f"eq{i}", Fact(fact="stderr", equals=part)))
    book = RuleBook(rules)
    context = {"stderr": text + literal_parts[0]}
    prepared = prepare(context)
    expected = [r.name for r in rules if match_rule(r, prepared) is not None]
    assert [m.rule.name for m in book.matching(prepared)] == expected


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.tuples(words, words), min_size=1, max_size=5),
    text=st.text(alphabet="abcdeXYZ :'./-_\n«»", max_size=200),
)
def test_prefilter_with_several_literals_per_rule_is_exact(parts, text) -> None:
    """Rules needing two literals (on one or two keys), or one of two, are found exactly."""
    import re2

    rules = []
    for i, (first, second) in enumerate(parts):
        pattern = f"{re2.escape(first)}.*(?P<mid>x?){re2.escape(second)}"
        rules.append(rule(f"two{i}", Fact(fact="stderr", regex=pattern)))
        either = f"(?:{re2.escape(first) or 'q'}|{re2.escape(second) or 'r'})"
        rules.append(rule(f"any{i}", Fact(fact="stderr", regex=either)))
        rules.append(rule(f"anyi{i}", Fact(fact="stderr", regex="(?i)" + either)))
        if first:
            rules.append(
                rule(
                    f"keys{i}",
                    Fact(fact="stdout", contains=first),
                    Fact(fact="stderr", regex=pattern),
                )
            )
    book = RuleBook(rules)
    first, second = parts[0]
    for context in ({"stderr": text + first + text + second, "stdout": first},
                    {"stderr": text + second, "stdout": text}):  # fmt: skip
        prepared = prepare(context)
        expected = [r.name for r in rules if match_rule(r, prepared) is not None]
        assert [m.rule.name for m in book.matching(prepared)] == expected
