"""One exception hierarchy for glue_runtime.

Every error carries a message written for the person running the job (what went wrong, which
thing -- file, stream, field, line -- and what to do) and a stable exit code for the CLI.
"""

from __future__ import annotations


class GlueError(Exception):
    """Base of every error glue_runtime raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(GlueError):
    """The command line or API call itself is wrong (exit 2)."""

    exit_code = 2
    kind = "usage error"


class ConfigError(GlueError):
    """A flow file, connector config, field map or ETL setting is wrong (exit 2)."""

    exit_code = 2
    kind = "config error"


class ConnectorNotFound(ConfigError):
    """No installed connector or executable answers to a name (exit 2)."""


class ConnectorError(GlueError):
    """A connector process failed: non-zero exit, crash, or could not start (exit 3)."""

    exit_code = 3
    kind = "connector failed"


class TapFailed(ConnectorError):
    """The tap exited non-zero or was killed."""


class TargetFailed(ConnectorError):
    """A target exited non-zero, was killed, or stopped reading its input."""


class ConnectorTimeout(ConnectorError):
    """A connector outlived a timeout (idle tap, drain, --about, --discover) and was stopped.

    The message names the connector, the timeout and how long it was; see glue_runtime.timeouts.
    """


class MapperFailed(ConnectorError):
    """A mapper exited non-zero, was killed, or stopped reading its input."""


class DataError(GlueError):
    """The data is wrong (exit 4): a malformed Singer line, a value nested too deep, a record
    with no SCHEMA where a stage needs one, or an ETL script / map failing on a record."""

    exit_code = 4
    kind = "data error"


class ProtocolError(DataError):
    """A line a connector wrote is not a valid Singer message."""


class LineTooLong(ProtocolError):
    """A Singer line is over the configured size limit."""


class NestedTooDeep(ProtocolError, ValueError):
    """A JSON value nested deeper than the parser or writer can take.

    Also a ValueError, so code that treats unparsable JSON as ValueError handles it too.
    """


class TransformError(DataError):
    """The ETL script or a declarative map failed on a record."""


class RecordBeforeSchema(TransformError):
    """A RECORD reached a stage that needs its stream's schema (ETL script, maps) before any
    SCHEMA of that stream. Without such a stage the record passes, with a warning."""


class StateError(GlueError):
    """The state store cannot be read, written or locked (exit 5)."""

    exit_code = 5
    kind = "state error"


class StateLocked(StateError):
    """Another run holds the lock on the same state key."""


class LeaseLost(StateError):
    """This run's lease on its state key is gone: it stopped renewing it long enough for
    another run to take the key over (or it was released). Its commits are refused from then
    on, so it never writes over the new holder's state."""


class StoreError(GlueError):
    """The workspace store cannot be opened or used: unreachable, its schema is newer than
    this code, or a record it must hold is missing (exit 2: nothing was run)."""

    exit_code = 2
    kind = "store error"


class SecretKeyError(ConfigError):
    """Secrets cannot be stored or read: no key is set, or the key is not the one the secrets
    were encrypted with (exit 2). Never falls back to plain text."""


class CredentialError(GlueError):
    """A link's credentials do not work (exit 6): the provider rejected a refresh (the link
    needs re-authorisation), the token URL stayed down after retries, or an OAuth callback
    was refused (wrong, reused or expired ``state``; the user denied access)."""

    exit_code = 6
    kind = "credential error"


class NeedsReauthorisation(CredentialError):
    """The provider refused the link's tokens (``invalid_grant``): the tenant must link again."""


class Interrupted(GlueError):
    """The job was stopped by SIGINT, SIGTERM or SIGHUP and drained (exit 130)."""

    exit_code = 130
    kind = "interrupted"


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "internal error (a bug in glue_runtime: please report it with the traceback)",
    2: "usage or configuration error (nothing was run)",
    3: "a connector (tap, mapper or target) failed, or outlived a timeout and was stopped",
    4: "data error: malformed Singer message, value nested too deep, RECORD before its SCHEMA "
    "where an ETL script or map needs it, or the ETL script / map failed on a record",
    5: "state error: the state store is locked by another run, or this run lost its lease on the "
    "state key to another run, or the lock or state file cannot be created, read or written, or "
    "holds no JSON object",
    6: "credential error: a link needs re-authorisation (the provider rejected its tokens), the "
    "token URL stayed down after retries, or an OAuth callback was refused",
    130: "interrupted by SIGINT/SIGTERM/SIGHUP: during start-up nothing ran; during a job it "
    "drained and committed what the targets confirmed",
}
