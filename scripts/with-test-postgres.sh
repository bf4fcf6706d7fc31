#!/usr/bin/env bash
# Runs a command (the test suite) against a private PostgreSQL server from Debian's packages:
#   scripts/with-test-postgres.sh python -m pytest
# Installs postgresql with apt when missing, creates a throwaway cluster (trust auth, loopback
# only, no fsync: it holds nothing worth keeping), starts it if it is not running, runs the
# command with TEST_DATABASE_URL set to its maintenance database, and stops the server again
# if it started it. Tests create and drop their own databases, named per run, so several
# checkouts can share one server.
set -euo pipefail
PG_PORT="${TEST_PG_PORT:-55432}"
DIR="${TEST_PG_DIR:-/tmp/supervision-test-pg}"

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
if ! as_owner "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  started=1
  echo "== starting the test PostgreSQL on 127.0.0.1:$PG_PORT ($DIR)" >&2
  as_owner "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
fi

stop() {
  if [ -n "$started" ]; then as_owner "$BIN/pg_ctl" -D "$DIR" -m fast stop >/dev/null || true; fi
}
trap stop EXIT
export TEST_DATABASE_URL="postgresql+psycopg://supervision@127.0.0.1:$PG_PORT/postgres"
"$@"
