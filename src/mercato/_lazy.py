"""Packages that name their public API without importing it: each name loads on first use.

A package's ``__init__`` imports its names under ``TYPE_CHECKING`` (for readers and mypy)
and tells :func:`lazy_package` where each lives, so ``import mercato.x`` stays cheap and
scikit-learn, torch, the compiler and the EVM load only when a command needs them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib import import_module
from types import ModuleType
from typing import Any, ClassVar


class _LazyPackage(ModuleType):
    where: ClassVar[Mapping[str, str]]
    """Public name -> the submodule (relative to the package) that defines it."""

    def __getattr__(self, name: str) -> Any:
        module = self.where.get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(import_module(f"{self.__name__}.{module}"), name)
        setattr(self, name, value)  # later look-ups skip this method
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule binds it on its package. Where a public name is also the
        # name of its submodule (``train`` in ``train.py``), the name keeps meaning the
        # function, as it did when the package imported everything eagerly.
        if isinstance(value, ModuleType) and self.where.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.where))


def lazy_package(package: str, where: Mapping[str, str]) -> None:
    """Make ``package`` load each name of ``where`` (name -> submodule) on first use."""
    module = sys.modules[package]
    module.__class__ = type("LazyPackage", (_LazyPackage,), {"where": dict(where)})
