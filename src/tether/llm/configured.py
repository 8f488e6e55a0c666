"""The model a home's configuration asks for: ``engine.llm`` and friends made into an :class:`LLM`.

Read by :class:`tether.Tether` (``engine.llm``) and by anything else that runs model work for a
home (``tether agent``). The ``scripted:<file.py>`` value is the test seam: ``MODEL`` from a
Python file, so that command-line tests drive a :class:`tether.testing.ScriptedModel` through
the same path a real provider takes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.errors import ConfigError

if TYPE_CHECKING:
    from tether.config import EngineSettings
    from tether.llm.client import LLM

__all__ = ["configured_llm", "scripted_model"]


def configured_llm(settings: EngineSettings, home: Path, chosen: Any = None) -> LLM | None:
    """The model client for ``settings`` (``None`` when no model is configured).

    Args:
        settings: the ``engine`` section of a home's ``config.yaml`` (``llm``,
            ``llm_secondary``, ``llm_base_url``, ``prices``, ``pricing_policy``).
        home: the home directory; relative ``prices`` and ``scripted:`` paths start there.
        chosen: a model given in code (``"provider/model"``, a pydantic-ai model, a scripted
            model or an :class:`LLM`), used instead of ``settings.llm``.

    Raises:
        UnknownProvider: the name has an unknown provider prefix.
        ConfigError: the price table cannot be read, or a ``scripted:`` file is broken.
    """
    from tether.llm.client import LLM
    from tether.llm.pricing import PriceTable

    if chosen is None:
        chosen = settings.llm
    if isinstance(chosen, str) and chosen.startswith("scripted:"):
        chosen = scripted_model(home, chosen.removeprefix("scripted:"))
    if chosen is None or isinstance(chosen, LLM):
        return chosen
    if settings.prices:
        prices = PriceTable.from_file(home / settings.prices, policy=settings.pricing_policy)
    else:
        prices = PriceTable.bundled(policy=settings.pricing_policy)
    secondary: Any = settings.llm_secondary
    if isinstance(secondary, str) and secondary.startswith("scripted:"):
        secondary = scripted_model(home, secondary.removeprefix("scripted:"))
    return LLM(chosen, secondary=secondary, base_url=settings.llm_base_url, prices=prices)


def scripted_model(home: Path, file: str, *, label: str = "engine.llm") -> Any:
    """``MODEL`` from the Python file ``file`` (relative to ``home`` unless absolute).

    Args:
        home: the home directory.
        file: the part after ``scripted:``.
        label: what the error messages name (the config key or flag that gave the file).

    Raises:
        ConfigError: the file does not exist, fails to import, or defines no ``MODEL``.
    """
    path = (home / file) if not Path(file).is_absolute() else Path(file)
    spec = importlib.util.spec_from_file_location(f"tether_scripted_{abs(hash(str(path)))}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ConfigError(f"{label}: scripted model file {path} does not exist")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            f"{label}: {path} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    model = getattr(module, "MODEL", None)
    if model is None:
        raise ConfigError(f"{label}: {path} defines no MODEL (a tether.testing.ScriptedModel)")
    return model
