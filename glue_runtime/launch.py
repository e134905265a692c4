"""Run an installed connector's entry point as a Singer CLI: ``python -m glue_runtime.launch``.

Usage: ``python -m glue_runtime.launch tap|target|mapper NAME [singer args...]``. The runner starts
entry-point connectors this way so they run in this interpreter's environment as a real process.
The entry point is looked up in the runtime's entry-point index (``caches.py``), which spares
the connector process a scan of every installed distribution.

When the connector returns (or exits), the objects alive are frozen out of the cyclic garbage
collector (``gc.freeze``) before the interpreter shuts down. Shutting down runs collections that
walk every object left, and a singer-sdk connector leaves hundreds of thousands: that took 0.3
to 0.6 s of a tiny job's wall time per connector, on its critical path twice (the runner sees
the tap's output end only when the tap's process exits, and the job ends when the target's
does). Everything else happens as before: atexit handlers run, modules are cleared, objects
freed and files closed by reference counting; only objects in reference cycles that are still
uncollected at exit are left to the operating system, which Python never promised to finalize.
"""

from __future__ import annotations

import gc
import sys

from glue_runtime.caches import entry_points


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("tap", "target", "mapper"):
        usage = "usage: python -m glue_runtime.launch tap|target|mapper NAME [args...]"
        print(usage, file=sys.stderr)
        return 2
    kind, name, args = argv[0], argv[1], argv[2:]
    found = [ep for ep in entry_points(f"glue_runtime.{kind}s") if ep.name == name]
    if not found:
        print(f"no {kind} entry point called {name!r}", file=sys.stderr)
        return 2
    obj = found[0].load()
    cli = getattr(obj, "cli", obj)
    main_fn = getattr(cli, "main", None)
    try:
        if main_fn is not None:  # a click command (singer-sdk's Tap.cli / Target.cli)
            return main_fn(args=args, prog_name=f"{kind}-{name}")
        sys.argv = [f"{kind}-{name}", *args]
        result = cli()
        return result if isinstance(result, int) else 0
    finally:
        gc.freeze()  # a quick shutdown: see the module docstring


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
