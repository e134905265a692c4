#!/usr/bin/env python3
"""A tap that needs an account and an API key, for the link tests.

``--about`` marks ``api_key`` secret and ``account`` and ``api_key`` required. ``--discover``
accepts any key starting with ``good-``; any other key fails with exit 1 and a stderr line
that prints the key and the region on purpose (the link check must redact them when
they are secret). A run emits the config's
``records`` (default 2) RECORDs of stream ``items`` tagged with the account.
"""

import json
import sys

ABOUT = {
    "name": "tap-keyed",
    "capabilities": ["catalog", "discover", "state"],
    "settings": {
        "type": "object",
        "properties": {
            "account": {"type": "string", "description": "The account to read"},
            "api_key": {"type": "string", "secret": True},
            "region": {"type": ["string", "null"]},
            "records": {"type": ["integer", "null"]},
        },
        "required": ["account", "api_key"],
    },
}
SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "account": {"type": "string"}},
}


def main() -> int:
    args = sys.argv[1:]
    if "--about" in args:
        print(json.dumps(ABOUT))
        return 0
    with open(args[args.index("--config") + 1]) as fh:
        config = json.load(fh)
    key = str(config.get("api_key", ""))
    if not key.startswith("good-"):
        print(f"keyed_tap: trying region {config.get('region')}", file=sys.stderr, flush=True)
        print(
            f"keyed_tap: api key {key} rejected for account {config.get('account')}",
            file=sys.stderr,
        )
        return 1
    if "--discover" in args:
        stream = {"tap_stream_id": "items", "stream": "items", "schema": SCHEMA, "metadata": []}
        print(json.dumps({"streams": [stream]}))
        return 0
    print(
        json.dumps(
            {"type": "SCHEMA", "stream": "items", "schema": SCHEMA, "key_properties": ["id"]}
        )
    )
    for i in range(int(config.get("records") or 2)):
        record = {"id": i, "account": config.get("account")}
        print(json.dumps({"type": "RECORD", "stream": "items", "record": record}))
    print(json.dumps({"type": "STATE", "value": {"done": True}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
