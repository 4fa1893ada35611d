"""Pick a chain backend by name: the one place that knows every backend."""

from __future__ import annotations

import difflib
import os
from urllib.parse import urlsplit

from mercato.chain.base import Chain
from mercato.config import ETH_RPC_URL_ENV
from mercato.errors import ConfigError

BACKENDS = ("embedded", "rpc")
DEFAULT_BACKEND = "embedded"
RPC_URL_ENV = "MERCATO_RPC_URL"
RPC_SCHEMES = ("http", "https")
EXAMPLE_RPC_URL = "http://127.0.0.1:8545"


def connect(backend: str = DEFAULT_BACKEND, rpc_url: str | None = None) -> Chain:
    """A chain of the named backend.

    ``"embedded"``: a fresh in-process EVM. ``"rpc"``: the JSON-RPC node at ``rpc_url``, or
    at ``$MERCATO_RPC_URL`` (else ``$ETH_RPC_URL``) when no URL is given.
    """
    if backend == "embedded":
        from mercato.chain.embedded import EmbeddedChain

        return EmbeddedChain()
    if backend == "rpc":
        url = rpc_url or os.environ.get(RPC_URL_ENV) or os.environ.get(ETH_RPC_URL_ENV)
        if not url:
            raise ConfigError(
                f"the rpc backend needs a node URL: pass rpc_url or set {RPC_URL_ENV} "
                f"(or {ETH_RPC_URL_ENV}), e.g. {EXAMPLE_RPC_URL}"
            )
        check_rpc_url(url)
        from mercato.chain.rpc import RpcChain

        return RpcChain(url)
    guess = difflib.get_close_matches(backend, BACKENDS, n=1, cutoff=0.0)
    hint = f" Did you mean '{guess[0]}'?" if guess else ""
    raise ConfigError(f"no backend named '{backend}'.{hint} Known backends: {', '.join(BACKENDS)}")


def check_rpc_url(url: str) -> str:
    """``url`` if it names an HTTP JSON-RPC endpoint; else a ConfigError saying what one is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- a port that is no number, or out of range, raises here
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535"
        problem = str(exc)[:1].lower() + str(exc)[1:]
    else:
        if not parts.scheme or "://" not in url:
            problem = "no http:// or https:// in front"
        elif parts.scheme not in RPC_SCHEMES:
            problem = f"Mercato talks to a node over HTTP, not {parts.scheme}://"
        elif not parts.hostname:
            problem = "no host"
        else:
            return url
    hint = f" Did you mean 'http://{url}'?" if url.strip() and "/" not in url else ""
    raise ConfigError(
        f"'{url}' is not a node URL ({problem}): write http(s)://host[:port][/path], "
        f"e.g. {EXAMPLE_RPC_URL}.{hint}"
    )
