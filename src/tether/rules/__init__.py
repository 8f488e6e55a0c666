"""The knowledge: rule models, loading, matching, the indexed rule book, lint."""

from tether.rules.book import Match, RuleBook
from tether.rules.load import LoadResult, load_dir, load_file, load_text
from tether.rules.match import MATCH_CAP_BYTES, match_rule, prepare
from tether.rules.model import Backoff, Fact, LLMConfig, RetryPolicy, Rule, Step

__all__ = [
    "MATCH_CAP_BYTES",
    "Backoff",
    "Fact",
    "LLMConfig",
    "LoadResult",
    "Match",
    "RetryPolicy",
    "Rule",
    "RuleBook",
    "Step",
    "load_dir",
    "load_file",
    "load_text",
    "match_rule",
    "prepare",
]
