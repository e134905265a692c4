#!/usr/bin/env python3
"""Case 1, the bound for any stage that parses: read a line, orjson.loads, orjson.dumps, write.

stdin -> stdout, nothing else; no stage built on parsed messages can beat this in Python.
"""

import sys

import orjson


def main() -> None:
    loads, dumps = orjson.loads, orjson.dumps
    nl = orjson.OPT_APPEND_NEWLINE
    write = sys.stdout.buffer.write
    for line in sys.stdin.buffer:
        write(dumps(loads(line), option=nl))


if __name__ == "__main__":
    main()
