"""P2: ownership-preserving collaborative training (Somy et al.) on the TrainingMarket contract.

- :mod:`.unit`: what P2 plugs into Mercato (contract, wrapper, roles, CLI group, demo);
- :mod:`.market`: the typed contract wrapper (and the draw, mirrored bit for bit);
- :mod:`.views`: datasets, trainings, rounds, jobs, frauds and payments as frozen views;
- :mod:`.rules`: whether a step is acceptable, as ``*_problem`` functions over the views;
- :mod:`.documents`: what each hash on chain points to in the blob store;
- :mod:`.history`: the market's events, looked up by event and indexed argument;
- :mod:`.data_owner`, :mod:`.compute`, :mod:`.model_owner`: each role's off-chain steps;
- :mod:`.listings`: the data owner's recorded split plans, which its agent rebuilds from;
- :mod:`.agents`, :mod:`.roles`: the handlers of each role's agent and their plans;
  :mod:`.scenario`: the demo's flow.
"""
