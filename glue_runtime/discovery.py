"""Running a tap's discovery (``--discover``) and caching the catalog it prints.

Discovery can be slow (a large SaaS account, a database with thousands of tables), so the catalog
is cached under ``.glue/catalogs/`` keyed by the tap and a hash of its config: a config change
(new credentials, another database) discovers again; ``refresh=True`` always does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import orjson

from glue_runtime.connectors import Connector, validate_config
from glue_runtime.errors import ConnectorError
from glue_runtime.process import ConnectorFiles
from glue_runtime.protocol import loads_exact
from glue_runtime.secrets import Redactor, secret_values
from glue_runtime.state import write_json_atomic

log = logging.getLogger("glue_runtime.discovery")

DEFAULT_CACHE_DIR = Path(".glue") / "catalogs"
DISCOVER_TIMEOUT_S = 30 * 60


def cache_key(connector: Connector, config: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(" ".join(connector.argv).encode())
    digest.update(orjson.dumps(config, option=orjson.OPT_SORT_KEYS))
    return f"{connector.label}-{digest.hexdigest()[:16]}"


def run_discovery(
    connector: Connector, config: dict[str, Any], *, cwd: Path | str | None = None
) -> dict[str, Any]:
    """Run ``TAP --config X --discover`` and return the catalog it prints."""
    redactor = Redactor(secret_values(config, connector.secret_settings()))
    files = ConnectorFiles(connector.label)
    try:
        cfg = files.write_json("config.json", config)
        try:
            proc = subprocess.run(
                [*connector.argv, "--config", str(cfg), "--discover"],
                capture_output=True,
                timeout=DISCOVER_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            raise ConnectorError(
                f"{connector.label} --discover did not finish in {DISCOVER_TIMEOUT_S}s"
            ) from None
        except OSError as exc:
            raise ConnectorError(f"{connector.label}: could not start: {exc.strerror}") from None
    finally:
        files.cleanup()
    stderr = redactor.redact(proc.stderr.decode("utf-8", "replace")).strip().splitlines()
    tail = "\n".join(f"    {line}" for line in stderr[-15:])
    if proc.returncode != 0:
        raise ConnectorError(
            f"{connector.label} --discover exited with code {proc.returncode}.\n"
            f"  last lines of its stderr:\n{tail}",
            hint="check the tap's config (credentials, host) and that it supports discovery",
        )
    try:
        catalog = loads_exact(proc.stdout)  # schema bounds a float cannot hold stay exact
    except json.JSONDecodeError as exc:
        raise ConnectorError(
            f"{connector.label} --discover did not print a JSON catalog ({exc.msg})",
            hint="a tap must print its catalog as one JSON object on stdout, logs on stderr",
        ) from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise ConnectorError(f"{connector.label} --discover printed JSON without a 'streams' list")
    return catalog


def discover(
    connector: Connector,
    config: dict[str, Any],
    *,
    cache_dir: Path | str | None = None,
    refresh: bool = False,
    cwd: Path | str | None = None,
    validate: bool = True,
) -> tuple[dict[str, Any], Path, bool]:
    """The tap's catalog, from the cache when its config has not changed.

    Before discovery runs, the config is checked against the tap's settings schema (unless
    ``validate`` is False), as a run does: many taps discover nothing, exit 0, without the
    settings they need. Returns (catalog, cache file, whether it came from the cache).
    """
    folder = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    path = folder / f"{cache_key(connector, config)}.json"
    if not refresh and path.exists():
        try:
            return loads_exact(path.read_bytes()), path, True
        except ValueError:
            log.warning("cached catalog %s is not valid JSON; discovering again", path)
    if validate:
        validate_config(connector, config)
    catalog = run_discovery(connector, config, cwd=cwd)
    write_json_atomic(path, catalog)
    return catalog, path, False
