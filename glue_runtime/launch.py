"""Run an installed connector's entry point as a Singer CLI: ``python -m glue_runtime.launch``.

Usage: ``python -m glue_runtime.launch tap|target|mapper NAME [singer args...]``. The runner starts
entry-point connectors this way so they run in this interpreter's environment as a real process.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("tap", "target", "mapper"):
        usage = "usage: python -m glue_runtime.launch tap|target|mapper NAME [args...]"
        print(usage, file=sys.stderr)
        return 2
    kind, name, args = argv[0], argv[1], argv[2:]
    found = [ep for ep in entry_points(group=f"glue_runtime.{kind}s") if ep.name == name]
    if not found:
        print(f"no {kind} entry point called {name!r}", file=sys.stderr)
        return 2
    obj = found[0].load()
    cli = getattr(obj, "cli", obj)
    main_fn = getattr(cli, "main", None)
    if main_fn is not None:  # a click command (singer-sdk's Tap.cli / Target.cli)
        return main_fn(args=args, prog_name=f"{kind}-{name}")
    sys.argv = [f"{kind}-{name}", *args]
    result = cli()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
