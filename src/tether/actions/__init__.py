"""Actions: the ``@action`` registry (here), discovery (``actions.discover``), safe execution (``actions.run``).

This package's top level imports only the registry, so ``from tether import action``
in an actions file stays cheap.
"""

from tether.actions.registry import ActionRegistry, ActionSpec, action, default_registry

__all__ = ["ActionRegistry", "ActionSpec", "action", "default_registry"]
