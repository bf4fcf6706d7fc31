#!/usr/bin/env bash
# Runs a command (the test suite) against a private PostgreSQL server from Debian's packages:
#   scripts/with-test-postgres.sh python -m pytest
# Installs postgresql with apt when missing, creates a throwaway cluster (trust auth, loopback
# only, no fsync: it holds nothing worth keeping), starts it if it is not running, runs the
# command with TEST_DATABASE_URL set to its maintenance database, and stops the server again
# if it started it.
#
# By default every call gets its own cluster in a new temporary folder on a free port, removed
# afterwards: nothing left by an earlier run (a server killed mid-run, a port another run
# holds, a folder owned by someone else) can stop this one. To keep one server between calls
# while developing, name it: TEST_PG_DIR=/tmp/supervision-test-pg TEST_PG_PORT=55432; tests
# create and drop their own databases, named per run, so several checkouts can share it.
set -euo pipefail
throwaway=""
if [ -z "${TEST_PG_DIR:-}" ]; then
  throwaway=1
  DIR="$(mktemp -d /tmp/supervision-test-pg.XXXXXX)"
else
  DIR="$TEST_PG_DIR"
fi
if [ -n "${TEST_PG_PORT:-}" ]; then
  PG_PORT="$TEST_PG_PORT"
else
  # A port the kernel just handed out and released: free now, and PostgreSQL binds it at once.
  PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "== installing postgresql from Debian" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q postgresql >/dev/null
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

# PostgreSQL refuses to run as root; as root, the cluster belongs to the postgres user (run
# from /, as the checkout may not be readable by that user).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

if [ ! -f "$DIR/PG_VERSION" ]; then
  mkdir -p "$DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
  chmod 700 "$DIR"
  as_owner "$BIN/initdb" -D "$DIR" -U supervision --auth=trust -E UTF8 --no-instructions >/dev/null
fi

started=""
stop() {
  if [ -n "$started" ]; then as_owner "$BIN/pg_ctl" -D "$DIR" -m fast stop >/dev/null || true; fi
  if [ -n "$throwaway" ]; then rm -rf "$DIR"; fi
}
trap stop EXIT
if ! as_owner "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  started=1
  echo "== starting the test PostgreSQL on 127.0.0.1:$PG_PORT ($DIR)" >&2
  as_owner "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || {
    echo "== the test PostgreSQL did not start; its log says:" >&2
    tail -20 "$DIR/server.log" >&2 || true
    exit 1
  }
fi

export TEST_DATABASE_URL="postgresql+psycopg://supervision@127.0.0.1:$PG_PORT/postgres"
"$@"
