"""CSV and JSON-lines tap and target for glue_runtime (singer-sdk plugin classes)."""

__version__ = "0.1.0"
