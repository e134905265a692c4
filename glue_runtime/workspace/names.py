"""Named errors for names that do not exist: which thing, where, and the close matches."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from glue_runtime.errors import ConfigError


def unknown(
    what: str, name: str, known: Iterable[str], *, where: str = "", hint: str | None = None
) -> ConfigError:
    """A ConfigError for an unknown ``what`` (flow, tenant, connector...) with close matches."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    place = f" in {where}" if where else ""
    guess = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    listing = f"{what}s: {', '.join(names)}" if names else f"there are no {what}s yet"
    return ConfigError(
        f"unknown {what} '{name}'{place}", hint=f"{guess}{listing}" + (f"; {hint}" if hint else "")
    )
