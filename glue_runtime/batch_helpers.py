"""The old name of ``glue_runtime.batch.helpers``, kept so existing ETL scripts still import."""

from glue_runtime.batch.helpers import *  # noqa: F403
