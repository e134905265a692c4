#!/usr/bin/env python3
"""A tap that counts its ``--about`` calls, for the --about cache tests.

Each ``--about`` run appends a line to the file named by ``ABOUT_COUNTER_LOG`` (when set) and
prints a settings schema marking ``token`` secret and ``name`` required. A run emits one SCHEMA,
the config's ``records`` (default 2) RECORDs of stream ``items`` and a STATE.
"""

import json
import os
import sys

ABOUT = {
    "name": "tap-about-counter",
    "capabilities": ["state", "catalog"],
    "settings": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "token": {"type": ["string", "null"], "secret": True},
            "records": {"type": ["integer", "null"]},
        },
        "required": ["name"],
    },
}


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args:
        log = os.environ.get("ABOUT_COUNTER_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        print(json.dumps(ABOUT))
        return 0
    with open(args[args.index("--config") + 1]) as fh:
        config = json.load(fh)
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    print(
        json.dumps(
            {"type": "SCHEMA", "stream": "items", "schema": schema, "key_properties": ["id"]}
        )
    )
    n = config.get("records") or 2
    for i in range(n):
        print(json.dumps({"type": "RECORD", "stream": "items", "record": {"id": i}}))
    print(json.dumps({"type": "STATE", "value": {"bookmarks": {"items": {"id": n - 1}}}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
