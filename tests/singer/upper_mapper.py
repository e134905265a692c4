#!/usr/bin/env python3
"""A small Singer mapper for the runner's tests: a real executable, stdin to stdout.

It upper-cases one string field of every RECORD (config ``field``, default ``name``) and passes
everything else through as it came, STATE included. Knobs for failure: fail_after (exit 1 after
N records), stop_after (exit 0 after N records, leaving the rest of its input unread),
alter_state (write each STATE with an extra key), drop_state (write no STATE), rename (stream
renames, {old: new}), garbage_after (write a line that is not JSON after N records, holding
garbage_pad x's and api_key), api_key (a
secret: printed to stderr on purpose, to test redaction).
"""

import json
import sys


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args:
        print("upper_mapper: --about not supported", file=sys.stderr)
        return 2
    config = {}
    if "--config" in args:
        with open(args[args.index("--config") + 1]) as fh:
            config = json.load(fh)
    field = config.get("field", "name")
    rename = config.get("rename", {})
    records = 0
    print(f"upper_mapper: upper-casing {field!r}", file=sys.stderr)
    if config.get("api_key"):
        print(f"upper_mapper: using key {config['api_key']}", file=sys.stderr)
    for line in sys.stdin:
        msg = json.loads(line)
        mtype = msg.get("type")
        if mtype == "RECORD":
            if config.get("fail_after") == records:
                print("upper_mapper: Traceback: KeyError: 'boom'", file=sys.stderr)
                return 1
            if config.get("stop_after") == records:
                return 0
            if config.get("garbage_after") == records:
                pad = "x" * config.get("garbage_pad", 0)  # puts api_key where excerpts are cut
                sys.stdout.write(
                    f"this is not json {pad}{config.get('api_key', '')}\n".replace(" \n", "\n")
                )
            records += 1
            value = msg["record"].get(field)
            if isinstance(value, str):
                msg["record"] = {**msg["record"], field: value.upper()}
                line = json.dumps(msg) + "\n"
        elif mtype == "STATE":
            if config.get("drop_state"):
                continue
            if config.get("alter_state"):
                line = json.dumps({"type": "STATE", "value": {**msg["value"], "mapper": 1}}) + "\n"
        if mtype in ("RECORD", "SCHEMA") and msg.get("stream") in rename:
            msg["stream"] = rename[msg["stream"]]
            line = json.dumps(msg) + "\n"
        sys.stdout.write(line)
        if mtype == "STATE":
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
