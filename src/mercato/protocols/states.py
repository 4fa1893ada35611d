"""The states of an entry of a market, numbered as its contract numbers them."""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    """A contract's state number that prints as its name: ``adjudicated``, ``round done``."""

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")

    def __str__(self) -> str:
        return self.label
