"""P3, the secure data market (OmniLytics): a model owner pays data owners for federated updates.

``market.py`` wraps the DataMarket contract; the off-chain steps of each role live beside it.
"""
