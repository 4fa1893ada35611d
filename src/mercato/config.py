"""Settings: command-line options over environment variables over a TOML file over defaults.

The TOML file is ``mercato.toml`` in the working directory, or the file named by
``MERCATO_CONFIG``; each field of :class:`Settings` is also read from ``MERCATO_<FIELD>``, and
the node URL from Foundry's ``ETH_RPC_URL`` when ``MERCATO_RPC_URL`` is unset. The TOML keys
are the field names::

    backend = "rpc"
    rpc_url = "http://127.0.0.1:8545"
    store = "s3://mercato-blobs/market-1"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mercato.errors import ConfigError

HOME = Path(".mercato")
DEFAULT_BACKEND = "embedded"
DEFAULT_DEPLOYMENT = HOME / "deployment.json"
DEFAULT_STORE = str(HOME / "blobs")
DEFAULT_AGENT_DIR = HOME / "agents"
CONFIG_FILE = Path("mercato.toml")
CONFIG_ENV = "MERCATO_CONFIG"
ENV_PREFIX = "MERCATO_"
ETH_RPC_URL_ENV = "ETH_RPC_URL"
"""The node URL as Foundry and web3 tools name it; ``MERCATO_RPC_URL`` wins over it."""


@dataclass(frozen=True)
class Settings:
    """Where Mercato finds its chain, its deployment, its blobs and its agents' state."""

    backend: str = DEFAULT_BACKEND
    rpc_url: str | None = None
    deployment: Path = DEFAULT_DEPLOYMENT
    store: str = DEFAULT_STORE
    agent_dir: Path = DEFAULT_AGENT_DIR

    def override(self, **values: Any) -> Settings:
        """A copy with every value that is not None replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def _coerce(name: str, value: Any) -> Any:
    if name in ("deployment", "agent_dir"):
        return Path(value)
    return str(value)


def load_settings(config_file: Path | None = None) -> Settings:
    """Defaults, then the TOML file, then ``MERCATO_*`` (and ``ETH_RPC_URL``) variables."""
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = config_file or Path(os.environ.get(CONFIG_ENV, CONFIG_FILE))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        values.update({k: _coerce(k, v) for k, v in data.items()})
    elif config_file is not None:
        raise ConfigError(f"no config file at {config_file}")
    for name in names:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if name == "rpc_url":
            env = env or os.environ.get(ETH_RPC_URL_ENV)
        if env:
            values[name] = _coerce(name, env)
    return Settings(**values)
