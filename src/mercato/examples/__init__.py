"""Example documents for every file the command line reads, shipped with the package.

``mercato template <kind>`` prints one (or writes it with ``--out``); each is valid as it
stands, so a walk-through needs nothing its reader must write by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from mercato.errors import InputError


@dataclass(frozen=True)
class Example:
    """One shipped example: its file in this package and what reads it."""

    file: str
    summary: str


EXAMPLES = MappingProxyType(
    {
        "requirements": Example(
            "requirements.json",
            "what a client buys (`mercato auction create --requirements`): one ontology "
            "class per category (classes.data, .algorithm, .infrastructure; a provider's "
            "asset matches its class or a subclass), the task in words, the metric "
            "(accuracy, balanced_accuracy or f1_macro) and its minimum, free-form "
            "constraints, the ontology and document version. Its hash goes on chain",
        ),
        "schema": Example(
            "schema.json",
            "what a data file holds (`--data FILE --schema`): its label column and classes "
            "(the i-th class is label i), its feature columns with their types (number, "
            "integer, boolean) and its ontology data class; `mercato data schema FILE "
            "--label COLUMN` writes one from a file",
        ),
        "config": Example(
            "mercato.toml",
            "settings (`mercato.toml` in the working directory, or MERCATO_CONFIG): every "
            "key, commented",
        ),
        "keystore": Example(
            "keystore.json",
            "an encrypted JSON keystore (`--keystore`, password in "
            "MERCATO_KEYSTORE_PASSWORD): development account 0 under the password "
            "'mercato', a public test key never for real money",
        ),
    }
)
"""Every example, by the kind ``mercato template`` names it."""


def example_bytes(kind: str) -> bytes:
    """The shipped example of ``kind``; InputError listing the kinds if there is none."""
    example = EXAMPLES.get(kind)
    if example is None:
        import difflib

        close = difflib.get_close_matches(kind, list(EXAMPLES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise InputError(f"no template '{kind}'.{hint} Templates: {', '.join(EXAMPLES)}")
    return resources.files(__name__).joinpath(example.file).read_bytes()
