"""What one run needs, already resolved: the connectors with their configs, the store, the stages.

Built by the API and the CLI (and batch jobs), executed by ``runner.run_job``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from glue_runtime import protocol
from glue_runtime.connectors import Connector
from glue_runtime.errors import GlueError
from glue_runtime.result import StreamStats
from glue_runtime.secrets import secret_values
from glue_runtime.stages import Stage
from glue_runtime.statestore import StateStore
from glue_runtime.timeouts import Timeouts

# Keeps what a tap wrote back into its config: (the updated config, the changed keys) -> an
# error when it could not be kept. A caller whose config lives elsewhere than a file (the
# workspace store) gives one; else startup.py writes the change to the config's source file.
TapConfigHook = Callable[[dict[str, Any], list[str]], GlueError | None]


@dataclass
class Endpoint:
    """A connector with the config it runs with."""

    connector: Connector
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return self.connector.label


@dataclass
class JobSpec:
    """Everything one run needs, already resolved (no file names left to read)."""

    tap: Endpoint
    targets: list[Endpoint]
    store: StateStore
    state_key: str
    catalog: dict[str, Any] | None = None
    stages: Sequence[Stage] = ()
    # External mapper executables, run between ``stages`` and ``after_mappers`` (mappers.py).
    mappers: list[Endpoint] = field(default_factory=list)
    after_mappers: Sequence[Stage] = ()
    full_refresh: bool = False
    max_line_bytes: int = protocol.DEFAULT_MAX_LINE_BYTES
    env: dict[str, str] = field(default_factory=dict)
    # Further values to keep out of logs: what a flow's env: took from the outer environment.
    secrets: frozenset[str] = frozenset()
    cwd: str | None = None
    validate_configs: bool = True
    select_stats: Any = None  # the field map selector's counts (stages.select.SelectStats)
    tap_config_source: str | None = None  # the file the tap's config came from, if any
    on_tap_config_update: TapConfigHook | None = None  # where a written-back config goes
    hold_lock: bool = True  # False when the caller already holds the state key's lock
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    on_progress: Callable[[dict[str, StreamStats], float], None] | None = None
    progress_interval_s: float = 1.0
    # Confirmed state is written at most this often (and at the end): with a STATE per record,
    # a write each (two fsyncs) would bound the job at a few hundred records a second.
    state_write_interval_s: float = 1.0
    timeouts: Timeouts = field(default_factory=Timeouts)  # idle tap, drain (see timeouts.py)
    # False for a target that confirms no STATE by design (batch landing): no warning then.
    expect_state_confirmations: bool = True
    # Set from another thread to stop the job as SIGTERM does (a job record's cancel, when the
    # job runs in a thread that cannot own the process's signals).
    stop: threading.Event | None = None


def job_secrets(spec: JobSpec) -> set[str]:
    """Every secret value a job knows of, to keep out of its logs and errors.

    Settings the connector's schema marks secret count even with ``validate: false`` (the
    schema comes from ``--about``, asked once per connector and cached; a connector without it
    still has its settings judged by name and its URLs' passwords masked). The job's ``env``
    values count when their name looks secret; values a flow's ``env:`` took from the outer
    environment arrive in ``spec.secrets``.
    """
    values = set(spec.secrets)
    for ep in (spec.tap, *spec.mappers, *spec.targets):
        values |= secret_values(ep.config, ep.connector.secret_settings())
    values |= secret_values(spec.env)
    return values
