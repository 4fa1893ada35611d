"""How often agents poll the chain and how long they may stay busy, apart from :mod:`.agent`
so that the command line can show it without loading the chain stack."""

DEFAULT_POLL_INTERVAL = 1.0
"""Seconds :meth:`Agent.run` sleeps when it has caught up with the chain."""

MAX_POLL_INTERVAL = 60.0
"""The longest sleep :meth:`Agent.run` accepts, so a stopped agent notices soon enough."""

DEFAULT_MAX_ROUNDS = 1_000
"""Rounds :meth:`Runner.run_until_idle` allows before it reports the agents still busy."""

MAX_ONCE_STEPS = 100
"""Steps an agent process run ``once`` takes before it reports the agent still busy."""

OUTAGE_BACKOFF_CAP = 30.0
"""The longest wait between two tries while the node or the blob store cannot be reached:
waits double from the poll interval up to this."""

OUTAGE_REPORT_PERIOD = 60.0
"""While an outage lasts, an agent says so once per this many seconds (besides the lines
when it starts and when it ends)."""
