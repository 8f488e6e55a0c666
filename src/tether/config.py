"""``<home>/config.yaml``: engine settings and named profiles.

Example::

    engine:
      max_retries: 3
      max_depth: 3
      action_timeout_s: 300
      starter_rules: true              # the shipped rule pack (set false to switch off)
      allow_environment_changes: false # starter rules that change global config
      packs: [git-upstream, dotenv]    # opt-in starter packs (see tether.starter)
      llm: anthropic/claude-sonnet-4-20250514   # the explorer's model (key from the environment)
      llm_secondary: openai/gpt-4.1-mini         # fallback, and the model escalations go to
      explore: false                   # let @mark(explorable=True) explore (or TETHER_EXPLORE=1)
    profiles:
      ci:
        tags: [git, ci]
        max_retries: 2
        plugin: .tether/ci_plugin.py
        hint: "runs in a fresh container"
    store: postgresql://tether@db.internal/tether  # a shared store (tether[fleet]); default tether.db

This is the seed's layout (``engine:`` and ``profiles:``), so its config files
load unchanged; its LLM settings drive exploration.

``llm: "scripted:<file.py>"`` is a test seam: the file (relative to the home)
defines ``MODEL``, a :class:`tether.testing.ScriptedModel`, so that the CLI
can be driven end to end without a provider. It runs that file's code, as
``--plugin`` does.
A missing file means defaults. Every problem is a :class:`~tether.errors.ConfigError`
naming the file and the field; :func:`read_config` turns one into a warning with the
defaults, so that tether's own configuration never turns a passing job red.

The home is found by :mod:`tether.home` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.errors import ConfigError
from tether.home import HOME_DIR, HOME_ENV, existing_home, explicit_home, find_home, resolve_home

__all__ = [
    "CONFIG_FILE",
    "HOME_DIR",
    "HOME_ENV",
    "Config",
    "ConfigLoad",
    "EngineSettings",
    "Profile",
    "existing_home",
    "explicit_home",
    "find_home",
    "load_config",
    "read_config",
    "resolve_home",
]

CONFIG_FILE = "config.yaml"


class Profile(BaseModel):
    """A named set of recovery settings, chosen with ``tether run --profile NAME``."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] | None = None
    rules: list[str] | None = None
    collection: str | None = None
    max_retries: int | None = Field(default=None, ge=0)
    max_depth: int | None = Field(default=None, ge=1)
    fallback: bool | None = None
    explore: bool | None = None
    allow_escalation: bool | None = None
    plugin: str | None = None
    hint: str | None = None


class EngineSettings(BaseModel):
    """The ``engine:`` section: defaults for every recovery from this home."""

    model_config = ConfigDict(extra="forbid")

    max_retries: int = Field(default=3, ge=0)
    max_depth: int = Field(default=3, ge=1)
    action_timeout_s: float = Field(default=300.0, gt=0)
    starter_rules: bool = True
    allow_environment_changes: bool = False
    packs: list[str] = Field(default_factory=list)
    """Opt-in starter packs to switch on (``tether.starter`` lists them and what each changes)."""
    collection: str = "default"
    llm: str | None = None
    llm_secondary: str | None = None
    llm_base_url: str | None = None
    """Endpoint of the primary model (local OpenAI-compatible servers, proxies)."""
    pricing_policy: Literal["warn", "token-only", "refuse"] = "warn"
    """What a price table older than 90 days means for USD figures and ceilings."""
    prices: str | None = None
    """A price table JSON file (relative to the home) replacing the bundled one."""
    explore: bool = False
    """Let ``@mark(explorable=True)`` functions explore (as ``TETHER_EXPLORE=1`` does)."""
    allow_escalation: bool = False
    """A rejected or given-up exploration hands over to ``llm_secondary`` once."""
    session_limit: int = Field(default=20, ge=0)
    """Explorations one engine (normally: one process) may start."""
    max_tool_calls_per_session: int = Field(default=30, ge=1)
    """Tool calls per exploration (the seed's ``max_tool_calls``)."""
    max_tokens_per_session: int = Field(default=100_000, ge=1)
    """Input + output tokens per exploration (the seed counted output only, 8192)."""
    explore_wall_clock_s: float = Field(default=600.0, gt=0)
    """Seconds one exploration may take."""
    archive_llm_attempt: bool = False
    """Keep explored rules that failed verification under ``<home>/archive/`` (else dropped)."""


class Config(BaseModel):
    """The whole ``config.yaml``: engine settings and named profiles."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineSettings = Field(default_factory=EngineSettings)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    store: str | None = None
    """The store's URL (``postgresql://user:pass@host/db`` for a shared one); default: the
    home's ``tether.db``. ``$TETHER_STORE_URL`` overrides it (see ``tether.store``)."""

    def profile(self, name: str, *, file: str = CONFIG_FILE) -> Profile:
        """The profile ``name``.

        Raises:
            ConfigError: no such profile (the message lists the defined ones).
        """
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none defined"
            raise ConfigError(f"{file}: no profile named {name!r} (profiles: {known})") from None


def load_config(home: Path) -> Config:
    """Read ``home/config.yaml``; defaults when it does not exist (see :func:`read_config`).

    Raises:
        ConfigError: malformed YAML, an unknown field or a bad value (names file and field).
    """
    import yaml

    path = home / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{path}: field {field!r}: {msg}") from None


@dataclass(frozen=True)
class ConfigLoad:
    """What :func:`read_config` found: the settings in force and, if any, why they are defaults."""

    config: Config
    """The file's settings, or the defaults when it is missing or broken."""
    error: ConfigError | None = None
    """The problem with the file when ``config`` holds the defaults because of it; warn with it."""


def read_config(home: Path) -> ConfigLoad:
    """Read ``home/config.yaml`` without failing: a broken file gives the defaults and its error.

    This is how ``tether run`` (without ``--strict``) reads its settings: a job that
    passes must not be turned red by tether's own configuration. The caller warns
    with ``error`` (it names the file and the field).

    Args:
        home: the home directory (need not exist).

    Returns:
        The settings and ``None``, or the defaults and the :class:`ConfigError`.
    """
    try:
        return ConfigLoad(load_config(home))
    except ConfigError as exc:
        return ConfigLoad(Config(), exc)
