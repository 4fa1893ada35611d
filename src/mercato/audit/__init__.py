"""Audits answered from the chain and the blob store alone: :mod:`.training` (P2, Somy et
al. II-D), reported through :mod:`.report`."""
