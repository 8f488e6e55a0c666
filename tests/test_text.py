"""``tether._text``: each cut keeps what its callers pin, and short text comes back as it is."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tether._text import head_and_tail, one_line, shorten, tail


def test_tail_keeps_the_end_and_says_how_much_went() -> None:
    assert tail("abcdef", 4) == "[... 2 earlier characters omitted ...]\ncdef"
    assert tail("abcdef", 4, marker="...") == "...cdef"
    assert tail("abcdef", 0, marker="[{omitted}]") == "[6]"


def test_head_and_tail_keeps_both_ends() -> None:
    text = "a" * 10 + "b" * 10
    assert head_and_tail(text, 8, head=2) == "aa\n[... 12 characters omitted ...]\nbbbbbb"
    assert head_and_tail(text, 8, head=8) == "aaaaaaaa\n[... 12 characters omitted ...]\n"


def test_shorten_fits_the_marker_in_the_limit() -> None:
    assert shorten("abcdefghij", 6) == "abcde…"
    assert shorten("abcdefghij", 6, marker="...") == "abc..."
    assert len(shorten("x" * 500, 100, marker="...")) == 100
    assert shorten("src/pkg/module/file.py", 12, middle=True) == "src…/file.py"


def test_one_line_folds_white_space_before_cutting() -> None:
    assert one_line("a\n  b\tc", 10) == "a b c"
    assert one_line("one two three four", 9) == "one two …"


@pytest.mark.parametrize("cut", [tail, shorten, one_line])
def test_text_within_the_limit_is_unchanged(cut: Callable[[str, int], str]) -> None:
    assert cut("short", 5) == "short"
