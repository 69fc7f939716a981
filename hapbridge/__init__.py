"""hapbridge: TTLock smart locks in Apple Home, with a simulated TTLock cloud and an admin CLI."""

__version__ = "0.1.0"
