#!/usr/bin/env bash
# Agent under load: a burst of dynamic ratio events (200 by default) answered by a
# real `agent` process; latency p50/p99 and the agent's memory before and after.
#
#   make bench-load                  (or: bash infra/bench/agent-load.sh)
#
# The agent gets the local stack's PostgreSQL (`make up`), in a schema of its own that
# is dropped afterwards, and a private broker (the provisioned Tansu on a free port),
# so the stack's services never see the bench's events, policies or spot checks and
# the agent sees no one else's. Then `ppf bench load` stores a synthetic predictor
# version for the configured model's shapes (the agent trains its agent against it),
# warms the agent up with one event, emits the burst back to back, each event recorded as
# `ppf ratio set` records one, waits until every event has exactly one outcome and
# one published PolicyPublished, and prints (and writes) the table.
#
# Settings (environment):            default
#   EVENTS           events in the burst  200
#   DOC              output               docs/benchmarks.md ("" skips writing)
#   KEEP             1 keeps the schema   0
#   PPF_BIN_DIR      executables          .build/release
#   PPF_MODEL_DIR, PPF_MODEL_FILE, PPF_MODEL_ID   the model whose shapes the agent serves (the provisioned SmolLM2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run="${PPF_RUN_DIR:-$root/.run}"
bin="${PPF_BIN_DIR:-$root/.build/release}"
events="${EVENTS:-200}"
doc="${DOC-$root/docs/benchmarks.md}"
tansu="$root/.deps/bin/tansu"

log() { printf '\033[1mbench:\033[0m %s\n' "$*"; }
die() { printf '\033[31mbench: error:\033[0m %s\n' "$*" >&2; exit 1; }

[[ "$events" =~ ^[1-9][0-9]*$ ]] || die "EVENTS must be a positive whole number, not '$events'"
for exe in agent ppf; do
  [ -x "$bin/$exe" ] || die "$bin/$exe is not built; run 'make build-release'"
done
[ -x "$tansu" ] || die "the broker is not provisioned ($tansu); run 'make setup'"
eval "$(bash "$root/infra/stack.sh" env)"
psql "$PPF_POSTGRES_URL" -tAc 'select 1' >/dev/null 2>&1 || die "PostgreSQL is not reachable at $PPF_POSTGRES_URL; run 'make up'"

stamp=$(date -u +%Y%m%d%H%M%S)
bench_dir="$run/bench/agent-load-$stamp"
mkdir -p "$bench_dir"
schema="bench_load_$stamp"
separator='?'; [[ "$PPF_POSTGRES_URL" == *\?* ]] && separator='&'
database_url="$PPF_POSTGRES_URL${separator}search_path=$schema"

# A loopback port nothing listens on (the kernel picks it).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 300); do
    local still=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && still=1; done
    [ $still = 0 ] && break; sleep 0.1
  done
  [ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then
    log "kept schema $schema (drop it with: psql \"$PPF_POSTGRES_URL\" -c 'DROP SCHEMA $schema CASCADE')"
  else
    psql "$PPF_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so the EXIT trap runs

log "private broker on 127.0.0.1:$port, schema $schema (logs in $bench_dir)"
nohup "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >"$bench_dir/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "the private broker did not start; see $bench_dir/broker.log"
psql "$PPF_POSTGRES_URL" -qc "CREATE SCHEMA $schema" >/dev/null

export PPF_POSTGRES_URL="$database_url" PPF_KAFKA_BROKERS="127.0.0.1:$port"
PPF_CONSUMER_GROUP_PREFIX="bench-$stamp-" PPF_HEARTBEAT_SECONDS=1 nohup "$bin/agent" >"$bench_dir/agent.log" 2>&1 &
agent=$!
pids=("$agent" "${pids[@]}")
for _ in $(seq 600); do grep -q " ready" "$bench_dir/agent.log" && break; kill -0 "$agent" 2>/dev/null || break; sleep 0.1; done
grep -q " ready" "$bench_dir/agent.log" || die "the agent did not start; see $bench_dir/agent.log"

log "ppf bench load --events $events --agent-pid $agent"
"$bin/ppf" bench load --events "$events" --agent-pid "$agent" ${doc:+--write "$doc"} 2>&1 | tee "$bench_dir/bench.log"
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || die "ppf bench load failed (status $status); see $bench_dir"
