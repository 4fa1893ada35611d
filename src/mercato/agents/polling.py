"""How often an agent polls the chain, apart from :mod:`.agent` so that the command line can
show it without loading the chain stack."""

DEFAULT_POLL_INTERVAL = 1.0
"""Seconds :meth:`Agent.run` sleeps when it has caught up with the chain."""

MAX_POLL_INTERVAL = 60.0
"""The longest sleep :meth:`Agent.run` accepts, so a stopped agent notices soon enough."""
