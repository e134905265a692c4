#!/usr/bin/env bash
# The example workspace, offline: start the local OAuth provider and API, make the store, add
# two tenants, link each one's connectors, run the flow for both, and run it again
# (incremental). Run from anywhere: bash examples/workspace/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="${GLUE_REPO:-$(cd "$here/../.." && pwd)}"  # the checkout whose .venv runs it
[ -x "$repo/.venv/bin/glue" ] || bash "$repo/scripts/bootstrap"
export PATH="$repo/.venv/bin:$PATH"
cd "$here"

# A fresh start each time: the store, the key and the output are made anew.
rm -rf .glue output
glue init . >/dev/null
export CRM_CLIENT_SECRET=glue-test-client-secret   # the test provider's client secret

python -m glue_runtime.testing.oauth_provider --port 8765 >/dev/null 2>&1 &
provider=$!
trap 'kill $provider 2>/dev/null || true' EXIT
python - <<'PY'
import socket, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", 8765), timeout=0.2).close()
        break
    except OSError:
        time.sleep(0.1)
PY

set -x
glue secrets set crm contacts client_secret --from-env CRM_CLIENT_SECRET
glue tenants add acme --name "Acme Inc"
glue tenants add globex --name "Globex Corp"
glue link crm orders --tenant acme --config tenants/acme-orders.json
glue link crm orders --tenant globex --config tenants/globex-orders.json
python link_oauth.py acme account-a
python link_oauth.py globex account-b
glue links list
glue run crm --all-tenants
glue run crm --tenant acme          # again: incremental
glue flows show crm
{ set +x; } 2>/dev/null
echo "each tenant's data is in examples/workspace/output/<tenant>.db"
