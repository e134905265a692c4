#!/usr/bin/env bash
# Start a private PostgreSQL server for the tests and print its DSN as the last line of stdout.
#
# Idempotent and safe to run concurrently (pytest-xdist workers may all call it): a lock file
# serialises callers, an already running server is reused. As root it installs Debian's
# `postgresql` package when no initdb exists and runs the server as the `postgres` OS user;
# as any other user it runs the server as that user (the binaries must already be installed).
#
# Environment (all optional): GLUE_PG_DIR (/tmp/glue-pg), GLUE_PG_PORT (54329).
# Everything but the DSN goes to stderr.
set -euo pipefail

DIR=${GLUE_PG_DIR:-/tmp/glue-pg}
PORT=${GLUE_PG_PORT:-54329}
DATA="$DIR/data"
LOG="$DIR/server.log"
DSN="postgresql://glue:glue@127.0.0.1:${PORT}/glue_test"

say() { echo "start-postgres: $*" >&2; }

find_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then
    echo "$d"
  fi
}

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

# Serialise concurrent callers (the lock lives beside the cluster folder, not inside it).
# Opened read-only (flock works on any fd), so a lock file made by root serves other users too.
LOCK="${DIR%/}.lock"
[ -e "$LOCK" ] || (umask 000 && : >"$LOCK")
exec 9<"$LOCK"
flock 9

BIN=$(find_bin)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "no /usr/lib/postgresql/*/bin/initdb and not root: install the 'postgresql' package first"
    exit 1
  fi
  say "installing PostgreSQL (apt-get install postgresql)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  BIN=$(find_bin)
  if [ -z "$BIN" ]; then
    say "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb was found"
    exit 1
  fi
fi

mkdir -p "$DIR"
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || {
    say "OS user 'postgres' does not exist (it comes with Debian's postgresql package)"
    exit 1
  }
  chown postgres: "$DIR"
fi
chmod 700 "$DIR"

psql_admin() {
  # Superuser connection over the cluster's own Unix socket (trust auth, local only).
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d postgres "$@"
}

if [ ! -s "$DATA/PG_VERSION" ]; then
  say "creating cluster in $DATA"
  rm -rf "$DATA"
  as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
fi

if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  say "already running on 127.0.0.1:$PORT"
else
  say "starting on 127.0.0.1:$PORT (log: $LOG)"
  # 9>&- : the server must not inherit the lock, or it would hold it for its whole life.
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-h 127.0.0.1 -p $PORT -k $DIR" start >/dev/null 9>&- || {
    say "pg_ctl start failed; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
  }
fi

# Role and database (cheap and idempotent, so checked on every call).
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'glue'")" != "1" ]; then
  psql_admin -c "CREATE ROLE glue LOGIN PASSWORD 'glue'"
fi
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'glue_test'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE glue_test OWNER glue"
fi

echo "$DSN"
