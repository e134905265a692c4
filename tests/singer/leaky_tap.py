#!/usr/bin/env python3
"""A tap that leaks its secrets on purpose, for the redaction and process-lifetime tests.

Config: print_env (names of environment variables to print to stderr as NAME=value),
stderr (lines to print to stderr), basic_auth ([user key, password key]: print an HTTP Basic
Authorization header built from those settings), print_config (print its config as JSON to
stderr), stdout (raw lines for stdout, after one SCHEMA and RECORD), pid_file (write its pid
there once started), sleep (seconds to sleep before exiting), exit_code.
``--about`` prints a settings schema marking ``opaque`` secret (a name that does not look it).
"""

import base64
import json
import os
import sys
import time

ABOUT = {
    "name": "tap-leaky",
    "capabilities": ["state"],
    "settings": {
        "type": "object",
        "properties": {"opaque": {"type": "string", "secret": True}},
    },
}


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args:
        print(json.dumps(ABOUT))
        return 0
    with open(args[args.index("--config") + 1]) as fh:
        config = json.load(fh)
    for name in config.get("print_env", []):
        print(f"{name}={os.environ.get(name)}", file=sys.stderr, flush=True)
    for text in config.get("stderr", []):
        print(text, file=sys.stderr, flush=True)
    if config.get("basic_auth"):
        user_key, password_key = config["basic_auth"]
        pair = f"{config[user_key]}:{config[password_key]}".encode()
        print(f"Authorization: Basic {base64.b64encode(pair).decode()}", file=sys.stderr)
    if config.get("print_config"):
        print(f"config: {json.dumps(config)}", file=sys.stderr, flush=True)
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    out = sys.stdout
    out.write(
        json.dumps({"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": ["id"]})
        + "\n"
    )
    out.write(json.dumps({"type": "RECORD", "stream": "s", "record": {"id": 1}}) + "\n")
    for text in config.get("stdout", []):
        out.write(text + "\n")
    out.flush()
    if config.get("pid_file"):
        with open(config["pid_file"] + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(config["pid_file"] + ".tmp", config["pid_file"])
    if config.get("sleep"):
        time.sleep(config["sleep"])
    return config.get("exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())
