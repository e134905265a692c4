"""A job's chosen streams: the run of a link limited to them, through the catalog's selection.

A job with ``streams`` runs only those: without a field map the tap's catalog is given with only
those streams selected; with one, the field map's selection is narrowed to them. A name the
catalog lacks, or a stream the field map leaves out, is a named error before any tap starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from glue_runtime.catalog import Catalog, as_catalog
from glue_runtime.errors import ConfigError
from glue_runtime.plan import CatalogChoice, RunRequest
from glue_runtime.selection import (
    RunSelection,
    Selection,
    apply_selection,
    resolve_stream,
    selection_from_catalog,
)
from glue_runtime.spec import Endpoint
from glue_runtime.workspace.names import unknown
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.runbuild import LinkJob, LinkRunBuilder


def _check_known(catalog: Catalog, chosen: Sequence[str], where: str) -> None:
    names = {s.tap_stream_id for s in catalog.streams} | {s.stream for s in catalog.streams}
    for name in chosen:
        if name not in names:
            raise unknown("stream", name, [s.tap_stream_id for s in catalog.streams], where=where)


def _chosen(stream_id: str, stream: str, chosen: Sequence[str]) -> bool:
    return stream_id in chosen or stream in chosen


def only_streams(catalog: dict[str, Any], chosen: Sequence[str], where: str) -> dict[str, Any]:
    """The catalog with the chosen streams selected (as their metadata selects their fields)
    and every other stream deselected."""
    cat = as_catalog(catalog)
    _check_known(cat, chosen, where)
    base = selection_from_catalog(cat)
    streams = {
        cs.tap_stream_id: (
            resolve_stream(cs, stream_on=True, reason="chosen for the job")
            if _chosen(cs.tap_stream_id, cs.stream, chosen)
            else dataclasses.replace(base.streams[cs.tap_stream_id], selected=False)
        )
        for cs in cat.streams
    }
    return apply_selection(cat, Selection(streams))


def narrow(selection: RunSelection, chosen: Sequence[str], where: str) -> RunSelection:
    """A field map's selection narrowed to the chosen streams (each must be one it selects)."""
    _check_known(selection.catalog, chosen, where)
    streams: dict[str, Any] = {}
    for sid, sel in selection.selection.streams.items():
        wanted = _chosen(sid, sel.stream, chosen)
        if wanted and not sel.selected:
            raise ConfigError(
                f"stream '{sel.stream}' is not selected by the field map of {where}",
                hint="choose streams the field map selects (`glue fieldmap show`), or select "
                "it in the field map",
            )
        streams[sid] = sel if wanted else dataclasses.replace(sel, selected=False)
    narrowed = Selection(
        streams,
        shape=selection.selection.shape,
        source=selection.selection.source,
        unlisted=selection.selection.unlisted,
    )
    return RunSelection(narrowed, selection.catalog, apply_selection(selection.catalog, narrowed))


class JobRunBuilder(LinkRunBuilder):
    """The link's run builder, limited to a job's chosen streams (all when None)."""

    def __init__(
        self,
        request: RunRequest,
        job: LinkJob,
        opened: Opened,
        *,
        streams: Sequence[str] | None,
        refresh_catalog: bool = False,
    ) -> None:
        super().__init__(request, job, opened, refresh_catalog=refresh_catalog)
        self.streams = list(streams) if streams else None

    def catalog(self, tap: Endpoint) -> CatalogChoice:
        choice = super().catalog(tap)
        if self.streams is None or self.tenant_field_map() is not None:
            return choice
        if choice.catalog is None:
            raise ConfigError(
                f"{self.job.name}: streams were chosen, but the tap has no catalog to choose "
                "them in (it does not discover, and the flow gives none)",
                hint="run the job without streams, or give the source a catalog in glue.yml",
            )
        where = f"the catalog of {self.job.name}"
        return CatalogChoice(only_streams(choice.catalog, self.streams, where), choice.origin)

    def field_map(self, catalog: dict[str, Any] | None) -> RunSelection | None:
        selection = super().field_map(catalog)
        if selection is None or self.streams is None:
            return selection
        return narrow(selection, self.streams, self.job.name)
