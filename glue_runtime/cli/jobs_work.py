"""`glue jobs work`: run queued jobs in the foreground (the executor of `glue serve`, no HTTP)."""

from __future__ import annotations

from glue_runtime.cli import jobs as _jobs  # noqa: F401  (the group this adds to)
