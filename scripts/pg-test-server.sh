#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests: a private cluster (initdb, trust authentication, superuser
# `postgres`) listening on 127.0.0.1 only, with its Unix socket inside its own data directory.
#
#   scripts/pg-test-server.sh up     start it (or find it running) and print its connection URL
#   scripts/pg-test-server.sh down   stop it (pg_ctl, by its data directory's postmaster.pid) and
#                                    remove the state directory
#   scripts/pg-test-server.sh env    print the connection URL of the running server (exit status 1
#                                    when it is not running); starts nothing
#
# Needs Debian bookworm's `postgresql` package (PostgreSQL 15; exit status 2 when a binary is missing).
# As root, initdb and the server run as the `postgres` user (initdb refuses root): the state directory
# is made traversable for it. Nothing outside the state directory is written, and only the server of
# this data directory is ever signalled.
#
# `up` is idempotent: a server already running on this data directory and port is reused (its
# databases kept); a stopped one is started again; a data directory built for another port, or a
# state directory that is not a cluster of this script, is wiped and built anew. Calls on one state
# directory take turns through the lock file <state directory>.lock.
# Progress goes to stderr; stdout of `up` and `env` is only these lines (shell-quotable, for eval):
#   PG_TEST_URL=postgres://postgres@127.0.0.1:55432/postgres
#   PG_TEST_STARTED=1        (1: this call started the server; 0: it was already running)
#
# The cluster's default collation is ICU en-US (as on most production servers, it does not sort by
# bytes), so a query that forgets COLLATE "C" sorts differently here and tests catch it. The server
# runs with fsync off: it is for tests and loses data on a machine crash.
#
# Environment (all optional; names must not start with BERTH_, which Berth reserves for its settings):
#   PG_TEST_DIR          state directory                        default /tmp/berth-pg
#   PG_TEST_PORT         port on 127.0.0.1                      default 55432
#   PG_TEST_BIN          directory of initdb, pg_ctl, postgres  default /usr/lib/postgresql/15/bin
#   PG_TEST_ICU_LOCALE   default collation (ICU); empty for the C locale     default en-US
#   PG_TEST_TIMEOUT      seconds to wait for start and stop     default 60
set -euo pipefail

DIR=${PG_TEST_DIR:-/tmp/berth-pg}
PORT=${PG_TEST_PORT:-55432}
BIN=${PG_TEST_BIN:-/usr/lib/postgresql/15/bin}
ICU_LOCALE=${PG_TEST_ICU_LOCALE-en-US}
TIMEOUT=${PG_TEST_TIMEOUT:-60}
IP=127.0.0.1
DATA=$DIR/data
LOG=$DIR/postgres.log
URL="postgres://postgres@$IP:$PORT/postgres"

STARTED_AT=$(date +%s%N)
say() { printf '[pg-test-server %6.2fs] %s\n' "$((($(date +%s%N) - STARTED_AT) / 1000000))e-3" "$*" >&2; }
fail() {
  say "ERROR: $*"
  local log
  for log in "$LOG.ctl" "$LOG"; do
    [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

usage() {
  echo "usage: $0 up|down|env" >&2
  exit 64
}

[ $# -eq 1 ] || usage
case $1 in up | down | env) ;; *) usage ;; esac
[[ $PORT =~ ^[0-9]+$ ]] || { say "PG_TEST_PORT must be a number, not '$PORT'"; exit 64; }

# Commands that touch the cluster run as its owner: `postgres` when we are root, else ourselves.
if [ "$(id -u)" = 0 ]; then
  OWNER=postgres
  as_owner() { runuser -u "$OWNER" -- "$@"; }
else
  OWNER=$(id -un)
  as_owner() { "$@"; }
fi

# Quiet pg_ctl wrapper: its output goes to the log, never to our stdout.
pg_ctl_() { as_owner "$BIN/pg_ctl" -D "$DATA" "$@" </dev/null >>"$LOG.ctl" 2>&1 9>&-; }

# The postmaster's PID from the data directory's postmaster.pid, when that process is alive, is a
# postgres server and serves this data directory. Anything else is not ours and is never signalled.
server_pid() {
  local pid
  [ -s "$DATA/postmaster.pid" ] || return 1
  pid=$(head -n 1 "$DATA/postmaster.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$DATA" || return 1
  echo "$pid"
}

# Alive and not a zombie (the postmaster's parent is whatever adopted it, which may reap it late).
is_alive() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  case $state in Z | X | '') return 1 ;; *) return 0 ;; esac
}

is_ready() { "$BIN/pg_isready" -q -h "$IP" -p "$PORT" -d postgres -U postgres -t 2 </dev/null; }

port_is_free() { ! (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }

print_url() {
  say "PostgreSQL ready at $URL (data in $DATA)"
  printf 'PG_TEST_URL=%s\nPG_TEST_STARTED=%s\n' "$URL" "$1"
}

stop_server() {
  local pid i
  pid=$(server_pid) || return 0
  say "stopping the server (pid $pid)"
  pg_ctl_ -m fast -w -t "$TIMEOUT" stop || true
  for ((i = 0; i < 50; i++)); do is_alive "$pid" || break; sleep 0.1; done
  if server_pid >/dev/null; then
    say "the server (pid $pid) did not stop in $TIMEOUT s: sending SIGQUIT (immediate shutdown)"
    kill -QUIT "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do is_alive "$pid" || break; sleep 0.1; done
  fi
}

start_server() {
  local i
  port_is_free "$PORT" || fail "port $IP:$PORT is already in use (set PG_TEST_PORT)"
  say "starting the server on $IP:$PORT"
  pg_ctl_ -l "$LOG" -w -t "$TIMEOUT" \
    -o "-p $PORT -k '$DATA' -c listen_addresses=$IP -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start || fail "pg_ctl start failed (see $LOG.ctl)"
  for ((i = 0; i < TIMEOUT * 10; i++)); do is_ready && return 0; sleep 0.1; done
  fail "the server does not answer on $IP:$PORT after $TIMEOUT s"
}

build_cluster() {
  local locale_args=(--locale=C.UTF-8 --encoding=UTF8)
  [ -n "$ICU_LOCALE" ] && locale_args+=(--locale-provider=icu "--icu-locale=$ICU_LOCALE")
  if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ] && [ ! -f "$DIR/port" ]; then
    fail "$DIR is not empty and holds no cluster of this script: not wiping it (set PG_TEST_DIR)"
  fi
  rm -rf -- "$DIR"
  mkdir -p "$DATA"
  echo "$PORT" >"$DIR/port"
  # The owner must reach the data directory: the state directory is world-traversable, the data
  # directory private to the owner (postgres refuses a group- or world-readable one).
  chmod 755 "$DIR"
  chown "$OWNER" "$DATA"
  chmod 700 "$DATA"
  touch "$LOG" "$LOG.ctl"
  chown "$OWNER" "$LOG" "$LOG.ctl"
  as_owner test -x "$DIR" || fail "user $OWNER cannot reach $DIR: make its parent directories traversable"
  say "initdb in $DATA (${ICU_LOCALE:+ICU $ICU_LOCALE, }trust authentication)"
  as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust "${locale_args[@]}" </dev/null >>"$LOG.ctl" 2>&1 9>&- ||
    fail "initdb failed (see $LOG.ctl)"
}

up() {
  if server_pid >/dev/null && [ "$(cat "$DIR/port" 2>/dev/null)" = "$PORT" ] && is_ready; then
    say "the server in $DIR is already running"
    print_url 0
    return
  fi
  stop_server
  if [ -f "$DATA/PG_VERSION" ] && [ "$(cat "$DIR/port" 2>/dev/null)" = "$PORT" ]; then
    say "starting the existing cluster in $DATA again"
  else
    build_cluster
  fi
  start_server
  print_url 1
}

env_() {
  server_pid >/dev/null && [ "$(cat "$DIR/port" 2>/dev/null)" = "$PORT" ] && is_ready ||
    { say "no server running in $DIR on port $PORT"; exit 1; }
  printf 'PG_TEST_URL=%s\nPG_TEST_STARTED=0\n' "$URL"
}

down() {
  [ -d "$DIR" ] || return 0
  stop_server
  server_pid >/dev/null && fail "the server in $DATA is still running; $DIR kept"
  rm -rf -- "$DIR"
  say "removed $DIR"
}

missing=()
for bin in "$BIN/initdb" "$BIN/pg_ctl" "$BIN/postgres" "$BIN/pg_isready"; do
  [ -x "$bin" ] || missing+=("$bin")
done
command -v flock >/dev/null || missing+=(flock)
if [ "$1" != down ] && [ ${#missing[@]} -gt 0 ]; then
  say "missing: ${missing[*]} (apt-get install -y postgresql)"
  exit 2
fi

mkdir -p "$(dirname "$DIR")"
# One call at a time per state directory; fd 9 is closed in the server we spawn.
exec 9>"$DIR.lock"
flock -w "$((TIMEOUT * 3))" 9 || fail "another call holds $DIR.lock"
case $1 in
  up) up ;;
  down) down ;;
  env) env_ ;;
esac
