"""The replay tap: emits a saved Singer file, then optionally one STATE.

Run by batch ETL jobs as ``python -m glue_runtime.batch.replay --config CONFIG`` to stream an ETL
script's ``etl-output/data.singer`` into the targets. Config: ``input`` (path), ``state`` (a
STATE value to emit after the file, so targets confirm it once they have loaded everything).
"""

from __future__ import annotations

import sys
from pathlib import Path

from glue_runtime.protocol import dump, loads_exact


def main(argv: list[str]) -> int:
    if "--about" in argv or "--discover" in argv:
        return 2
    config = loads_exact(Path(argv[argv.index("--config") + 1]).read_bytes())
    out = sys.stdout.buffer
    with open(config["input"], "rb") as src:
        last = b"\n"
        for line in src:
            out.write(line)
            last = line
        if not last.endswith(b"\n"):
            out.write(b"\n")
    if config.get("state") is not None:
        out.write(dump({"type": "STATE", "value": config["state"]}))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
