#!/usr/bin/env bash
# Stop the private PostgreSQL server scripts/start-postgres.sh started (the tests' server).
#
# Environment (as for start-postgres.sh): GLUE_PG_DIR (/tmp/glue-pg). The cluster's data stays
# in $GLUE_PG_DIR/data, so the next start is quick; `rm -rf "$GLUE_PG_DIR"` removes it too.
set -euo pipefail

DIR=${GLUE_PG_DIR:-/tmp/glue-pg}
DATA="$DIR/data"

say() { echo "stop-postgres: $*" >&2; }

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
  say "no /usr/lib/postgresql/*/bin/pg_ctl: nothing to stop"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_owner() {
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  }
else
  as_owner() { "$@"; }
fi

# The same lock as start-postgres.sh: never stop a server another caller is starting.
LOCK="${DIR%/}.lock"
[ -e "$LOCK" ] || (umask 000 && : >"$LOCK")
exec 9<"$LOCK"
flock 9

if [ ! -s "$DATA/PG_VERSION" ]; then
  say "no cluster in $DATA: nothing to stop"
  exit 0
fi
if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 9>&-
  say "stopped the server of $DATA"
else
  say "the server of $DATA is not running"
fi
