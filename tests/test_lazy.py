"""``tether._lazy``: a name resolves on first use, once, and an unknown one is an AttributeError."""

from __future__ import annotations

from typing import Any

import pytest

from tether._lazy import lazy_exports


def test_a_name_resolves_from_its_module_and_is_kept() -> None:
    namespace: dict[str, Any] = {"__name__": "pkg", "__all__": ["dumps", "Loads"]}
    getattr_, dir_ = lazy_exports(namespace, {"dumps": "json", "Loads": "json:loads"})
    import json

    assert getattr_("dumps") is json.dumps
    assert getattr_("Loads") is json.loads
    assert namespace["dumps"] is json.dumps  # the next access is a plain attribute read
    assert dir_() == sorted(["__name__", "__all__", "dumps", "Loads"])


def test_publish_sees_each_value_once() -> None:
    seen: list[Any] = []

    def publish(value: Any) -> Any:
        seen.append(value)
        return value

    namespace: dict[str, Any] = {"__name__": "pkg"}
    getattr_, _ = lazy_exports(namespace, {"sep": "os"}, publish=publish)
    import os

    assert getattr_("sep") == os.sep
    assert seen == [os.sep]


def test_an_unknown_name_is_an_attribute_error_naming_the_module() -> None:
    getattr_, _ = lazy_exports({"__name__": "pkg"}, {})
    with pytest.raises(AttributeError, match=r"module 'pkg' has no attribute 'nope'"):
        getattr_("nope")
