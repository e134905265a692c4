#!/usr/bin/env python3
"""A tap that rotates its refresh token and writes its config back, as OAuth taps do.

Config: refresh_token (required), records (default 3), hold_until (after writing the config
back, wait until this file exists; started_file is created first so a test knows it got there).
The new refresh token is the old one + "-next"; access_token is set to "at-" + the new one.
"""

import json
import os
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args or "--discover" in args:
        print("rotating_tap: --about/--discover not supported", file=sys.stderr)
        return 2
    path = args[args.index("--config") + 1]
    with open(path) as fh:
        config = json.load(fh)
    rotated = config["refresh_token"] + "-next"
    config.update(refresh_token=rotated, access_token="at-" + rotated)
    with open(path + ".tmp", "w") as fh:
        json.dump(config, fh)
    os.replace(path + ".tmp", path)
    if config.get("started_file"):
        open(config["started_file"], "w").close()
    if config.get("hold_until"):
        deadline = time.monotonic() + 120
        while not os.path.exists(config["hold_until"]):
            if time.monotonic() > deadline:
                return 7
            time.sleep(0.02)
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    out = [{"type": "SCHEMA", "stream": "items", "schema": schema, "key_properties": ["id"]}]
    out += [
        {"type": "RECORD", "stream": "items", "record": {"id": i}}
        for i in range(config.get("records", 3))
    ]
    out.append({"type": "STATE", "value": {"bookmarks": {"items": {"id": 3}}}})
    for msg in out:
        print(json.dumps(msg), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
