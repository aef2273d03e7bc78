#!/usr/bin/env bash
# A throw-away S3 server for tests: a one-node Ceph cluster (one monitor, one memstore OSD, no
# manager, no cephx, pools of size 1) with a RADOS Gateway on the loopback address.
#
#   scripts/s3-test-server.sh up     start it (or find it running) and print its endpoint and keys
#   scripts/s3-test-server.sh down   stop its daemons (by PID file) and remove its state directory
#   scripts/s3-test-server.sh gateway-stop [--kill]
#                                    stop only the gateway (radosgw, by its PID file): SIGTERM and a
#                                    bounded wait, or with --kill SIGKILL at once (a crash). The monitor
#                                    and the OSD keep running: the memstore OSD would lose every object
#                                    if it restarted. A no-op when the gateway is not running.
#   scripts/s3-test-server.sh gateway-start
#                                    start the gateway again (after gateway-stop) in the cluster that
#                                    `up` built, and wait until it answers. A no-op when it is running;
#                                    exit status 1 when the monitor or the OSD is not running.
#
# Needs, as root on Debian bookworm: apt-get install -y ceph-mon ceph-osd radosgw ceph-common
# (exit status 2 when a binary is missing). Nothing is installed or started outside the state
# directory, and only the daemons this script started are ever signalled.
#
# Fault-injection tests use gateway-stop and gateway-start: objects written before the stop are still
# there after the start, and requests in flight at the stop see their connections refused or cut.
#
# `up` is idempotent: when the cluster in the state directory is already serving with the requested
# keys it only prints them. Otherwise it stops what is left of an old cluster and builds a new one
# (so `up` while the gateway is stopped rebuilds the cluster, empty: use gateway-start instead).
# Calls on one state directory take turns through the lock file <state directory>.lock.
# Progress goes to stderr; stdout of `up` is only these lines (shell-quotable, for eval or parsing):
#   BERTH_S3_ENDPOINT=http://127.0.0.1:7480
#   BERTH_S3_REGION=us-east-1
#   BERTH_S3_ACCESS_KEY=...
#   BERTH_S3_SECRET_KEY=...
#   BERTH_S3_STARTED=1        (1: this call started the cluster; 0: it was already running)
#
# Environment (all optional):
#   BERTH_CEPH_DIR          state directory                    default /tmp/berth-ceph
#   BERTH_S3_PORT           gateway port on 127.0.0.1          default 7480
#   BERTH_CEPH_MON_PORT     monitor port (msgr2)               default 7470
#   BERTH_CEPH_PORTS        port range of the OSD's messengers default 7471-7479
#   BERTH_CEPH_STORE_BYTES  memstore capacity of the OSD       default 2147483648 (2 GiB, in RAM)
#   BERTH_S3_ACCESS_KEY     test user's access key             default BERTHTESTACCESSKEY01
#   BERTH_S3_SECRET_KEY     test user's secret key             default berth-test-secret-key-not-a-secret
#   BERTH_CEPH_TIMEOUT      seconds to wait for each step      default 90
set -euo pipefail

DIR=${BERTH_CEPH_DIR:-/tmp/berth-ceph}
RGW_PORT=${BERTH_S3_PORT:-7480}
MON_PORT=${BERTH_CEPH_MON_PORT:-7470}
PORTS=${BERTH_CEPH_PORTS:-7471-7479}
STORE_BYTES=${BERTH_CEPH_STORE_BYTES:-2147483648}
ACCESS_KEY=${BERTH_S3_ACCESS_KEY:-BERTHTESTACCESSKEY01}
SECRET_KEY=${BERTH_S3_SECRET_KEY:-berth-test-secret-key-not-a-secret}
TIMEOUT=${BERTH_CEPH_TIMEOUT:-90}
IP=127.0.0.1
REGION=us-east-1
ENDPOINT="http://$IP:$RGW_PORT"
CONF=$DIR/ceph.conf
USER_ID=berth-test
# Stop order: gateway, then OSD, then monitor.
DAEMONS=(client.rgw.a osd.0 mon.a)

STARTED_AT=$(date +%s%N)
say() { printf '[s3-test-server %6.2fs] %s\n' "$((($(date +%s%N) - STARTED_AT) / 1000000))e-3" "$*" >&2; }
fail() {
  say "ERROR: $*"
  local log
  for log in "$DIR"/log/*.log; do
    [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

usage() {
  echo "usage: $0 up|down|gateway-stop [--kill]|gateway-start" >&2
  exit 64
}

binary_of() { # daemon name -> the executable it must be
  case $1 in
    mon.*) echo ceph-mon ;;
    osd.*) echo ceph-osd ;;
    client.rgw.*) echo radosgw ;;
  esac
}

# The PID in the daemon's PID file, when that process is alive, runs the expected binary and was
# started with this state directory's config. Anything else is not ours and is never signalled.
daemon_pid() {
  local file="$DIR/run/$1.pid" pid state
  [ -s "$file" ] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(binary_of "$1")" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$CONF" || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  case $state in Z | X | '') return 1 ;; esac
  echo "$pid"
}

is_alive() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  case $state in Z | X | '') return 1 ;; *) return 0 ;; esac
}

# stop_daemon NAME [KILL]: SIGTERM, up to 10 s, then SIGKILL (or SIGKILL at once with KILL).
# Returns 1 when the daemon is not running.
stop_daemon() {
  local name=$1 pid i
  pid=$(daemon_pid "$name") || return 1
  if [ "${2:-}" != KILL ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do is_alive "$pid" || break; sleep 0.1; done
    if is_alive "$pid"; then say "$name (pid $pid) still running 10 s after SIGTERM: sending SIGKILL"; fi
  fi
  if is_alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do is_alive "$pid" || break; sleep 0.1; done
  fi
  say "stopped $name (pid $pid) with SIG${2:-TERM}"
}

stop_daemons() {
  local name
  for name in "${DAEMONS[@]}"; do stop_daemon "$name" || true; done
}

# Bounded retry: wait_for SECONDS COMMAND... (polls every 0.2 s)
wait_for() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

http_status() { # [curl options...] -> status code of a GET on the endpoint, 000 when unreachable
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$ENDPOINT/" || true
}

# S3 ListBuckets signed with the test user's keys (curl 7.88 signs but omits the payload hash header).
keys_accepted() {
  [ "$(http_status --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')" = 200 ]
}

gateway_answers() { [ "$(http_status)" != 000 ]; }

osd_is_up() { ceph osd stat 2>/dev/null | grep -q '1 up'; }

port_is_free() { ! (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }

all_running() {
  local name
  for name in "${DAEMONS[@]}"; do daemon_pid "$name" >/dev/null || return 1; done
  [ "$(cat "$DIR/rgw-port" 2>/dev/null)" = "$RGW_PORT" ]
}

print_endpoint() {
  say "S3 ready at $ENDPOINT (region $REGION, path-style, access key $ACCESS_KEY)"
  printf 'BERTH_S3_ENDPOINT=%s\nBERTH_S3_REGION=%s\nBERTH_S3_ACCESS_KEY=%s\nBERTH_S3_SECRET_KEY=%s\nBERTH_S3_STARTED=%s\n' \
    "$ENDPOINT" "$REGION" "$ACCESS_KEY" "$SECRET_KEY" "$1"
}

# Spawns a daemon detached from our stdout/stderr (callers may wait for our pipes to close) and from
# the lock on fd 9; the daemon forks into the background and writes its PID file.
spawn() {
  timeout "$TIMEOUT" "$@" </dev/null >>"$DIR/log/daemons.out" 2>&1 9>&-
}

write_config() {
  local fsid=$1
  cat >"$CONF" <<EOF
# Written by scripts/s3-test-server.sh: a one-node test cluster on loopback. Not for real data.
[global]
fsid = $fsid
mon_host = v2:$IP:$MON_PORT
public_addr = $IP
cluster_addr = $IP
ms_bind_msgr1 = false
ms_bind_ipv6 = false
ms_bind_port_min = ${PORTS%-*}
ms_bind_port_max = ${PORTS#*-}
# No cephx. Without it the clients' default "secure" messenger mode cannot work: use crc.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_client_mode = crc
ms_cluster_mode = crc
ms_service_mode = crc
# Every file below the state directory.
run_dir = $DIR/run
log_file = $DIR/log/\$name.log
mon_data = $DIR/mon/\$name
osd_data = $DIR/osd/\$name
keyring = $DIR/keyring
# One OSD: pools of size 1 with few placement groups; no manager, so no autoscaler.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_data_avail_crit = 1
# Commit map changes every 50 ms instead of every second: the gateway creates its pools one by one.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
# Fail instead of waiting for ever when the monitor does not answer.
client_mount_timeout = 30
rados_mon_op_timeout = 60

[mon]
pid_file = $DIR/run/\$name.pid

[osd]
pid_file = $DIR/run/\$name.pid
osd_objectstore = memstore
memstore_device_bytes = $STORE_BYTES

[client.rgw.a]
pid_file = $DIR/run/\$name.pid
rgw_frontends = beast endpoint=$IP:$RGW_PORT
rgw_data = $DIR/rgw
rgw_thread_pool_size = 64
EOF
}

up() {
  if all_running; then
    if keys_accepted; then
      say "cluster in $DIR is already running"
      print_endpoint 0
      return
    fi
    if gateway_answers; then
      say "cluster in $DIR is running; adding the requested keys to user $USER_ID"
      radosgw-admin key create --uid="$USER_ID" --key-type=s3 \
        --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$DIR/log/admin.out" 2>&1 ||
        fail "radosgw-admin key create failed"
      wait_for 10 keys_accepted || fail "the gateway refuses the requested keys"
      print_endpoint 0
      return
    fi
  fi

  if [ -e "$DIR" ]; then
    say "stopping what is left of the cluster in $DIR and wiping it"
    stop_daemons
    rm -rf -- "$DIR"
  fi
  local port
  for port in "$MON_PORT" "$RGW_PORT"; do
    port_is_free "$port" || fail "port $IP:$port is already in use (set BERTH_S3_PORT / BERTH_CEPH_MON_PORT)"
  done
  mkdir -p "$DIR"/{mon,osd/osd.0,run,log,rgw}
  echo "$RGW_PORT" >"$DIR/rgw-port"
  local fsid osd_uuid osd_id
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_config "$fsid"

  say "starting mon.a on v2:$IP:$MON_PORT"
  monmaptool --create --fsid "$fsid" --addv a "[v2:$IP:$MON_PORT]" "$DIR/monmap" >>"$DIR/log/setup.out" 2>&1 ||
    fail "monmaptool failed"
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" </dev/null >>"$DIR/log/setup.out" 2>&1 ||
    fail "ceph-mon --mkfs failed"
  spawn ceph-mon -c "$CONF" -i a || fail "ceph-mon did not start"
  timeout "$TIMEOUT" ceph --connect-timeout "$TIMEOUT" mon stat >>"$DIR/log/setup.out" 2>&1 ||
    fail "mon.a does not answer"

  say "starting osd.0 (memstore, $STORE_BYTES bytes)"
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(timeout "$TIMEOUT" ceph osd new "$osd_uuid" 2>>"$DIR/log/setup.out") || fail "ceph osd new failed"
  [ "$osd_id" = 0 ] || fail "expected OSD id 0, got '$osd_id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" </dev/null >>"$DIR/log/setup.out" 2>&1 ||
    fail "ceph-osd --mkfs failed"
  spawn ceph-osd -c "$CONF" -i 0 || fail "ceph-osd did not start"
  wait_for "$TIMEOUT" osd_is_up || fail "osd.0 is not up after $TIMEOUT s"

  start_gateway

  radosgw-admin user create --uid="$USER_ID" --display-name="Berth tests" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$DIR/log/admin.out" 2>&1 ||
    fail "radosgw-admin user create failed"
  wait_for 10 keys_accepted || fail "the gateway refuses the test user's keys"
  all_running || fail "a daemon exited during start-up"
  print_endpoint 1
}

start_gateway() {
  say "starting radosgw on $ENDPOINT"
  spawn radosgw -c "$CONF" -n client.rgw.a || fail "radosgw did not start"
  wait_for "$TIMEOUT" gateway_answers || fail "radosgw does not answer on $ENDPOINT after $TIMEOUT s"
}

gateway_stop() { # [--kill]
  local signal=TERM
  [ "${1:-}" = --kill ] && signal=KILL
  stop_daemon client.rgw.a "$signal" || say "the gateway in $DIR is not running"
}

gateway_start() {
  local name
  for name in mon.a osd.0; do
    daemon_pid "$name" >/dev/null || fail "$name of $DIR is not running (run \`$0 up\` first)"
  done
  # The port the cluster was built for: its config names it.
  RGW_PORT=$(cat "$DIR/rgw-port" 2>/dev/null) || fail "no cluster in $DIR"
  ENDPOINT="http://$IP:$RGW_PORT"
  if daemon_pid client.rgw.a >/dev/null; then
    wait_for "$TIMEOUT" gateway_answers || fail "radosgw runs but does not answer on $ENDPOINT"
    say "the gateway in $DIR is already running"
    return
  fi
  port_is_free "$RGW_PORT" || fail "port $IP:$RGW_PORT is already in use"
  start_gateway
}

down() {
  if [ -d "$DIR" ]; then
    stop_daemons
    rm -rf -- "$DIR"
    say "removed $DIR"
  fi
}

case ${1:-} in
  up | down | gateway-start) [ $# -eq 1 ] || usage ;;
  gateway-stop) [ $# -eq 1 ] || { [ $# -eq 2 ] && [ "$2" = --kill ]; } || usage ;;
  *) usage ;;
esac

missing=()
for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl flock; do
  command -v "$bin" >/dev/null || missing+=("$bin")
done
if [ "$1" != down ] && [ "$1" != gateway-stop ] && [ ${#missing[@]} -gt 0 ]; then
  say "missing: ${missing[*]} (apt-get install -y ceph-mon ceph-osd radosgw ceph-common curl)"
  exit 2
fi

export CEPH_CONF=$CONF
# One call at a time per state directory; fd 9 is closed in every daemon we spawn.
exec 9>"$DIR.lock"
flock -w "$((TIMEOUT * 3))" 9 || fail "another call holds $DIR.lock"
command=$1
shift
case $command in
  up) up ;;
  down) down ;;
  gateway-stop) gateway_stop "$@" ;;
  gateway-start) gateway_start ;;
esac
