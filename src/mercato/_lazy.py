"""Packages that name their public API without importing it: each name loads on first use.

A package's ``__init__`` imports its names under ``TYPE_CHECKING`` (for readers and mypy)
and hands :func:`lazy_names` where each lives, so ``import mercato.x`` stays cheap and
scikit-learn, torch, web3 and the EVM load only when a command needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps each public
    name to the submodule (relative to ``package``) that defines it."""
    namespace = import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__
