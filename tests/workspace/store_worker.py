"""One process of the concurrency test: N compare-and-swaps on a shared link's credentials
and N fenced state commits on its own key, through one Store, as a job or a refresher would.

Usage: python store_worker.py URL NAME N GO_FILE (the key in GLUE_SECRET_KEY). Waits for
GO_FILE so both processes start together; prints a JSON summary.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from glue_runtime.workspace.crypto import Keyring
from glue_runtime.workspace.dbstate import DbStateStore
from glue_runtime.workspace.store import Store


def main() -> None:
    url, name, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    store = Store(url, Keyring.from_texts([os.environ["GLUE_SECRET_KEY"]], "GLUE_SECRET_KEY"))
    state = DbStateStore(store)
    link = store.link("shop", "acme", "tap")
    while not go.exists():  # a start line, so the two processes overlap
        time.sleep(0.005)
    swaps = retries = 0
    lease = state.acquire(f"shop/acme/{name}", name, 600)
    for i in range(n):
        while True:
            version, secrets = store.credentials(link)
            secrets = {**secrets, "count": secrets.get("count", 0) + 1, name: i}
            if store.swap_credentials(link, version, secrets) is not None:
                swaps += 1
                break
            retries += 1  # the other process won this round: read again
        state.commit(lease.key, {"bookmarks": {f"s{i % 7}": i}, "n": i + 1}, lease)
    state.release(lease)
    print(json.dumps({"swaps": swaps, "retries": retries}))


if __name__ == "__main__":
    main()
