"""Starting a job's connectors from its JobSpec, and keeping what the tap wrote to its config.

Each connector gets a private folder (process.ConnectorFiles) for its config, catalog and
state files; :class:`Launcher` keeps them all, so the job removes them at its end whatever
happened.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from glue_runtime import protocol
from glue_runtime.errors import ConfigError, GlueError
from glue_runtime.process import ConnectorFiles, ConnectorProcess
from glue_runtime.secrets import Redactor, secret_values
from glue_runtime.spec import JobSpec

log = logging.getLogger("glue_runtime.job")


class Launcher:
    """Starts the tap and the targets of one job; ``files`` holds every connector's folder."""

    def __init__(self, spec: JobSpec, redactor: Redactor) -> None:
        self.spec = spec
        self.redactor = redactor
        self.files: list[ConnectorFiles] = []
        self.tap_files: ConnectorFiles | None = None

    def env(self) -> dict[str, str] | None:
        if not self.spec.env:
            return None
        return {**os.environ, **self.spec.env}

    def start_targets(self, into: list[ConnectorProcess]) -> None:
        """Start every target, appending each to ``into`` as it starts (so a failure to start
        the next one still leaves the started ones to stop)."""
        targets = self.spec.targets
        for i, ep in enumerate(targets):
            files = ConnectorFiles(ep.label)
            self.files.append(files)
            cfg = files.write_json("config.json", ep.config)
            label = ep.label if len(targets) == 1 else f"{ep.label}[{i}]"
            proc = ConnectorProcess(
                label,
                [*ep.connector.argv, "--config", str(cfg)],
                stdin=True,
                redactor=self.redactor,
                env=self.env(),
                cwd=self.spec.cwd,
            )
            into.append(proc)

    def start_tap(self, tap_state: dict[str, Any]) -> ConnectorProcess:
        """Start the tap with its config, the catalog, and ``tap_state`` if it takes state."""
        ep = self.spec.tap
        files = ConnectorFiles(ep.label)
        self.files.append(files)
        self.tap_files = files
        argv = [*ep.connector.argv, "--config", str(files.write_json("config.json", ep.config))]
        if self.spec.catalog is not None:
            path = files.write_json("catalog.json", self.spec.catalog)
            argv += [ep.connector.catalog_flag(), str(path)]
        if tap_state and ep.connector.accepts_state():
            argv += ["--state", str(files.write_json("state.json", tap_state))]
        return ConnectorProcess(
            ep.label, argv, stdin=False, redactor=self.redactor, env=self.env(), cwd=self.spec.cwd
        )

    def cleanup(self) -> None:
        for files in self.files:
            files.cleanup()

    def keep_updated_tap_config(self) -> GlueError | None:
        """Keep what a tap wrote back into its config (a rotated OAuth refresh token, say).

        Taps such as the bundled rest tap save refreshed credentials into the file given with
        --config, as hotglue's taps do. That file is our temporary copy, so carry the change
        over to the config's source file (or to the job's ``on_tap_config_update``, which keeps
        it where the config came from); with an inline config, say it could not be kept.
        The error, when the source file cannot be written.
        """
        ep = self.spec.tap
        if self.tap_files is None:
            return None
        try:
            updated = self.tap_files.read_json("config.json")
        except (OSError, ValueError):
            return None
        if updated == ep.config or not isinstance(updated, dict):
            return None
        changed = sorted(k for k in updated if updated.get(k) != ep.config.get(k))
        self.redactor.add(secret_values(updated, ep.connector.secret_settings()))
        if self.spec.on_tap_config_update is not None:
            error = self.spec.on_tap_config_update(updated, changed)
            if error is None:
                ep.config = updated
            return error
        source = self.spec.tap_config_source
        if source is None:
            log.warning(
                "%s updated its config (%s) but the config was given inline, so the update "
                "is lost; give the tap's config as a file (config_file:) to keep it",
                ep.label,
                ", ".join(changed),
            )
            return None
        try:
            _save_changes(Path(source), updated, changed)
        except OSError as exc:
            return ConfigError(
                f"{ep.label} updated its config ({', '.join(changed)}) but the update could "
                f"not be saved to {source}: {exc.strerror or exc}",
                hint="make that file writable; credentials the tap rotated (a refresh token, "
                "say) are otherwise lost, and the connection may need authorising again",
            )
        ep.config = updated
        log.info("%s updated its config (%s); saved to %s", ep.label, ", ".join(changed), source)
        return None


def _save_changes(path: Path, updated: dict[str, Any], changed: list[str]) -> None:
    """Write the ``changed`` keys into the config file at ``path``, keeping the rest of it."""
    from glue_runtime.state import write_json_atomic

    try:
        on_disk = protocol.loads_exact(path.read_bytes())  # its numbers stay exact
    except (OSError, ValueError):
        on_disk = {}
    on_disk.update({k: updated[k] for k in changed})
    write_json_atomic(path, on_disk)
