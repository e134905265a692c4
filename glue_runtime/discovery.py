"""Running a tap's discovery (``--discover``) and caching the catalog it prints.

Discovery can be slow (a large SaaS account, a database with thousands of tables), so the catalog
is cached under ``.glue/catalogs/`` keyed by the tap and a hash of its config: a config change
(new credentials, another database) discovers again; ``refresh=True`` always does. The hash is
keyed with a random salt kept in the cache folder, so a file name reveals nothing of a password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from glue_runtime.caches import cache_salt as _cache_salt
from glue_runtime.connectors import Connector, validate_config
from glue_runtime.defaults import CATALOG_CACHE_DIR
from glue_runtime.errors import ConnectorError
from glue_runtime.process import ConnectorFiles, run_to_end
from glue_runtime.protocol import loads_exact
from glue_runtime.secrets import Redactor, secret_values
from glue_runtime.state import write_json_atomic
from glue_runtime.timeouts import Timeouts

log = logging.getLogger("glue_runtime.discovery")

DEFAULT_CACHE_DIR = CATALOG_CACHE_DIR  # a run's is defaults.catalog_cache_dir(its folder)
DISCOVER_TIMEOUT_S = Timeouts.discover


def cache_key(connector: Connector, config: dict[str, Any], folder: Path | None = None) -> str:
    digest = hmac.new(_cache_salt(folder or DEFAULT_CACHE_DIR), digestmod=hashlib.sha256)
    digest.update(" ".join(connector.argv).encode())
    digest.update(orjson.dumps(config, option=orjson.OPT_SORT_KEYS))
    return f"{connector.label}-{digest.hexdigest()[:16]}"


def run_discovery(
    connector: Connector,
    config: dict[str, Any],
    *,
    cwd: Path | str | None = None,
    timeout: float | None = DISCOVER_TIMEOUT_S,
    secret_names: Iterable[str] = (),
) -> dict[str, Any]:
    """Run ``TAP --config X --discover`` and return the catalog it prints.

    It runs like a job's connectors (dies with the runner, stderr relayed); past ``timeout``
    seconds it is stopped and ConnectorTimeout names it. ``secret_names`` are settings to
    redact besides those the tap's schema marks (a workspace's ``secret_settings``).
    """
    redactor = Redactor(secret_values(config, connector.secret_settings() | set(secret_names)))
    files = ConnectorFiles(connector.label)
    try:
        cfg = files.write_json("config.json", config)
        code, stdout, proc = run_to_end(
            connector.label,
            [*connector.argv, "--config", str(cfg), "--discover"],
            what="--discover",
            timeout=timeout,
            redactor=redactor,
            cwd=str(cwd) if cwd is not None else None,
            setting="timeouts: {discover: SECONDS} in the flow file, or --timeout discover=SECONDS",
        )
    finally:
        files.cleanup()
    if code != 0:
        raise ConnectorError(
            f"{connector.label} --discover {proc.describe_exit(code)}.\n"
            f"  last lines of its stderr:\n{proc.tail()}",
            hint="check the tap's config (credentials, host) and that it supports discovery",
        )
    try:
        catalog = loads_exact(stdout)  # schema bounds a float cannot hold stay exact
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
    timeout: float | None = DISCOVER_TIMEOUT_S,
    validate: bool = True,
) -> tuple[dict[str, Any], Path, bool]:
    """The tap's catalog, from the cache when its config has not changed.

    Before discovery runs, the config is checked against the tap's settings schema (unless
    ``validate`` is False), as a run does: many taps discover nothing, exit 0, without the
    settings they need. Returns (catalog, cache file, whether it came from the cache).
    """
    folder = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    if not refresh and (folder / ".salt").exists():  # no salt yet: nothing cached, make nothing
        path = folder / f"{cache_key(connector, config, folder)}.json"
        if path.exists():
            try:
                return loads_exact(path.read_bytes()), path, True
            except (OSError, ValueError) as exc:  # a cache is only a cache
                why = exc.strerror if isinstance(exc, OSError) else "not valid JSON"
                log.warning("cached catalog %s cannot be read (%s); discovering again", path, why)
    if validate:
        validate_config(connector, config)
    catalog = run_discovery(connector, config, cwd=cwd, timeout=timeout)
    path = folder / f"{cache_key(connector, config, folder)}.json"
    try:
        write_json_atomic(path, catalog)
    except OSError as exc:  # a read-only folder or a full disk: the cache is only a cache
        log.warning(
            "could not cache the catalog in %s (%s); it is discovered again next time",
            path,
            exc.strerror or exc,
        )
    return catalog, path, False
