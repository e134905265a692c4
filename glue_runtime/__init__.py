"""glue_runtime: an open, embeddable runtime for Singer connectors."""

__version__ = "0.1.0"
