"""Command-line interface: ``mercato <group> <verb>``."""
