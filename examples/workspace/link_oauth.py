"""Link a tenant's OAuth connector the way a builder's web app does, without a browser.

``start_link`` gives the authorize URL (with ``state`` and a PKCE challenge); the tenant's
browser would open it and come back to the redirect URI with a code. Here the local test
provider approves at once for the account named in ``login_hint``, so the script follows the
redirect itself and hands ``state`` and ``code`` to ``finish_link``.

    python link_oauth.py TENANT ACCOUNT
"""

from __future__ import annotations

import sys
from urllib.parse import parse_qs, urlsplit

import requests

import glue_runtime


def main(tenant: str, account: str) -> None:
    with glue_runtime.open_workspace() as opened:
        started = glue_runtime.start_link(opened, "crm", tenant, "contacts")
        answer = requests.get(
            started.url, params={"login_hint": account}, allow_redirects=False, timeout=10
        )
        back = {k: v[-1] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
        link = glue_runtime.finish_link(opened, back["state"], code=back["code"])
        print(f"linked tenant '{tenant}' to crm/contacts as {account}: status {link.status}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
