#!/usr/bin/env python3
"""A scripted Singer target for the review tests.

Config: output (raw input lines are appended here, bytes as received), confirm ("all",
"none", or a list of 1-based STATE numbers to emit), exit_after_lines (exit with exit_code
after reading that many lines; 0 exits before reading), exit_code, eof_exit_code (exit code
after reading all input), stdout_lines (printed to stdout first), echo_config_to_stdout,
delay_s (a pause after each line read: a slow target).
"""

import json
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args:
        return 2
    with open(args[args.index("--config") + 1]) as fh:
        config = json.load(fh)
    for text in config.get("stdout_lines", []):
        print(text, flush=True)
    exit_after = config.get("exit_after_lines")
    if exit_after == 0:
        return config.get("exit_code", 0)
    confirm = config.get("confirm", "all")
    out = open(config["output"], "ab") if config.get("output") else None
    n_states = 0
    delay = config.get("delay_s", 0)
    for n_lines, line in enumerate(sys.stdin.buffer, 1):
        if delay:
            time.sleep(delay)
        if out is not None:
            out.write(line)
            out.flush()
        msg = json.loads(line)
        if str(msg.get("type")).upper() == "STATE":
            n_states += 1
            if confirm == "all" or (isinstance(confirm, list) and n_states in confirm):
                sys.stdout.write(json.dumps(msg["value"]) + "\n")
                sys.stdout.flush()
        if exit_after is not None and n_lines >= exit_after:
            return config.get("exit_code", 0)
    return config.get("eof_exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())
