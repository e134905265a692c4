"""glue_runtime: an open, embeddable runtime for Singer connectors.

```python
import glue_runtime

result = glue_runtime.run_flow("examples/demo/flow.yml")
result = glue_runtime.run("files", "sqlite", tap_config={...}, target_config={...})
results = glue_runtime.run_workspace_flow("shop", tenant="acme")  # a workspace flow
print(result.status, result.records_out, result.state)
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from glue_runtime.api import run, run_flow, state_store_for
    from glue_runtime.connectors import Connector, available, resolve
    from glue_runtime.errors import (
        ConfigError,
        ConnectorError,
        ConnectorNotFound,
        CredentialError,
        DataError,
        GlueError,
        Interrupted,
        LeaseLost,
        MapperFailed,
        NeedsReauthorisation,
        ProtocolError,
        SecretKeyError,
        StateError,
        StateLocked,
        StoreError,
        TapFailed,
        TargetFailed,
        TransformError,
        UsageError,
    )
    from glue_runtime.flow import Flow, load_flow
    from glue_runtime.jobs.api import (
        JobBusy,
        cancel_job,
        get_job,
        job_logs,
        list_jobs,
        rerun_job,
        run_job,
        start_job,
    )
    from glue_runtime.jobs.model import Job
    from glue_runtime.protocol import Message
    from glue_runtime.result import JobResult, StreamStats
    from glue_runtime.stages import Stage
    from glue_runtime.state import FileStateStore, SingleFileStateStore
    from glue_runtime.statestore import Lease, StateStore
    from glue_runtime.workspace.dbstate import DbStateStore
    from glue_runtime.workspace.links import link_with_settings, unlink
    from glue_runtime.workspace.oauth import (
        finish_link,
        issue_link_token,
        redeem_link_token,
        start_link,
    )
    from glue_runtime.workspace.open import Opened, open_workspace
    from glue_runtime.workspace.runs import run_workspace_flow
    from glue_runtime.workspace.tenancy import add_tenant, remove_tenant
    from glue_runtime.workspace.tokens import fresh_credentials

# The public names, imported on first use (PEP 562): a connector process started as
# ``python -m glue_runtime.launch`` imports this package too, and must not pay for the runner,
# jsonschema and yaml it never uses (about 0.3 s of a tiny job's start-up per connector).
_LAZY: dict[str, str] = {
    "run": "api",
    "run_flow": "api",
    "state_store_for": "api",
    "Connector": "connectors",
    "available": "connectors",
    "resolve": "connectors",
    "ConfigError": "errors",
    "ConnectorError": "errors",
    "ConnectorNotFound": "errors",
    "DataError": "errors",
    "GlueError": "errors",
    "Interrupted": "errors",
    "LeaseLost": "errors",
    "MapperFailed": "errors",
    "ProtocolError": "errors",
    "StateError": "errors",
    "StateLocked": "errors",
    "TapFailed": "errors",
    "TargetFailed": "errors",
    "TransformError": "errors",
    "UsageError": "errors",
    "Flow": "flow",
    "load_flow": "flow",
    "Message": "protocol",
    "JobResult": "result",
    "StreamStats": "result",
    "Stage": "stages",
    "FileStateStore": "state",
    "SingleFileStateStore": "state",
    "Lease": "statestore",
    "StateStore": "statestore",
    "run_workspace_flow": "workspace.runs",
    # workspaces (docs/workspace.md): open one, tenants, links, OAuth, tokens
    "CredentialError": "errors",
    "NeedsReauthorisation": "errors",
    "SecretKeyError": "errors",
    "StoreError": "errors",
    "DbStateStore": "workspace.dbstate",
    "Opened": "workspace.open",
    "open_workspace": "workspace.open",
    "add_tenant": "workspace.tenancy",
    "remove_tenant": "workspace.tenancy",
    "link_with_settings": "workspace.links",
    "unlink": "workspace.links",
    "start_link": "workspace.oauth",
    "finish_link": "workspace.oauth",
    "issue_link_token": "workspace.oauth",
    "redeem_link_token": "workspace.oauth",
    "fresh_credentials": "workspace.tokens",
    # jobs (docs/jobs.md): every run recorded; queue one, run one here, read, cancel, rerun
    "Job": "jobs.model",
    "JobBusy": "jobs.api",
    "start_job": "jobs.api",
    "run_job": "jobs.api",
    "get_job": "jobs.api",
    "list_jobs": "jobs.api",
    "cancel_job": "jobs.api",
    "rerun_job": "jobs.api",
    "job_logs": "jobs.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glue_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"glue_runtime.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Connector",
    "ConnectorError",
    "ConnectorNotFound",
    "CredentialError",
    "DataError",
    "DbStateStore",
    "FileStateStore",
    "Flow",
    "GlueError",
    "Interrupted",
    "Job",
    "JobBusy",
    "JobResult",
    "Lease",
    "LeaseLost",
    "MapperFailed",
    "Message",
    "NeedsReauthorisation",
    "Opened",
    "ProtocolError",
    "SecretKeyError",
    "SingleFileStateStore",
    "Stage",
    "StateError",
    "StateLocked",
    "StateStore",
    "StoreError",
    "StreamStats",
    "TapFailed",
    "TargetFailed",
    "TransformError",
    "UsageError",
    "__version__",
    "add_tenant",
    "available",
    "cancel_job",
    "finish_link",
    "fresh_credentials",
    "get_job",
    "issue_link_token",
    "job_logs",
    "link_with_settings",
    "list_jobs",
    "load_flow",
    "open_workspace",
    "redeem_link_token",
    "remove_tenant",
    "rerun_job",
    "resolve",
    "run",
    "run_flow",
    "run_job",
    "run_workspace_flow",
    "start_job",
    "start_link",
    "state_store_for",
    "unlink",
]
