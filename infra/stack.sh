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
#   PPF_PG_PORT    (default 55432)   PostgreSQL, database "ppf" owned by role "ppf" (not a superuser)
#   PPF_KAFKA_PORT (default 19092)   Tansu broker, memory storage (topics are lost on restart)
#
# PostgreSQL asks every client for a password (scram-sha-256, on TCP and on its
# socket). `up` generates two on first start and keeps them under .run/postgres/
# with mode 0600: ppf.password (the services' role, printed by `env` in
# PPF_POSTGRES_URL and in the PGPASSFILE it names) and admin.password (the
# superuser ppf_admin, used only here). Durability: fsync is on, as befits the
# system of record; PPF_PG_FSYNC=off turns it off for a throwaway test stack
# (infra/test.sh does so for a stack it starts itself).
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

# The daemons started here must not keep the caller's descriptors open: a caller that reads
# this script's output through a pipe (or watches a descriptor for its exit, as Foundation's
# Process does) would otherwise wait until PostgreSQL or the broker stops.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [[ "$fd" =~ ^[0-9]+$ ]] && [ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-" 2>/dev/null || true
  done
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
  local fresh=0
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $data"
    # Trust only until pg_secure below has set the passwords and scram-sha-256 (before `up` returns).
    as_pg "$pg_bin/initdb" -D "$data" -U ppf_admin --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$run/postgres/initdb.log" 2>&1 \
      || die "initdb failed; see $run/postgres/initdb.log"
    fresh=1
  fi
  local fsync="${PPF_PG_FSYNC:-on}"
  [[ "$fsync" =~ ^(on|off)$ ]] || die "PPF_PG_FSYNC must be on or off, not '$fsync'"
  if alive "$data/postmaster.pid" 2>/dev/null || as_pg "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$pg_port"
  else
    (close_inherited_fds
     as_pg "$pg_bin/pg_ctl" -D "$data" -l "$run/postgres/server.log" -w -t 30 \
       -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$run/postgres' -c max_connections=200 -c fsync=$fsync" \
       start >/dev/null </dev/null) || die "PostgreSQL did not start; see $run/postgres/server.log"
    log "PostgreSQL started on 127.0.0.1:$pg_port (fsync $fsync)"
  fi
  wait_port "$pg_port" PostgreSQL 30
  pg_secure "$fresh"
  pg_passfile
  # Captured, not piped into `grep -q`: under pipefail an early-exiting grep
  # makes the writer die of SIGPIPE and the whole test fail at random.
  local has_db
  has_db=$(pg_admin_sql "select 1 from pg_database where datname='ppf'")
  if [ "$has_db" != 1 ]; then
    pg_admin_sql "CREATE DATABASE ppf OWNER ppf" >/dev/null
    log "created database ppf (owner ppf)"
  fi
}

# A password of 32 hex digits: safe in a URL, a conninfo string and a pgpass line.
new_password() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# pg_admin_sql SQL: runs SQL as the superuser over TCP with its password.
pg_admin_sql() {
  PGPASSWORD=$(cat "$run/postgres/admin.password") "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U ppf_admin -d postgres \
    -v ON_ERROR_STOP=1 -tAc "$1"
}

# pg_secure FRESH: passwords for ppf_admin and ppf, ppf a plain role, and
# scram-sha-256 for every connection. Idempotent: done once, then skipped.
pg_secure() {
  local fresh=$1 data="$run/postgres/data" secrets="$run/postgres"
  [ -f "$secrets/ppf.password" ] && [ -f "$secrets/admin.password" ] && grep -q '^host all all 127.0.0.1/32 scram-sha-256' "$data/pg_hba.conf" && return 0
  local superuser=ppf_admin
  if [ "$fresh" = 0 ] && [ ! -f "$secrets/admin.password" ]; then
    # A folder from before passwords: its bootstrap superuser is ppf, which PostgreSQL cannot demote.
    superuser=ppf
    log "warning: $data was created with trust auth and ppf as its superuser; passwords are set now, but ppf stays a superuser until the folder is recreated (make down; rm -rf $run/postgres; make up)"
  fi
  (umask 077; [ -f "$secrets/admin.password" ] || new_password >"$secrets/admin.password"
   [ -f "$secrets/ppf.password" ] || new_password >"$secrets/ppf.password")
  local admin_pw ppf_pw
  admin_pw=$(cat "$secrets/admin.password"); ppf_pw=$(cat "$secrets/ppf.password")
  # Still trust here (this runs before pg_hba.conf changes), over the socket as the server's OS user.
  as_pg "$pg_bin/psql" -h "$run/postgres" -p "$pg_port" -U "$superuser" -d postgres -v ON_ERROR_STOP=1 -q <<SQL >/dev/null \
    || die "could not set the PostgreSQL passwords (log: $run/postgres/server.log)"
SET password_encryption = 'scram-sha-256';
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ppf_admin') THEN CREATE ROLE ppf_admin SUPERUSER LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ppf') THEN CREATE ROLE ppf LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF;
END \$\$;
ALTER ROLE ppf_admin PASSWORD '$admin_pw';
ALTER ROLE ppf PASSWORD '$ppf_pw';
SQL
  as_pg tee "$data/pg_hba.conf" >/dev/null <<HBA
# Written by infra/stack.sh: every connection proves its password (scram-sha-256).
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
HBA
  as_pg "$pg_bin/pg_ctl" -D "$data" reload >/dev/null || die "PostgreSQL did not reload pg_hba.conf"
  log "PostgreSQL asks for passwords now (scram-sha-256); they are in $secrets/*.password (mode 0600)"
}

# The libpq password file `env` names (PGPASSFILE), for this port.
pg_passfile() {
  (umask 077; printf '127.0.0.1:%s:*:ppf:%s\n' "$pg_port" "$(cat "$run/postgres/ppf.password")" >"$run/postgres/pgpass")
}

broker_up() {
  [ -x "$tansu" ] || die "the broker is not provisioned ($tansu); run 'make setup'"
  mkdir -p "$run/broker"
  if alive "$run/broker/pid"; then
    log "broker already running on 127.0.0.1:$kafka_port (pid $(cat "$run/broker/pid"))"
  else
    close_inherited_fds
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
    password=$(cat "$run/postgres/ppf.password" 2>/dev/null) || die "no PostgreSQL password yet ($run/postgres/ppf.password); run 'make up'"
    echo "export PPF_POSTGRES_URL=postgresql://ppf:$password@127.0.0.1:$pg_port/ppf"
    echo "export PGPASSFILE=$run/postgres/pgpass"
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
