"""Errors raised by Mercato.

Every error Mercato raises derives from :class:`MercatoError`; third-party errors are
translated where they enter our code, so callers catch only these::

    MercatoError
    ├── ConfigError            bad settings, unknown backend, missing deployment file
    ├── InputError             bad user input, rejected before any state changes
    ├── ChainError             the node or the EVM could not be reached or used
    │   ├── NodeUnreachable    the node does not answer now: an outage to wait out
    │   └── ContractRevert     a transaction or call reverted; carries the revert reason
    ├── StorageError           a blob store failed
    │   ├── StoreUnreachable   the store does not answer now (mercato.storage.base)
    │   └── BlobNotFound       no blob with that hash
    ├── IntegrityError         data does not match its commitment (hash, Merkle proof, signature)
    └── ProtocolError          a protocol step cannot run in the current state
"""

from __future__ import annotations

import threading


class MercatoError(Exception):
    """Root of every error raised by Mercato."""


class ConfigError(MercatoError):
    """Settings are missing or inconsistent."""


class InputError(MercatoError):
    """User input is malformed; nothing was changed."""


class ChainError(MercatoError):
    """The chain backend failed."""


class NodeUnreachable(ChainError):
    """The node cannot be reached now (refused connection, no answer in time): an outage to
    wait out, not a fault of the request.

    Each one raised is counted in its thread (:func:`node_unreachable_count`), so that an
    agent notices an outage even when a handler caught the error and carried on.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        _node_unreachable.count = node_unreachable_count() + 1


_node_unreachable = threading.local()


def node_unreachable_count() -> int:
    """How many :class:`NodeUnreachable` errors this thread has made so far."""
    count: int = getattr(_node_unreachable, "count", 0)
    return count


class RaceLost(ChainError):
    """A mined transaction failed because an earlier transaction in its block changed the
    state it relied on: another party made the same move first (two agents passing the same
    deadline), not a fault of the sender. Read the chain again before anything else."""


class ContractRevert(ChainError):
    """A contract call or transaction reverted.

    ``reason`` is the contract's revert string (``"auction: bid above maximum"``), or an
    empty string when the contract gave none.
    """

    def __init__(self, reason: str, *, function: str = "") -> None:
        self.reason = reason
        self.function = function
        where = f"{function}: " if function else ""
        super().__init__(f"{where}reverted: {reason or '(no reason given)'}")


class StorageError(MercatoError):
    """A blob store operation failed."""


class BlobNotFound(StorageError):
    """No blob is stored under the requested hash."""


class IntegrityError(MercatoError):
    """Data does not match its commitment, proof or signature."""


class ProtocolError(MercatoError):
    """A protocol step is not possible in the current state."""
