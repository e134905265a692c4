"""glue_rest: a generic REST API tap configured by a small spec of endpoints."""

from glue_rest.tap import TapRest

__all__ = ["TapRest"]
