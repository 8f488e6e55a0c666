"""The rule book's prefilter and confirmation shortcuts give exactly what checking every rule gives.

Each shortcut is compared with the reference, :func:`match_rule` on every rule
(or a plain RE2 search of the whole value), on random rules and texts:

- the literal gate (a rule is looked at only when its rarest literal occurs,
  then needs all its other literals);
- searches limited to the lines that hold a literal, for line-local patterns;
- one search per distinct ``(key, pattern)`` per context.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tether.rules.book import RuleBook
from tether.rules.match import Prepared, analyze, anchor_lines, match_fact, match_rule, prepare
from tether.rules.model import Fact, Rule, Step

WORDS = [
    "abc",
    "xyz",
    "ERR",
    "err",
    "foo bar",
    "a:b",
    "Q7",
    "x.c",
    "«é»",
    "Straße",
    "ﬁle",
    "\u212aelvin",
]
"""Literal pieces; short ones (under three characters) give the prefilter nothing."""

PIECES: list[tuple[str, list[str]]] = [
    (r"\w+", ["abc", "x_1", "é"]),
    (r"\d+", ["7", "42"]),
    (r"\S+", ["a:b", "«x»"]),
    (r"[^\n]*", ["", "any thing"]),
    (r"[a-z]+", ["abc", "q"]),
    (r"[^:\s]+", ["x.c", "ab"]),
    (r"\s+", [" ", "\n", "\t"]),  # can match a newline: not line-local
    (r".*", ["", "a\nb", "zz"]),  # dot-all: not line-local
    (r'[^"]+', ["x\ny", "q"]),  # can match a newline
    ("^", [""]),
    ("$", [""]),
    (r"\b", [""]),
    (r"\B", [""]),
    (r"\A", [""]),  # asserts beyond the line
    (r"(?:abc|xyz)", ["abc", "xyz"]),
    (r"(?:ERR|err)?", ["", "ERR", "err"]),
    (r"(?:foo bar)+", ["foo bar", "foo barfoo bar"]),
    (r"[[:alpha:]]+", ["Ab", "z"]),
    (r"(?-m:^)", [""]),
    (r"(?i:abc)", ["ABC", "abc"]),
    (" ", [" "]),
    (":", [":"]),
]


def rule(name: str, *facts: Fact) -> Rule:
    return Rule(name=name, when=list(facts), then=[Step(action="noop")])


def escape(text: str) -> str:
    import re2

    return str(re2.escape(text))


ALL_PIECES = PIECES + [(escape(w), [w, w.upper(), w.swapcase()]) for w in WORDS]


@st.composite
def rules_and_texts(draw: st.DrawFn, max_patterns: int = 8) -> tuple[list[str], str]:
    """Random patterns, and a text whose lines are often made of their pieces' samples."""
    pieces_of = draw(
        st.lists(
            st.lists(st.sampled_from(ALL_PIECES), min_size=1, max_size=6),
            min_size=1,
            max_size=max_patterns,
        )
    )
    regexes = []
    for pieces in pieces_of:
        parts = [regex for regex, _ in pieces]
        groups = draw(st.lists(st.integers(0, len(parts) - 1), max_size=2, unique=True))
        for n, i in enumerate(sorted(groups)):
            parts[i] = f"(?P<g{n}>{parts[i]})"
        regexes.append(draw(st.sampled_from(["", "", "(?i)"])) + "".join(parts))
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            lines.append(draw(st.text(alphabet="abcxyzERQ79 :.\"\t'", max_size=12)))
            continue
        pieces = draw(st.sampled_from(pieces_of))
        start = draw(st.integers(0, len(pieces) - 1))
        stop = draw(st.integers(start, len(pieces)))
        line = "".join(draw(st.sampled_from(samples)) for _, samples in pieces[start:stop])
        lines.append(draw(st.text(alphabet="ab :", max_size=3)) + line)
    return regexes, "\n".join(lines)


@settings(max_examples=300, deadline=None)
@given(
    case=rules_and_texts(),
    contains=st.lists(st.sampled_from(WORDS), max_size=3),
    command=st.sampled_from(["make all", "cargo build", ""]),
)
def test_indexed_matching_equals_checking_every_rule(
    case: tuple[list[str], str], contains: list[str], command: str
) -> None:
    """Names and captures of the matches equal those of match_rule on every rule."""
    regexes, text = case
    rules = []
    for i, pattern in enumerate(regexes):
        rules.append(rule(f"re{i}", Fact(fact="stderr", regex=pattern)))
        rules.append(rule(f"dup{i}", Fact(fact="stderr", regex=pattern)))  # shared pattern
        rules.append(
            rule(
                f"two{i}",
                Fact(fact="stderr", regex=pattern),
                Fact(fact="stderr", regex=regexes[(i + 1) % len(regexes)]),
            )
        )
        rules.append(
            rule(
                f"cmd{i}", Fact(fact="command", contains="make"), Fact(fact="stderr", regex=pattern)
            )
        )
        rules.append(
            rule(f"code{i}", Fact(fact="exit_code", equals="2"), Fact(fact="stderr", regex=pattern))
        )
    for i, word in enumerate(contains):
        rules.append(rule(f"co{i}", Fact(fact="stderr", contains=word)))
        rules.append(
            rule(
                f"co-re{i}",
                Fact(fact="stderr", contains=word),
                Fact(fact="stderr", regex=regexes[0]),
            )
        )
    book = RuleBook(rules)
    for exit_code in (1, 2):
        context = {"stderr": text, "command": command, "exit_code": exit_code}
        expected = [
            (r.name, c) for r in rules if (c := match_rule(r, prepare(context))) is not None
        ]
        got = [(m.rule.name, m.captures) for m in book.matching(context)]
        assert got == expected


@settings(max_examples=400, deadline=None)
@given(case=rules_and_texts(max_patterns=1))
def test_search_of_anchor_lines_equals_search_of_whole_text(case: tuple[list[str], str]) -> None:
    """For a line-local pattern, searching only the lines holding any required group is exact."""
    (pattern,), text = case
    info = analyze(pattern)
    fact = Fact(fact="stderr", regex=pattern)
    expected = match_fact(fact, text)
    if not info.line_local or info.ignore_case:
        return
    for group in info.groups:
        anchors = tuple(a.encode() for a in group)
        assert Prepared({"stderr": text}).search(fact, anchors) == expected


EDGES = ["^", "$", r"\b", r"\B", r"\A", r"\z", "(?-m:^)", "(?-m:$)", r"\w*", r"[^\n]*", " ?", "."]
EDGE_TEXTS = [
    "abc",
    "x\nabc",
    "abc\nx",
    "x\n abc \nx",
    "_abc\nabc_",
    "abc abc\n\nabc",
    "xyz abc\nabcabc",
    "«abc»\nabc«",
]


def test_anchor_lines_respect_assertions_at_line_edges() -> None:
    """Every pattern of up to three edge pieces around 'abc': the shortcuts agree with a full search.

    Line starts and ends and word boundaries see a line break or the edge of
    the text on both sides of a joined line; patterns asserting the text's
    own start or end opt out (not line-local).
    """
    from itertools import product

    checked = 0
    for size in range(3):
        for before in product(EDGES, repeat=size):
            for after in product(EDGES, repeat=2 - size):
                pattern = "".join(before) + "abc" + "".join(after)
                info = analyze(pattern)
                fact = Fact(fact="stderr", regex=pattern)
                for text in EDGE_TEXTS:
                    expected = match_fact(fact, text)
                    if info.line_local:
                        checked += 1
                        assert Prepared({"stderr": text}).search(fact, (b"abc",)) == expected, (
                            pattern,
                            text,
                        )
                    matches = RuleBook([rule("r", fact)]).matching({"stderr": text})
                    assert [m.captures for m in matches] == ([] if expected is None else [expected])
    assert checked > 1000


def test_anchor_lines_keeps_order_and_whole_lines() -> None:
    data = b"one x\ntwo\nx three x\nfour\nfive y"
    assert anchor_lines(data, (b"x",)) == b"one x\nx three x"
    assert anchor_lines(data, (b"y", b"x")) == b"one x\nx three x\nfive y"
    assert anchor_lines(data, (b"z",)) == b""


def test_line_local_patterns() -> None:
    local = [
        r"(?P<file>[\w/.-]+\.c):(?P<line>\d+): error: (?P<msg>[^\n]+)",
        r"^ERROR \S+$",
        r"\bno such (?:file|directory)\b",
    ]
    not_local = [
        r"declares its path as: (?P<new>\S+).*required as: (?P<old>\S+)",  # . is dot-all
        r'Exception in thread "(?P<t>[^"]+)"',  # [^"] matches a newline
        r"error:\s+x",
        r"\Afatal: x",
        r"[[:space:]]xyz",
        r"(?-m:^)abc",
    ]
    assert all(analyze(p).line_local for p in local)
    assert not any(analyze(p).line_local for p in not_local)


def test_posix_classes_do_not_invent_literals() -> None:
    """RE2 reads [[:space:]] as a class; Python's parser would read a literal ']' after it."""
    pattern = r"[[:space:]]abcd x[[:alpha:]]yzw"
    assert analyze(pattern).groups == (("abcd x",), ("yzw",))
    r = rule("posix", Fact(fact="stderr", regex=pattern))
    context = {"stderr": "noise\n abcd xQyzw\n"}
    assert match_rule(r, prepare(context)) == {}
    assert [m.rule.name for m in RuleBook([r]).matching(context)] == ["posix"]


def test_rules_sharing_a_pattern_get_their_own_captures() -> None:
    facts = [Fact(fact="stderr", regex=r"x\.c:(?P<line>\d+): error")] * 2
    book = RuleBook([rule("a", facts[0]), rule("b", facts[1])])
    first, second = book.matching({"stderr": "noise\nsrc/x.c:12: error: boom\n"})
    assert first.captures == second.captures == {"line": "12"}
    first.captures["line"] = "changed"
    assert second.captures == {"line": "12"}


def test_rare_literal_triggers_and_common_literals_must_all_be_present() -> None:
    """Many rules share '.c:'; each is looked at only when its own literal occurs, and needs both."""
    rules = [
        rule(
            f"gcc{i:03d}",
            Fact(fact="stderr", regex=rf"\w+\.c:\d+: error: 'name{i:03d}' undeclared"),
        )
        for i in range(200)
    ]
    book = RuleBook(rules)
    index = book._current_index()
    assert index.summary()["literal"] == 200
    line = "src/a.c:3: error: 'name042' undeclared"
    assert [m.rule.name for m in book.matching({"stderr": "x\n" + line})] == ["gcc042"]
    # the rare literal alone (no '.c:') passes no gate
    assert index.candidates(prepare({"stderr": "error: 'name042' undeclared"})) == []
    assert book.matching({"stderr": "src/a.h:3: error: 'name042' undeclared"}) == []


def literal_free_rules() -> list[Rule]:
    rules = []
    for n in range(1, 16):
        rules.append(
            rule(f"code{n}", Fact(fact="stderr", regex=rf"^[A-Z]{{2}}\d{{{n}}}:(?P<at>\d+)"))
        )
        rules.append(
            rule(
                f"exit{n}",
                Fact(fact="exit_code", equals="2"),
                Fact(fact="stderr", regex=rf"\b(?P<n>\d+) x{{{n}}}\b"),
            )
        )
    return rules


def test_literal_free_rules_are_screened_together_and_exactly() -> None:
    """Rules with no literal are ruled out by one set scan per bucket, and still found exactly."""
    rules = literal_free_rules()
    book = RuleBook(rules)
    for exit_code in (1, 2):
        context = {"stderr": "noise\nQX1234:77\n12 xxxx\n5 xx y\n", "exit_code": exit_code}
        expected = [
            (r.name, c) for r in rules if (c := match_rule(r, prepare(context))) is not None
        ]
        assert [(m.rule.name, m.captures) for m in book.matching(context)] == expected
        assert ("code4", {"at": "77"}) in expected
    prepared = prepare({"stderr": "QX1234:77\n", "exit_code": 2})
    book._current_index().candidates(prepared)
    assert (
        prepared._found[("stderr", r"^[A-Z]{2}\d{5}:(?P<at>\d+)")] is None
    )  # ruled out unsearched
    assert (
        "stderr",
        r"^[A-Z]{2}\d{4}:(?P<at>\d+)",
    ) not in prepared._found  # occurs: searched later


class FailingSet:
    """What the RE2 binding reports when a set scan runs out of memory: nothing."""

    def Match(self, data: bytes) -> None:
        return None


def test_a_failed_set_scan_hides_no_rule() -> None:
    rules = [
        *literal_free_rules(),
        rule("gcc", Fact(fact="stderr", regex=r"(?P<f>\w+\.c):\d+: error: boom")),
        rule("lit", Fact(fact="stderr", contains="xxxx")),
    ]
    book = RuleBook(rules)
    index = book._current_index()
    index.sets = [(key, ids, FailingSet()) for key, ids, _ in index.sets]
    context = {"stderr": "QX1234:77\n12 xxxx\na.c:3: error: boom\n", "exit_code": 2}
    index.candidates(prepare(context))  # builds the screens
    for screen in index._screens.values():
        screen.sets = [(key, patterns, FailingSet()) for key, patterns, _ in screen.sets]
    expected = [(r.name, c) for r in rules if (c := match_rule(r, prepare(context))) is not None]
    assert {"gcc", "lit", "code4", "exit4"} <= {name for name, _ in expected}
    assert [(m.rule.name, m.captures) for m in book.matching(context)] == expected


def test_case_insensitive_literals_fold_as_re2_does() -> None:
    """RE2's (?i) matches 'Straße' for 'straße' and 'ﬁle' only for 'ﬁle' (no 'ss', no 'fi')."""
    rules = [
        rule("street", Fact(fact="stderr", regex="(?i)straße gesperrt")),
        rule("street-ss", Fact(fact="stderr", regex="(?i)strasse gesperrt")),
        rule("file", Fact(fact="stderr", regex="(?i)ﬁle missing")),
        rule("kelvin", Fact(fact="stderr", regex="(?i)kelvin scale")),
    ]
    book = RuleBook(rules)
    for text in ["Die STRAßE gesperrt", "strasse gesperrt", "ﬁle missing", "\u212aelvin scale"]:
        expected = [r.name for r in rules if match_rule(r, prepare({"stderr": text})) is not None]
        assert expected, text
        assert [m.rule.name for m in book.matching({"stderr": text})] == expected


def test_anchor_lines_are_the_lines_holding_an_anchor_for_any_text() -> None:
    import random

    rng = random.Random(11)
    for _ in range(5000):
        data = bytes(rng.choice(b"ab\n") for _ in range(rng.randrange(0, 40)))
        anchors = tuple(
            bytes(rng.choice(b"ab") for _ in range(rng.randrange(1, 3)))
            for _ in range(rng.randrange(1, 4))
        )
        expected = b"\n".join(line for line in data.split(b"\n") if any(a in line for a in anchors))
        assert anchor_lines(data, anchors) == expected, (data, anchors)
