"""P2: ownership-preserving collaborative training (Somy et al.) on the TrainingMarket contract.

- :mod:`.market`: the typed contract wrapper (and the draw, mirrored bit for bit);
- :mod:`.documents`: what each hash on chain points to in the blob store;
- :mod:`.history`: the market's events, looked up by event and indexed argument;
- :mod:`.data_owner`, :mod:`.compute`, :mod:`.model_owner`: each role's off-chain steps;
- :mod:`.agents`: the handlers of each role's agent; :mod:`.scenario`: the demo's flow.
"""
