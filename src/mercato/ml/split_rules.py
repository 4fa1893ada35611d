"""The defaults of the skew rules of :mod:`.split`, apart so that the command line can show
them without loading NumPy."""

DEFAULT_MAX_CLASS_FRACTION = 0.5
DEFAULT_MIN_MISSING_CLASSES = 1
