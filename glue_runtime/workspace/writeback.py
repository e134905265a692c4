"""A linked tap that writes its config back (a rotated refresh token): the change goes to the
store, with a compare-and-swap on the link's credential version.

The version is the one read before the run. If it moved meanwhile (a refresher, or a re-link,
committed a newer pair), the store's pair wins: a warning, never an overwrite of newer values.
Only credential values are kept: keys of the link's secrets, or keys the tap added. A changed
app-level setting (glue.yml's config) is not the link's to keep: a warning says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from glue_runtime.errors import GlueError
from glue_runtime.spec import TapConfigHook
from glue_runtime.workspace.store import Link, Store

log = logging.getLogger("glue_runtime.workspace.runs")


def keep_in_store(
    store: Store,
    link: Link,
    version: int,
    secrets: Mapping[str, Any],
    config: Mapping[str, Any],
) -> TapConfigHook:
    """The job's ``on_tap_config_update`` for a linked tap run with ``config``, built from
    ``secrets`` at credential ``version``."""
    name = f"{link.flow}/{link.tenant}/{link.connector}"

    def keep(updated: dict[str, Any], changed: list[str]) -> GlueError | None:
        ours = [k for k in changed if k in secrets or k not in config]
        others = [k for k in changed if k not in ours]
        if others:
            log.warning(
                "%s: the tap changed %s in its config; those are app settings (glue.yml), "
                "not the link's, so the change is not kept",
                name,
                ", ".join(others),
            )
        if not ours:
            return None
        new = {**secrets, **{k: updated[k] for k in ours}}
        try:
            got = store.swap_credentials(link, version, new, expires_at=link.expires_at)
        except GlueError as exc:
            return exc
        if got is None:
            log.warning(
                "%s: the tap updated its credentials (%s), but the link's credentials changed "
                "in the store during the run (version %d is no longer current); the store's "
                "newer ones are kept",
                name,
                ", ".join(ours),
                version,
            )
            return None
        log.info(
            "%s: the tap updated its credentials (%s); saved to the store", name, ", ".join(ours)
        )
        return None

    return keep
