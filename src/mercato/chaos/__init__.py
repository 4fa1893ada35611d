"""Faults injected into live markets, and what must hold afterwards (``mercato bench chaos``).

A run (:func:`~mercato.chaos.harness.run`) starts anvil (with ``--state``), moto's S3 server
and one ``mercato agent run`` process per participant, opens one market and, from a seed,
kills agents (SIGKILL) and starts them again, stops and restarts the node, and freezes the
S3 server for a while (:mod:`.faults`); then :mod:`.checks` requires that the market ended by
its rules, every payment is what the rules give (and the protocol's auditor passes), no
handler's effect happened twice, and no wei is stuck.

Covered: P1 (the procurement auction, :data:`~mercato.chaos.scenarios.AUCTION`), P2
(collaborative training, :data:`~mercato.chaos.scenarios.TRAINING`), P3 (the data market in
robust mode, :data:`~mercato.chaos.scenarios.DATAMARKET`), P4 (a model market's request
with two sellers and three executors, :data:`~mercato.chaos.scenarios_models.MODELMARKET`)
and P5 (an API over three vendors in base mode, its orchestrator as ``mercato orchestrator
serve --api ID`` started once the API is registered, a consumer's calls beside the agents,
:data:`~mercato.chaos.scenarios_models.APIMARKET`); P2's to P5's payments are recomputed by
their auditors.
"""

from __future__ import annotations

from mercato.chaos.faults import Fault, schedule
from mercato.chaos.harness import RunResult, run
from mercato.chaos.scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "Fault", "RunResult", "Scenario", "run", "schedule"]
