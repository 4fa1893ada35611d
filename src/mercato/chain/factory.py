"""Pick a chain backend by name: the one place that knows every backend."""

from __future__ import annotations

import difflib
import os

from mercato.chain.base import Chain
from mercato.errors import ConfigError

BACKENDS = ("embedded", "rpc")
DEFAULT_BACKEND = "embedded"
RPC_URL_ENV = "MERCATO_RPC_URL"


def connect(backend: str = DEFAULT_BACKEND, rpc_url: str | None = None) -> Chain:
    """A chain of the named backend.

    ``"embedded"``: a fresh in-process EVM. ``"rpc"``: the JSON-RPC node at ``rpc_url``, or
    at ``$MERCATO_RPC_URL`` when no URL is given.
    """
    if backend == "embedded":
        from mercato.chain.embedded import EmbeddedChain

        return EmbeddedChain()
    if backend == "rpc":
        url = rpc_url or os.environ.get(RPC_URL_ENV)
        if not url:
            raise ConfigError(
                f"the rpc backend needs a node URL: pass rpc_url or set {RPC_URL_ENV} "
                "(e.g. http://127.0.0.1:8545)"
            )
        from mercato.chain.rpc import RpcChain

        return RpcChain(url)
    guess = difflib.get_close_matches(backend, BACKENDS, n=1, cutoff=0.0)
    hint = f" Did you mean '{guess[0]}'?" if guess else ""
    raise ConfigError(f"no backend named '{backend}'.{hint} Known backends: {', '.join(BACKENDS)}")
