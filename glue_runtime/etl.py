"""The ETL script contract: a user's Python file that reshapes records between tap and targets.

A script is a plain Python file, loaded once per job. It defines any of these functions (all
optional, but at least one of them)::

    from glue_runtime.etl import Context, Out

    def schema(stream: str, schema: dict, ctx: Context) -> dict | None:
        # once per SCHEMA of an input stream: return its output schema (None = unchanged).
        # May set ctx.key_properties, ctx.output_stream, and call ctx.declare_stream(...).
        ...

    def start_stream(ctx: Context) -> Iterable[dict | Out] | None:
        # once when a stream starts (after schema()); may emit records.
        ...

    def transform(record: Mapping, ctx: Context) -> dict | None | Iterable[dict | Out]:
        # once per RECORD. `record` is read-only. Return it as is to pass it unchanged,
        # a new dict to replace it, None to drop it, or several records (a list or a
        # generator): a dict goes to the stream's output, Out(stream, record) to another stream.
        ...

    def end_stream(ctx: Context) -> Iterable[dict | Out] | None:
        # once when a stream ends (end of input, or a changed SCHEMA for it): may emit
        # records, e.g. aggregates built in ctx.state.
        ...

The transform stage (:mod:`glue_runtime.stages.transform`) calls them; see docs/etl.md for the
rules on schemas, validation, STATE ordering and errors.

Scripts that define ``end_stream`` usually aggregate: the stage then holds STATE messages back
until the end of input (the latest one is sent after the ``end_stream`` records), so a bookmark
never covers records whose aggregate was not sent. A script that only logs in ``end_stream``
can opt out with a module-level ``HOLD_STATE = False``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from glue_runtime.errors import ConfigError
from glue_runtime.etl_types import (
    CHANGED_FIELDS,
    FAST_RECORD,
    HOOKS,
    Context,
    JobContext,
    Out,
    Script,
    format_script_traceback,
    reshape,
    script_from_functions,
)
from glue_runtime.stages.maps import load_maps


def load_script(path: str | Path, *, module_name: str | None = None) -> Script:
    """Import an ETL script from a file, once per job.

    Errors are ConfigError (exit 2, nothing ran): a missing file, a syntax error (with its file
    and line), an exception while importing it, or a file that defines none of the hooks.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"ETL script {path} does not exist",
            hint="give the path of a Python file that defines transform(record, ctx)",
        )
    name = module_name or f"glue_etl_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"ETL script {path} cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    # Importing puts the script's own folder first, so it can import helpers that sit next to it.
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ConfigError(
            f"ETL script {path}:{exc.lineno}: syntax error: {exc.msg}",
            hint=(exc.text or "").strip() or None,
        ) from None
    except Exception as exc:
        tb = format_script_traceback(exc, (str(path.resolve()),))
        raise ConfigError(
            f"ETL script {path} failed while being imported: {type(exc).__name__}: {exc}"
            + (f"\n{tb}" if tb else "")
        ) from None
    hooks: dict[str, Any] = {}
    for hook in HOOKS:
        fn = getattr(module, hook, None)
        if fn is None:
            continue
        if not callable(fn):
            raise ConfigError(f"ETL script {path}: {hook} must be a function, not {type(fn)}")
        hooks[hook] = fn
    if not hooks:
        raise ConfigError(
            f"ETL script {path} defines none of the ETL functions ({', '.join(HOOKS)})",
            hint="define at least transform(record, ctx); see docs/etl.md",
        )
    return Script(
        name=path.name,
        path=path,
        hold_state=bool(getattr(module, "HOLD_STATE", True)),
        frames_from=(str(path.resolve()), folder + "/"),
        **hooks,
    )


def load_transform(path: str | Path) -> Script:
    """A ``.py`` file as an ETL script, a ``.json``/``.yml``/``.yaml`` file as declarative maps."""
    path = Path(path)
    if path.suffix in (".json", ".yml", ".yaml"):
        return load_maps(path)
    return load_script(path)


__all__ = [
    "CHANGED_FIELDS",
    "FAST_RECORD",
    "HOOKS",
    "Context",
    "JobContext",
    "Out",
    "Script",
    "format_script_traceback",
    "load_script",
    "load_transform",
    "reshape",
    "script_from_functions",
]
