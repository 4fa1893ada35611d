"""Asset categories of the procurement auction, numbered as on chain."""

from __future__ import annotations

import difflib
from enum import IntEnum

from mercato.errors import InputError


class Category(IntEnum):
    """The three kinds of asset a client buys; the values are the on-chain encoding."""

    DATA = 0
    ALGORITHM = 1
    INFRASTRUCTURE = 2

    @property
    def label(self) -> str:
        """Lower-case name used in documents: ``data``, ``algorithm``, ``infrastructure``."""
        return self.name.lower()

    @property
    def root(self) -> str:
        """CURIE of the ontology class at the root of this category."""
        return CATEGORY_ROOTS[self]

    @classmethod
    def from_label(cls, label: str) -> Category:
        """Category named by ``label``; raises InputError for any other word."""
        for category in cls:
            if category.label == label:
                return category
        known = ", ".join(c.label for c in cls)
        raise InputError(f"unknown asset category {label!r}; expected one of {known}")


CATEGORY_ROOTS: dict[Category, str] = {
    Category.DATA: "mc:DataAsset",
    Category.ALGORITHM: "mc:AlgorithmAsset",
    Category.INFRASTRUCTURE: "mc:InfrastructureAsset",
}


def parse_category(text: str) -> Category:
    """The category a user typed (``data``, ``algorithm``, ``infrastructure``), with a hint."""
    labels = [c.label for c in Category]
    word = text.strip().lower()
    if word in labels:
        return Category.from_label(word)
    close = difflib.get_close_matches(word, labels, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InputError(f"unknown category '{text}'.{hint} Categories: {', '.join(labels)}")
