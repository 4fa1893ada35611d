"""P4, the model market (Golden Grain): MLaaS providers buy models priced by a benchmark.

- ``unit.py``: what P4 brings to Mercato (its contract, roles, CLI group, demo, benchmarks);
- ``market.py``: the ModelMarket contract's wrapper; ``limits.py``: the terms it accepts;
- ``views.py``: a request and its submissions, as frozen views.
"""
