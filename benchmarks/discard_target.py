#!/usr/bin/env python3
"""A Singer target that discards its input and confirms the last STATE (stdlib only).

Case 2 measures the runner's stages, so the target must cost next to nothing: it scans lines
for STATE without parsing records, and emits the last state value on exit, as targets do.
"""

import json
import sys


def main() -> int:
    last = None
    for line in sys.stdin.buffer:
        if b'"STATE"' in line[:40]:
            last = line
    if last is not None:
        value = json.loads(last).get("value")
        sys.stdout.write(json.dumps(value) + "\n")
    return 0


if __name__ == "__main__":
    if "--about" in sys.argv:
        sys.exit(2)
    sys.exit(main())
