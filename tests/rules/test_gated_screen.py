"""The starter pack's rules in a log full of common phrases: the shortcuts change no match.

Two shortcuts are checked against the reference (:func:`match_rule` on every
rule, a plain search of the whole value), on the starter rules' own examples
(real tracebacks, make's two-line errors, shell and coreutils messages), alone
and inside build noise that holds the phrases those rules' literals share
(``: No such file or directory``, ``line 3``, ``: Permission denied``):

- the anchor-line check: a line-local pattern searched only in the lines holding
  its anchor is not searched at all when those lines lack one of its other
  required literals;
- the set scan of the literal-gated candidates, which rules out every pattern
  found nowhere before any search (kept per candidate list and reused).
"""

from __future__ import annotations

from tether.rules.book import RuleBook
from tether.rules.match import Prepared, analyze, match_fact, match_rule, prepare
from tether.rules.model import Rule
from tether.starter import PACKS, load_starter

NOISE = [
    "2024-05-06T12:00:01.123Z INFO  [worker-3] fetched 12 objects in 40ms",
    "ls: cannot access 'build/main.cache': No such file or directory",
    "cp: cannot create regular file '/etc/main.conf': Permission denied",
    "Collecting hash>=2.1 (from -r requirements.txt (line 3))",
    "src/core/main.c:10:2: warning: unused variable 'tmp' [-Wunused-variable]",
    "2024-05-06T12:00:02.000Z make[1]: Entering directory '/build/src/io'",
    "npm WARN deprecated lexer@1.2.3: This module is not supported",
]


def _starter() -> list[Rule]:
    return load_starter(sorted(PACKS))


def _texts(rules: list[Rule]) -> list[tuple[str, str]]:
    """``(key, text)``: every regex example of the pack, alone and in noise on both sides."""
    out = []
    for rule in rules:
        for fact in rule.when:
            if fact.regex is None:
                continue
            for example in fact.examples:
                out.append((fact.fact, example))
                out.append((fact.fact, "\n".join([*NOISE, example, *NOISE])))
                out.append((fact.fact, "\n".join([*NOISE * 20, example])))
    return out


def test_examples_include_multi_line_patterns() -> None:
    rules = _starter()
    multi = [f.regex for r in rules for f in r.when if f.regex and not analyze(f.regex).line_local]
    multi_examples = [e for r in rules for f in r.when if f.regex in multi for e in f.examples]
    assert len(multi) >= 3
    assert sum("\n" in e for e in multi_examples) >= 3  # tracebacks, make's two-line errors


def test_anchor_line_check_never_rejects_a_text_the_regex_matches() -> None:
    rules = _starter()
    book = RuleBook(rules)
    index = book._current_index()  # internal: each rule's search plan
    checked = matched = 0
    for key, text in _texts(rules):
        for rule in index.rules:
            plan = index._plan(rule)
            for fact, anchors, others in plan:
                if fact.fact != key:
                    continue
                expected = match_fact(fact, text)
                got = Prepared({key: text}).search(fact, anchors, others)
                assert got == expected, (rule.name, fact.regex, text)
                checked += 1
                matched += expected is not None
    assert checked > 500
    assert matched > 40  # the examples do match: the check had something to reject wrongly


def test_matching_in_noise_equals_checking_every_rule() -> None:
    rules = _starter()
    book = RuleBook(rules)
    seen = 0
    for key, text in _texts(rules):
        for exit_code in (1, 2, 127):
            context = {key: text, "exit_code": exit_code, "command": "make -j8 all"}
            if key == "stderr":
                context["stdout"] = "\n".join(NOISE)
            else:
                context["stderr"] = "\n".join(NOISE)
            expected = [
                (r.name, c) for r in rules if (c := match_rule(r, prepare(context))) is not None
            ]
            for _ in range(2):  # the second time through, the kept set scan
                got = [(m.rule.name, m.captures) for m in book.matching(context)]
                assert got == expected, text
            seen += bool(expected)
    assert seen > 40
