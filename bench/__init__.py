"""The fleet benchmark: generated fleets, timed through planning and the real engine's preview."""
