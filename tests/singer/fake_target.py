#!/usr/bin/env python3
"""A small Singer target for the runner's tests: writes records as JSON lines, then confirms.

It emits each STATE it receives only after the records before it are written and fsynced, and
also appends every STATE it emits to ``<output>.states`` so tests can check the runner committed
exactly what was confirmed. Config: output (path), confirm_every (emit every Nth STATE; the last
one is always emitted at the end), fail_after (exit 1 after N records), password (a secret),
never_exit (after its input ends and it confirmed, wait until SIGTERM instead of exiting),
huge_stdout_bytes (first, a stdout line this long, written in pieces, before its confirmations),
stall_after (after N input lines, stop reading its input, alive, until SIGTERM).
"""

import json
import os
import signal
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args:
        return 2
    config = json.load(open(args[args.index("--config") + 1]))
    out = open(config["output"], "a")
    states_log = open(config["output"] + ".states", "a")
    confirm_every = config.get("confirm_every", 1)
    fail_after = config.get("fail_after")
    received = 0
    records = 0
    pending = None
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # drains on EOF, like a careful target
    if config.get("huge_stdout_bytes"):
        n, block = config["huge_stdout_bytes"], b"y" * (1 << 20)
        while n > 0:
            sys.stdout.buffer.write(block[: min(n, len(block))])
            n -= len(block)
        sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()

    def confirm(value):
        out.flush()
        os.fsync(out.fileno())
        line = json.dumps({"type": "STATE", "value": value})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        states_log.write(json.dumps(value, sort_keys=True) + "\n")
        states_log.flush()

    for n_lines, line in enumerate(sys.stdin):
        if config.get("stall_after") == n_lines:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            print("target: stalled, reading nothing more", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
        msg = json.loads(line)
        if config.get("capture_all"):
            out.write(line if line.endswith("\n") else line + "\n")
        if msg["type"] == "RECORD" and not config.get("capture_all"):
            if fail_after is not None and records >= fail_after:
                print("target: database rejected the batch (constraint violation)", file=sys.stderr)
                return 1
            out.write(json.dumps({"stream": msg["stream"], **msg["record"]}) + "\n")
            records += 1
        elif msg["type"] == "STATE":
            received += 1
            pending = msg["value"]
            if received % confirm_every == 0:
                confirm(pending)
                pending = None
    if pending is not None:
        confirm(pending)
    if config.get("never_exit"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # SIGTERM ends it; nothing else does
        print("target: input ended, not exiting", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    if config.get("password"):
        print(f"target: done (auth {config['password']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
