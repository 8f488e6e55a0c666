"""Where rules meet the LLM: the explorer, and rules whose fix is a governed conversation.

- :mod:`.validate` checks a submitted rule and action code before anything runs;
  :mod:`.isolate` imports the code in a child process that refuses side effects.
- :mod:`.signals` holds the tools the explorer's model ends with (``submit_rule`` ...).
- :mod:`.prompt` renders the failure and what tether knows for the model.
- :mod:`.explorer` runs the governed loop (:class:`Explorer`).
- :mod:`.session` is one engine's exploration state: limits, session cache,
  ephemeral rules, verification outcome, promotion, records.
- :mod:`.llm_rule` runs rules with ``llm_config``.

Names resolve lazily, so importing this package loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.explore.explorer import Exploration, Explorer, ExploreSettings
    from tether.explore.session import ExploreSession
    from tether.explore.signals import Signals
    from tether.explore.validate import Submission, validate_submission

__all__ = [
    "Exploration",
    "ExploreSession",
    "ExploreSettings",
    "Explorer",
    "Signals",
    "Submission",
    "validate_submission",
]

_LAZY = {
    "Exploration": "tether.explore.explorer",
    "ExploreSettings": "tether.explore.explorer",
    "Explorer": "tether.explore.explorer",
    "ExploreSession": "tether.explore.session",
    "Signals": "tether.explore.signals",
    "Submission": "tether.explore.validate",
    "validate_submission": "tether.explore.validate",
}


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
