"""Keywords of a message, for any language and script: Unicode words, folded and lightly stemmed.

The steps, for a text of any script:

1. **Words** follow the Unicode word rules (UAX #29) as far as they matter
   here: runs of letters, digits, marks and connector punctuation (so
   ``fetch_user`` is one word), joined across an inner apostrophe
   (``don't``). Han ideographs and Hiragana have no spaces between words, and
   UAX #29 breaks them one character per word; so does this tokeniser.
2. **Folding**: ``str.casefold`` (``Straße`` → ``strasse``), then diacritics
   are removed (NFKD, combining marks dropped, NFC again): ``Corrigé`` and
   ``corrige`` are one word.
3. **Stop words** of a few major languages (articles, pronouns, auxiliaries,
   request verbs such as *explain* / *please*) and one-letter words outside
   Han/Hiragana are dropped.
4. **Light stemming** strips common inflection (``-s``, ``-es``, ``-ies``,
   ``-ed``, ``-ing``, ``-ly``, a final ``-e``) from words of five letters or
   more, so ``refactored`` / ``refactoring`` / ``refactor`` and ``updated`` /
   ``update`` meet. It is deliberately light: it never merges unrelated
   words, and it leaves scripts without such suffixes alone.

Word results are cached (a bounded dict), so a vocabulary seen once costs a
dict lookup per word afterwards.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_TEXT_CHARS", "Keywords", "keywords", "stem", "topic_cluster"]

MAX_TEXT_CHARS = 262_144
"""Only the first 256 Ki characters of a text are read (a multi-megabyte answer stays cheap)."""

_NO_SPACE = (
    "\u3040-\u309f"  # Hiragana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han (CJK unified, extension A, compatibility)
    "\U00020000-\U0002fa1f"  # Han extensions B-F and compatibility supplement
)
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_WORD = re.compile(rf"[{_NO_SPACE}]|[^\W{_NO_SPACE}]+(?:['’][^\W{_NO_SPACE}]+)*")

_STOP_EN = """
a about above after again against all also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't down during each few for from further had hadn't has hasn't have haven't having he her here
hers herself him himself his how i if in into is isn't it it's its itself just let's me more most
must my myself no nor not now of off on once only or other ought our ours ourselves out over own
same shall she should shouldn't so some such than that that's the their theirs them themselves
then there there's these they this those through to too under until up us very was wasn't we
were weren't what what's when where which while who whom why will with won't would wouldn't yes
yet you your yours yourself yourselves i'm you're we're they're i've you've we've i'll you'll
i'd you'd it'll get got make made use using used via like want need needs one two new
please explain describe show tell give write help fix fixes fixed implement implemented create
add change update let could kindly thanks thank hi hello sure okay ok here's
"""
_STOP_OTHER = """
le la les un une des du de et ou est sont dans pour par sur avec ce cette ces il elle ils elles
je tu nous vous en au aux qui que quoi ne pas plus se sa son ses leur leurs mon ma mes ton ta
der die das ein eine einen dem den des und oder ist sind im in zu mit auf für von nicht ich du
er sie es wir ihr dass auch als wie
el los las una unos unas y o es son en por para con del al que se su sus lo no más como
il lo gli uno e di da per con non che si
o os as um uma uns umas e ou é são em por para com do da dos das não que se
"""
_STOP_HAN = "的 了 是 在 我 你 他 她 它 们 这 那 也 和 就 都 而 及 与 着 或 一 不 有 个 吗 呢 吧 之 其 为 以"
STOP_WORDS = frozenset((_STOP_EN + _STOP_OTHER + _STOP_HAN).split())
"""Folded words that carry no topic: English, French, German, Spanish, Italian, Portuguese, Chinese."""

_SUFFIX_TO = (("ies", "y"), ("sses", "ss"))
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ed", "ly", "es", "s")
_ES_AFTER = ("s", "x", "z", "ch", "sh")  # boxes, classes, matches; but notes -> note
_KEEP_S = ("ss", "us", "is")
_CACHE_MAX = 20_000
_fold_cache: dict[str, tuple[str, str] | None] = {}


def _fold(word: str) -> str:
    low = word.casefold()
    if low.isascii():
        return low
    decomposed = unicodedata.normalize("NFKD", low)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


def stem(word: str) -> str:
    """Strip common inflection from a folded ``word`` of five letters or more.

    ``stem("refactored") == stem("refactoring") == stem("refactor") == "refactor"``;
    words with digits or underscores (identifiers) and short words are kept.
    """
    if len(word) < 5 or not word.isalpha():
        return word
    for suffix, repl in _SUFFIX_TO:
        if word.endswith(suffix):
            return word[: -len(suffix)] + repl
    for suffix in _SUFFIXES:
        if not word.endswith(suffix):
            continue
        if suffix == "s" and word.endswith(_KEEP_S):
            break
        if suffix == "es" and not word[:-2].endswith(_ES_AFTER):
            continue
        base = word[: -len(suffix)]
        if len(base) < 3:
            break
        if (
            suffix in ("ing", "ed", "ings", "edly", "ingly")
            and len(base) > 3
            and base[-1] == base[-2]
            and base[-1] not in "lsz"
        ):
            base = base[:-1]  # running -> run, stopped -> stop
        word = base
        break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]  # update / updated -> updat
    return word


_STOP_STEMS = frozenset(stem(w) for w in STOP_WORDS)


def _key(word: str) -> tuple[str, str] | None:
    """``(stem, folded word)`` for ``word``, or ``None`` for a stop word; cached."""
    folded = _fold(word).replace("’", "'")
    if folded.endswith("'s"):
        folded = folded[:-2]  # possessive: fetch_user's -> fetch_user
    key: tuple[str, str] | None = None
    if folded not in STOP_WORDS and (len(folded) > 1 or _HAN.match(folded)):
        stemmed = stem(folded)
        if stemmed not in _STOP_STEMS:
            key = (stemmed, folded)
    if len(_fold_cache) >= _CACHE_MAX:
        _fold_cache.clear()
    _fold_cache[word] = key
    return key


class Keywords:
    """The keywords of one text: stems, and the first surface form seen for each.

    Attributes:
        stems: the set of keyword stems (what comparisons use).
        surface: stem -> the folded word it was first seen as (what decisions show).
    """

    __slots__ = ("stems", "surface")

    def __init__(self, surface: dict[str, str]) -> None:
        self.surface = surface
        self.stems = frozenset(surface)

    def words(self, stems: frozenset[str] | set[str] | None = None) -> list[str]:
        """Surface forms of ``stems`` (default: all), sorted."""
        chosen = self.stems if stems is None else stems
        return sorted(self.surface[s] for s in chosen)


_EMPTY = Keywords({})


def keywords(text: str) -> Keywords:
    """The keywords of ``text`` (only its first :data:`MAX_TEXT_CHARS` characters are read).

    >>> keywords("Refactor fetch_user to be async").words()
    ['async', 'fetch_user', 'refactor']
    """
    if not text:
        return _EMPTY
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
    surface: dict[str, str] = {}
    cache = _fold_cache
    for word in _WORD.findall(text):
        key = cache[word] if word in cache else _key(word)
        if key is not None and key[0] not in surface:
            surface[key[0]] = key[1]
    return Keywords(surface)


def topic_cluster(words: Keywords) -> str:
    """The topic of a message: its two longest keyword stems (ties: alphabetical), joined by ``+``.

    Empty when the message has no keyword. Rephrasings that keep the salient
    words land in the same cluster: ``"Refactor the fetch_user database function"``
    and ``"refactoring fetch_user's databases"`` are both ``databas+fetch_user``.
    """
    stems = words.stems
    if not stems:
        return ""
    if len(stems) == 1:
        return next(iter(stems))
    top = sorted(stems, key=lambda s: (-len(s), s))[:2]
    top.sort()
    return f"{top[0]}+{top[1]}"
