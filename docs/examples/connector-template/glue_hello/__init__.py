"""A minimal glue_runtime connector package."""
