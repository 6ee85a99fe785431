#!/usr/bin/env bash
# The local stack: a real PostgreSQL 15 and the Tansu Kafka-protocol broker,
# as background processes on loopback ports, with data under .run/ (git-ignored).
#
#   infra/stack.sh up      start both (idempotent), wait until they accept connections
#   infra/stack.sh down    stop only what `up` started, by pid
#   infra/stack.sh ps      show what runs, with pids and ports
#   infra/stack.sh env     print the environment the services read (PPF_*)
#   infra/stack.sh running postgres|broker
#                          exit 0 when that part runs, 1 when not (no output, no pipe:
#                          callers under `set -o pipefail` can trust the status)
#
# Ports (override with the environment):
#   PPF_PG_PORT    (default 55432)   PostgreSQL, database "ppf", user "ppf", trust auth on loopback
#   PPF_KAFKA_PORT (default 19092)   Tansu broker, memory storage (topics are lost on restart)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run="${PPF_RUN_DIR:-$root/.run}"
pg_port="${PPF_PG_PORT:-55432}"
kafka_port="${PPF_KAFKA_PORT:-19092}"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
tansu="$root/.deps/bin/tansu"

log() { printf '\033[1mstack:\033[0m %s\n' "$*"; }
die() { printf '\033[31mstack: error:\033[0m %s\n' "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root; CI runs as root, so run it as `postgres`.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_port PORT NAME SECONDS: until something accepts TCP connections on loopback.
wait_port() {
  local port=$1 name=$2 limit=$3 i
  for ((i = 0; i < limit * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  die "$name did not accept connections on 127.0.0.1:$port within ${limit}s (log: $run)"
}

pg_up() {
  [ -n "$pg_bin" ] || die "PostgreSQL is not installed; run 'make setup'"
  local data="$run/postgres/data"
  mkdir -p "$run/postgres"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$run/postgres"
  # The postgres user must be able to reach the data folder.
  [ "$(id -u)" = 0 ] && chmod o+x "$run" "$root" 2>/dev/null || true
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $data"
    as_pg "$pg_bin/initdb" -D "$data" -U ppf --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$run/postgres/initdb.log" 2>&1 \
      || die "initdb failed; see $run/postgres/initdb.log"
  fi
  if alive "$data/postmaster.pid" 2>/dev/null || as_pg "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$pg_port"
  else
    as_pg "$pg_bin/pg_ctl" -D "$data" -l "$run/postgres/server.log" -w -t 30 \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$run/postgres' -c max_connections=200 -c fsync=off" \
      start >/dev/null || die "PostgreSQL did not start; see $run/postgres/server.log"
    log "PostgreSQL started on 127.0.0.1:$pg_port"
  fi
  wait_port "$pg_port" PostgreSQL 30
  # Captured, not piped into `grep -q`: under pipefail an early-exiting grep
  # makes the writer die of SIGPIPE and the whole test fail at random.
  local has_db
  has_db=$("$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U ppf -d postgres -tAc "select 1 from pg_database where datname='ppf'")
  if [ "$has_db" != 1 ]; then
    "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U ppf ppf
    log "created database ppf"
  fi
}

broker_up() {
  [ -x "$tansu" ] || die "the broker is not provisioned ($tansu); run 'make setup'"
  mkdir -p "$run/broker"
  if alive "$run/broker/pid"; then
    log "broker already running on 127.0.0.1:$kafka_port (pid $(cat "$run/broker/pid"))"
  else
    nohup "$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" \
      --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
      --storage-engine memory://tansu/ >"$run/broker/broker.log" 2>&1 &
    echo $! >"$run/broker/pid"
    log "broker started on 127.0.0.1:$kafka_port (pid $!)"
  fi
  wait_port "$kafka_port" broker 20
}

pg_down() {
  local data="$run/postgres/data"
  if [ -f "$data/postmaster.pid" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 && log "PostgreSQL stopped" || true
  fi
}

broker_down() {
  if alive "$run/broker/pid"; then
    local pid; pid=$(cat "$run/broker/pid")
    kill "$pid"; for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "broker stopped (pid $pid)"
  fi
  rm -f "$run/broker/pid"
}

pg_running() {
  local data="$run/postgres/data"
  [ -f "$data/postmaster.pid" ] && kill -0 "$(head -1 "$data/postmaster.pid")" 2>/dev/null
}

ps_stack() {
  local data="$run/postgres/data"
  if pg_running; then
    printf '%-12s %-8s %s\n' postgres "$(head -1 "$data/postmaster.pid")" "127.0.0.1:$pg_port"
  else
    printf '%-12s %-8s %s\n' postgres - stopped
  fi
  if alive "$run/broker/pid"; then
    printf '%-12s %-8s %s\n' broker "$(cat "$run/broker/pid")" "127.0.0.1:$kafka_port"
  else
    printf '%-12s %-8s %s\n' broker - stopped
  fi
  for f in "$run"/services/*.pid; do
    [ -e "$f" ] || continue
    local name; name=$(basename "$f" .pid)
    if alive "$f"; then printf '%-12s %-8s %s\n' "$name" "$(cat "$f")" running
    else printf '%-12s %-8s %s\n' "$name" - stopped; fi
  done
}

case "${1:-}" in
  up) pg_up; broker_up ;;
  down) broker_down; pg_down ;;
  ps) ps_stack ;;
  env)
    echo "export PPF_POSTGRES_URL=postgresql://ppf@127.0.0.1:$pg_port/ppf"
    echo "export PPF_KAFKA_BROKERS=127.0.0.1:$kafka_port" ;;
  running)
    case "${2:-}" in
      postgres) pg_running ;;
      broker) alive "$run/broker/pid" ;;
      *) echo "usage: $0 running postgres|broker" >&2; exit 2 ;;
    esac ;;
  pg-up) pg_up ;; pg-down) pg_down ;; broker-up) broker_up ;; broker-down) broker_down ;;
  *) echo "usage: $0 up|down|ps|env" >&2; exit 2 ;;
esac
