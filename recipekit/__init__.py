"""Shared library behind the repository's converters, eval reports and scripts."""

__version__ = "0.1.0"
