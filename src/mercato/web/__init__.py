"""Mercato over HTTP: a read-only JSON API on the protocols' read models (``mercato serve``)."""
