"""The limits TrainingMarket.vy enforces, apart from the wrapper so that the command line can
show them without loading the chain stack."""

MAX_SUBSETS = 32
MAX_REPLICAS = 8
MAX_ROUNDS = 255
MAX_PRICE = 2**96 - 1
