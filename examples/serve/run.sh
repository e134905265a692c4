#!/usr/bin/env bash
# glue serve, offline, in a scratch folder: a workspace from `glue init` with a trigger, a
# tenant, a service key and the server; a job started over the HTTP API, then one started by a
# signed webhook, each waited for; then `glue jobs list`. Run from anywhere:
#   bash examples/serve/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="${GLUE_REPO:-$(cd "$here/../.." && pwd)}"  # the checkout whose .venv runs it
[ -x "$repo/.venv/bin/glue" ] || bash "$repo/scripts/bootstrap"
export PATH="$repo/.venv/bin:$PATH"
work="${GLUE_EXAMPLE_DIR:-$(mktemp -d)}"
port="${GLUE_EXAMPLE_PORT:-8765}"
cd "$work"

glue init . >/dev/null
# A trigger on the demo flow: a generic sender signing with the project's own scheme
# (docs/triggers.md); the tenant comes from its own URL.
sed -i 's/^  demo:$/  demo:\n    triggers:\n      files_changed: {connector: files, scheme: glue}/' glue.yml
printf 'server:\n  public_url: http://127.0.0.1:%s\n' "$port" >>glue.yml
glue tenants add acme >/dev/null
glue link demo files --tenant acme </dev/null >/dev/null 2>&1
key=$(glue keys create backend 2>/dev/null | tail -n 1)           # shown once
secret=$(glue triggers secret new demo files_changed 2>/dev/null | tail -n 1)
hook=$(glue triggers url demo files_changed --tenant acme 2>/dev/null | tail -n 1)

glue serve --port "$port" --no-access-log 2>serve.log &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

wait_job() {  # poll GET /v1/jobs/ID until the job ends; print its status
  for _ in $(seq 300); do
    status=$(curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/jobs/$1" |
      python -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    case "$status" in queued|running) sleep 0.2 ;; *) echo "job $1: $status"; return ;; esac
  done
  echo "job $1 did not end" >&2; exit 1
}

echo '1. a job over the API: POST /v1/flows/demo/tenants/acme/jobs'
# 1. A job over the API (an Idempotency-Key makes a retried POST return the same job).
job=$(curl -sf -X POST -H "Authorization: Bearer $key" -H "Idempotency-Key: tour-1" \
  -H "Content-Type: application/json" -d '{"sync_type": "full"}' \
  "http://127.0.0.1:$port/v1/flows/demo/tenants/acme/jobs" |
  python -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
wait_job "$job"
echo '2. a signed webhook: POST /v1/hooks/<trigger>/<tenant token>'
# 2. A signed webhook: Glue-Signature t=<unix>,v1=<HMAC-SHA256 of "{t}.{body}">.
body='{"id": "evt_1", "type": "files.changed"}'
signature=$(GLUE_SECRET="$secret" BODY="$body" python -c '
import os, time
from glue_runtime.service.signing import sign
print(sign(os.environ["GLUE_SECRET"], os.environ["BODY"].encode(), int(time.time())))')
answer=$(curl -sf -X POST -H "Glue-Signature: $signature" -H "Content-Type: application/json" \
  -d "$body" "$hook")
wait_job "$(echo "$answer" | python -c 'import json,sys; print(json.load(sys.stdin)["job"])')"
glue jobs list --tenant acme
echo "acme's data is in $work/output/acme.db"
