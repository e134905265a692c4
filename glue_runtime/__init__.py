"""glue_runtime: an open, embeddable runtime for Singer connectors.

```python
import glue_runtime

result = glue_runtime.run_flow("examples/demo/flow.yml")
result = glue_runtime.run("files", "sqlite", tap_config={...}, target_config={...})
print(result.status, result.records_out, result.state)
```
"""

from glue_runtime.api import run, run_flow, state_store_for
from glue_runtime.connectors import Connector, available, resolve
from glue_runtime.errors import (
    ConfigError,
    ConnectorError,
    ConnectorNotFound,
    DataError,
    GlueError,
    Interrupted,
    LeaseLost,
    MapperFailed,
    ProtocolError,
    StateError,
    StateLocked,
    TapFailed,
    TargetFailed,
    TransformError,
    UsageError,
)
from glue_runtime.flow import Flow, load_flow
from glue_runtime.protocol import Message
from glue_runtime.result import JobResult, StreamStats
from glue_runtime.stages import Stage
from glue_runtime.state import FileStateStore, SingleFileStateStore
from glue_runtime.statestore import Lease, StateStore

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Connector",
    "ConnectorError",
    "ConnectorNotFound",
    "DataError",
    "FileStateStore",
    "Flow",
    "GlueError",
    "Interrupted",
    "JobResult",
    "Lease",
    "LeaseLost",
    "MapperFailed",
    "Message",
    "ProtocolError",
    "SingleFileStateStore",
    "Stage",
    "StateError",
    "StateLocked",
    "StateStore",
    "StreamStats",
    "TapFailed",
    "TargetFailed",
    "TransformError",
    "UsageError",
    "__version__",
    "available",
    "load_flow",
    "resolve",
    "run",
    "run_flow",
    "state_store_for",
]
