#!/usr/bin/env python3
"""A scripted Singer tap for the review tests: runs the config's ``steps`` in order.

Steps (lists): ["out", text] writes text to stdout as UTF-8 (no newline added); ["outhex", hex]
writes raw bytes; ["err", text] writes a stderr line; ["flush"]; ["sleep", s];
["wait_file", path, text, timeout] waits until the file holds text (else exits 7);
["mkdir", path] makes a non-empty folder; ["close_stdout"]; ["spawn_sleeper", s, pidfile]
starts a child that inherits stdout and sleeps;
["spawn_quiet_sleeper", s, pidfile] the same with its stdout on /dev/null;
["set_config", key, value] rewrites its own config file; ["dir_to_file", path]; ["dump_config", path]; ["exit", code].
``ignore_sigterm: true`` ignores SIGTERM. ``--discover`` prints the config's ``catalog`` (exit 2
without one); with ``discover_marker`` it first creates that file and then blocks, as a slow
discovery does, until it is stopped.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args:
        return 2
    path = args[args.index("--config") + 1]
    with open(path) as fh:
        config = json.load(fh)
    if "--discover" in args:
        if config.get("discover_marker"):
            open(config["discover_marker"], "w").close()
            signal.pause()  # a discovery that takes long: until a signal ends it
        if "catalog" not in config:
            return 2
        print(json.dumps(config["catalog"]))
        return 0
    if config.get("ignore_sigterm"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = sys.stdout.buffer
    for step in config.get("steps", []):
        op = step[0]
        if op == "out":
            out.write(step[1].encode())
        elif op == "outhex":
            out.write(bytes.fromhex(step[1]))
        elif op == "err":
            print(step[1], file=sys.stderr, flush=True)
        elif op == "flush":
            out.flush()
        elif op == "sleep":
            out.flush()
            time.sleep(step[1])
        elif op == "wait_file":
            out.flush()
            deadline = time.monotonic() + step[3]
            while not (os.path.exists(step[1]) and step[2] in open(step[1]).read()):
                if time.monotonic() > deadline:
                    print(f"review_tap: {step[1]} never held {step[2]!r}", file=sys.stderr)
                    return 7
                time.sleep(0.02)
        elif op == "mkdir":
            os.makedirs(step[1], exist_ok=True)
            open(os.path.join(step[1], "keep"), "w").close()
        elif op == "close_stdout":
            out.flush()
            os.close(1)
        elif op in ("spawn_sleeper", "spawn_quiet_sleeper"):
            out.flush()
            quiet = op == "spawn_quiet_sleeper"  # its stdout is /dev/null, not ours
            child = subprocess.Popen(
                ["sleep", str(step[1])], stdout=subprocess.DEVNULL if quiet else None
            )
            with open(step[2], "w") as fh:
                fh.write(str(child.pid))
        elif op == "dump_config":
            with open(step[1], "w") as fh:
                json.dump(config, fh)
        elif op == "set_config":  # rewrite its own config file, as OAuth taps save tokens
            config[step[1]] = step[2]
            with open(path, "w") as fh:
                json.dump(config, fh)
        elif op == "dir_to_file":  # a folder becomes a plain file: nothing can be saved in it
            shutil.rmtree(step[1])
            open(step[1], "w").close()
        elif op == "exit":
            out.flush()
            return step[1]
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
