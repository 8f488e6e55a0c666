"""Errors of the orchestration layer.

The tree (under :class:`tether.errors.TetherError`)::

    OrchestrationError               orchestration could not do what was asked
    └── AutomationConfigError        a bad automation file, interval, cron, time zone or flag
                                     (also a ConfigError: the CLI exits 2 on it)

Messages name the file, key or flag, what is wrong and what to write instead.
"""

from __future__ import annotations

from tether.errors import ConfigError, TetherError

__all__ = ["AutomationConfigError", "OrchestrationError"]


class OrchestrationError(TetherError):
    """Orchestration (automations, inbox, goal runs ...) could not do what was asked."""


class AutomationConfigError(OrchestrationError, ConfigError):
    """Bad input for an automation: its YAML file, an interval, a cron line, a time zone.

    Attributes:
        where: the file, key or flag at fault (``automations/nightly.yaml: key 'cron'``,
            ``--every``), also the start of the message.
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.detail = message

    def __reduce__(self) -> tuple[type[AutomationConfigError], tuple[str, str]]:
        return (type(self), (self.where, self.detail))
