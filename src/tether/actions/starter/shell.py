"""Starter actions: shell (see the package docstring)."""

from __future__ import annotations
