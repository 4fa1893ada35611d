"""P3, the secure data market (OmniLytics): a model owner pays data owners for federated updates.

- ``unit.py``: what P3 brings to Mercato (its contract, roles, CLI group, demo, benchmarks);
- ``market.py``: the DataMarket contract's wrapper; ``limits.py``: the terms it accepts;
- ``views.py``: a task and what its events tell (rounds, scores, payments), as frozen views;
- ``rules.py``: whether a step is acceptable (``*_problem``) and the terms a task is posted
  with; the CLI, the agents and the demo ask the same;
- ``model_owner.py``, ``data_owner.py``, ``aggregation.py``, ``history.py``,
  ``documents.py``: the off-chain steps of each role, the checks anyone can run, the events
  read back and the blobs the hashes point to;
- ``cut.py``: the simulated data (a participant's own file is a
  :class:`~mercato.user_files.DataFile`); ``owner_data.py``, ``inputs.py``: the model
  owner's training and held-out rows, and the features,
  classes and scaling a task posted from a file publishes; ``posting.py`` and
  ``starting.py``: what a task is posted with, from the MO's rows or a model it brings;
  ``final_model.py``: the MO's final model as one scikit-learn model, and its Result;
- ``state_files.py``: what participants keep between commands (the model owner's private
  heads, the parts or files data owners joined with);
- ``agents.py``, ``roles.py``: the handlers of each role's agent and their plans;
  ``scenario.py``: the demo.
"""
