"""opscentre: an open-source city operations centre."""

__version__ = "0.1.0"
