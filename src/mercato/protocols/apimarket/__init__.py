"""P5 split-execution API market (Arya et al.): a model split into components, each run by
staked vendors; an orchestrator routes calls and commits one batch of steps per epoch.

- ``messages.py``: the signed messages (request, assignment, receipt, ack) and array hashes;
- ``records.py``: the step records of an epoch and the batch the orchestrator commits.
"""
