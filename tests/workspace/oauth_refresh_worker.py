"""A separate process for the refresh tests: opens the workspace, starts THREADS threads that
each wait for "go" on stdin and then call fresh_credentials for one link; prints one JSON line
per call: the sha256 of the access token it got (never the token), or the error's class,
and the seconds from "go" to the answer.

usage: oauth_refresh_worker.py ROOT FLOW TENANT CONNECTOR THREADS LEASE_TTL_S
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from pathlib import Path

from glue_runtime.errors import GlueError
from glue_runtime.workspace.oauthclient import RetryPolicy
from glue_runtime.workspace.open import open_workspace
from glue_runtime.workspace.tokens import RefreshPolicy, fresh_credentials


def main() -> None:
    root, flow, tenant, connector, threads, lease_ttl = sys.argv[1:7]
    policy = RefreshPolicy(
        lease_ttl_s=float(lease_ttl), wait_s=60, poll_s=0.02, retry=RetryPolicy(tries=1)
    )
    opened = open_workspace(Path(root))
    link = opened.store.link(flow, tenant, connector)
    go = threading.Event()
    lock = threading.Lock()

    started: list[float] = []

    def call() -> None:
        go.wait()
        try:
            token = fresh_credentials(opened, link, policy=policy)["access_token"]
            line = {"token": hashlib.sha256(token.encode()).hexdigest()}
        except GlueError as exc:
            line = {"error": type(exc).__name__}
        line["s"] = f"{time.monotonic() - started[0]:.3f}"  # seconds from go to the answer
        with lock:
            print(json.dumps(line), flush=True)

    workers = [threading.Thread(target=call) for _ in range(int(threads))]
    for w in workers:
        w.start()
    print("ready", flush=True)
    sys.stdin.readline()
    started.append(time.monotonic())
    go.set()
    for w in workers:
        w.join()
    opened.close()


if __name__ == "__main__":
    main()
