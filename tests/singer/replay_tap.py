#!/usr/bin/env python3
"""A tap that replays a saved Singer stream (config: {"input": path}) byte for byte."""

import json
import sys

args = sys.argv[1:]
if "--about" in args:
    sys.exit(2)
with open(args[args.index("--config") + 1]) as fh:
    config = json.load(fh)
with open(config["input"], "rb") as src:
    for line in src:
        sys.stdout.buffer.write(line)
