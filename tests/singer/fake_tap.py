#!/usr/bin/env python3
"""A small Singer tap for the runner's tests: a real executable with knobs for failure.

Config keys: streams (list of names), records (per stream), state_every, start_id,
fail_after (exit 1 after N records in all), malformed_at (write a bad line after N records),
huge_line_at (write a line of huge_line_bytes after N records), sleep (seconds per record),
api_key (a secret: the tap prints it to stderr on purpose, to test redaction),
extra_field (add a field not in the schema), hold_until (after the records, wait until this
file exists: a test creates it once it has seen what it waits for; exit 7 after 120 s).
"""

import json
import os
import signal
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args or "--discover" in args:
        print("fake_tap: --about/--discover not supported", file=sys.stderr)
        return 2
    config = json.load(open(args[args.index("--config") + 1]))
    state = {}
    if "--state" in args:
        state = json.load(open(args[args.index("--state") + 1]))
    streams = config.get("streams", ["users"])
    n = config.get("records", 10)
    state_every = config.get("state_every", 5)
    sleep = config.get("sleep", 0)
    out = sys.stdout
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
    if config.get("rotate_token"):  # like an OAuth tap saving its rotated refresh token
        config["refresh_token"] = config.get("refresh_token", "rt-0") + "-next"
        with open(args[args.index("--config") + 1], "w") as fh:
            json.dump(config, fh)
        print(f"fake_tap: rotated token to {config['refresh_token']}", file=sys.stderr)
    if config.get("api_key"):
        print(f"fake_tap: connecting with key {config['api_key']}", file=sys.stderr)
    print(f"fake_tap: state received {json.dumps(state, sort_keys=True)}", file=sys.stderr)
    emitted = 0
    bookmarks = dict(state.get("bookmarks", {}))
    for stream in streams:
        start = bookmarks.get(stream, {}).get("id", config.get("start_id", 0))
        schema = {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}},
        }
        out.write(
            json.dumps(
                {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["id"]}
            )
            + "\n"
        )
        for i in range(start + 1, start + n + 1):
            if stopping:
                print("fake_tap: SIGTERM, stopping", file=sys.stderr)
                out.flush()
                return 143
            if config.get("malformed_at") == emitted:
                out.write('{"type": "RECORD", "stream": oops\n')
                out.flush()
            if config.get("huge_line_at") == emitted:
                blob = "x" * config.get("huge_line_bytes", 1000)
                out.write(
                    json.dumps(
                        {"type": "RECORD", "stream": stream, "record": {"id": i, "name": blob}}
                    )
                    + "\n"
                )
            if config.get("fail_after") == emitted:
                out.flush()
                print(
                    "Traceback (most recent call last):\nRuntimeError: source API went away",
                    file=sys.stderr,
                )
                return 1
            rec = {"id": i, "name": f"{stream}-{i}"}
            if config.get("extra_field"):
                rec["extra"] = "surprise"
            out.write(json.dumps({"type": "RECORD", "stream": stream, "record": rec}) + "\n")
            emitted += 1
            bookmarks[stream] = {"id": i}
            if emitted % state_every == 0:
                out.write(
                    json.dumps({"type": "STATE", "value": {"bookmarks": dict(bookmarks)}}) + "\n"
                )
            if sleep:
                out.flush()
                time.sleep(sleep)
        out.write(json.dumps({"type": "STATE", "value": {"bookmarks": dict(bookmarks)}}) + "\n")
    out.flush()
    if config.get("hold_until"):
        deadline = time.monotonic() + 120
        while not os.path.exists(config["hold_until"]):
            if time.monotonic() > deadline or stopping:
                print(f"fake_tap: {config['hold_until']} never appeared", file=sys.stderr)
                return 7
            time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
