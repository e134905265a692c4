"""Batch ETL jobs, the way hotglue runs transformation scripts (see docs/batch-etl.md).

``job`` runs the three phases; ``landing`` is the target that lands the tap's output in
``sync-output/``; ``replay`` is the tap that streams ``etl-output/data.singer`` to the targets;
``helpers`` is what a script imports to read and write those files.
"""

from glue_runtime.batch.job import BatchOptions, run_batch

__all__ = ["BatchOptions", "run_batch"]
