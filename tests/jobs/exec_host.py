"""A stand-in server for the executor's tests: ``python exec_host.py ROOT`` runs an
EmbeddedExecutor over the workspace with the ``jobs exec`` stand-in as children, until killed."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from glue_runtime.jobs.executor import EmbeddedExecutor
from glue_runtime.jobs.settings import parse_job_settings
from glue_runtime.service.context import ServiceContext
from glue_runtime.workspace.open import open_workspace

STANDIN = str(Path(__file__).with_name("exec_standin.py"))


def main() -> None:
    root = sys.argv[1]
    executor = EmbeddedExecutor(
        ServiceContext(open_workspace(Path(root))),
        settings=parse_job_settings({"poll_interval": 0.1, "heartbeat": 0.2}),
        command=lambda job_id: [sys.executable, STANDIN, root, job_id],
        env=dict(os.environ),
    )
    executor.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
