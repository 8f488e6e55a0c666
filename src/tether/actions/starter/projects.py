"""Starter actions: projects (see the package docstring)."""

from __future__ import annotations
