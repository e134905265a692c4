#!/usr/bin/env python3
"""A small Singer tap for the runner's tests: a real executable with knobs for failure.

Config keys: streams (list of names), records (per stream), state_every, start_id,
fail_after (exit 1 after N records in all), malformed_at (write a bad line after N records),
huge_line_at (write a line of huge_line_bytes after N records), sleep (seconds per record),
api_key (a secret: the tap prints it to stderr on purpose, to test redaction),
extra_field (add a field not in the schema), hold_until (after the records, wait until this
file exists: a test creates it once it has seen what it waits for; exit 7 after 120 s),
hang_after (after N records, write nothing more
until SIGTERM), heartbeat (while hanging, a stderr line every this many seconds, for
heartbeat_for seconds; then the tap goes on), huge_stderr_bytes (first, a stderr line this long
without a newline), exit_and_hang (close stdout and stderr at the end, then hang until SIGTERM).

Environment: FAKE_TAP_ABOUT=hang / FAKE_TAP_DISCOVER=hang make those calls hang (until killed),
FAKE_TAP_PIDFILE names a file to write the hanging process's pid to.
"""

import json
import os
import signal
import sys
import time


def _hang(what: str) -> int:
    """Hang as a stuck connector does: write nothing, never exit on our own (SIGTERM ends it)."""
    if os.environ.get("FAKE_TAP_PIDFILE"):
        with open(os.environ["FAKE_TAP_PIDFILE"], "w") as fh:
            fh.write(str(os.getpid()))
    print(f"fake_tap: {what}: waiting forever", file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)


def write_chunked(stream, n: int, chunk: int = 1 << 20) -> None:
    """n bytes of 'x' without a newline, written in pieces so this process stays small."""
    block = b"x" * chunk
    while n > 0:
        stream.write(block[: min(n, chunk)])
        n -= chunk
    stream.flush()


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args and os.environ.get("FAKE_TAP_ABOUT") == "hang":
        return _hang("--about")
    if "--discover" in args and os.environ.get("FAKE_TAP_DISCOVER") == "hang":
        return _hang("--discover")
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
    if config.get("huge_stderr_bytes"):
        sys.stderr.flush()
        write_chunked(sys.stderr.buffer, config["huge_stderr_bytes"] - 10)
        sys.stderr.buffer.write(b"END-OF-BIG\n")
        sys.stderr.flush()
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
            if config.get("hang_after") == emitted:
                out.flush()
                print(f"fake_tap: hanging after {emitted} records", file=sys.stderr, flush=True)
                beat, until = (
                    config.get("heartbeat"),
                    time.monotonic() + config.get("heartbeat_for", 0),
                )
                while not stopping and (not beat or time.monotonic() < until):
                    time.sleep(beat or 0.02)
                    if beat:
                        print("fake_tap: still waiting for the API", file=sys.stderr, flush=True)
                if stopping:
                    print("fake_tap: SIGTERM while hanging, stopping", file=sys.stderr, flush=True)
                    return 143
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
    if config.get("exit_and_hang"):  # its output ends, the process does not
        os.close(1)
        print("fake_tap: output closed, not exiting", file=sys.stderr, flush=True)
        while not stopping:
            time.sleep(0.02)
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
