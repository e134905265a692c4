#!/usr/bin/env python3
"""A tap for the job tests: one record carrying the ``start_date`` of its config (or null), and
a bookmark, so a test sees what config the job gave the tap."""

import json
import sys


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args or "--discover" in args:
        print("date_tap: --about/--discover not supported", file=sys.stderr)
        return 2
    with open(args[args.index("--config") + 1]) as fh:
        config = json.load(fh)
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "start_date": {"type": ["string", "null"]}},
    }
    for msg in (
        {"type": "SCHEMA", "stream": "dates", "schema": schema, "key_properties": ["id"]},
        {
            "type": "RECORD",
            "stream": "dates",
            "record": {"id": 1, "start_date": config.get("start_date")},
        },
        {"type": "STATE", "value": {"bookmarks": {"dates": {"id": 1}}}},
    ):
        print(json.dumps(msg), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
