"""P2: ownership-preserving collaborative training (Somy et al.) on the TrainingMarket contract.

:mod:`.market` is the typed contract wrapper; the off-chain steps of each role (DO, CO, MO)
build on it.
"""
