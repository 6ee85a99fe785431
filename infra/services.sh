#!/usr/bin/env bash
# The five PPF services as local background processes (no Docker), with pid
# files in .run/services/ and logs in .run/logs/.
#
#   infra/services.sh start [EVALUATORS]   start model-host, pruner, agent, predictor and N evaluators (default 2)
#   infra/services.sh evaluators N         scale the evaluators alone to N (0 stops them all)
#   infra/services.sh stop                 SIGTERM each (they drain in-flight work), SIGKILL after 30 s
#
# Uses the release build in .build/release (make build-release). Each service
# gets PPF_BLAS_THREADS=1 by default: on 2 cores several BLAS-heavy processes
# would oversubscribe the CPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run="${PPF_RUN_DIR:-$root/.run}"
bin="${PPF_BIN_DIR:-$root/.build/release}"
mkdir -p "$run/services" "$run/logs"
eval "$(bash "$root/infra/stack.sh" env)"
export PPF_POSTGRES_URL PPF_KAFKA_BROKERS
export PPF_BLAS_THREADS="${PPF_BLAS_THREADS:-1}"

log() { printf '\033[1mservices:\033[0m %s\n' "$*"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_one() {  # NAME EXECUTABLE
  local name=$1 exe=$2 pidfile="$run/services/$1.pid"
  if alive "$pidfile"; then log "$name already running (pid $(cat "$pidfile"))"; return; fi
  [ -x "$bin/$exe" ] || { echo "services: $bin/$exe is not built; run 'make build-release'" >&2; exit 1; }
  PPF_INSTANCE_ID="$name" nohup "$bin/$exe" >>"$run/logs/$name.log" 2>&1 &
  echo $! >"$pidfile"
  log "started $name (pid $!, log .run/logs/$name.log)"
}

scale_evaluators() {  # N: start evaluator-1..N, SIGTERM the ones beyond N
  local evaluators=$1 f n
  for i in $(seq 1 "$evaluators"); do start_one "evaluator-$i" evaluator; done
  for f in "$run"/services/evaluator-*.pid; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid); n=${n#evaluator-}
    if [ "$n" -gt "$evaluators" ] && alive "$f"; then kill -TERM "$(cat "$f")"; log "stopping evaluator-$n (scaled down)"; fi
  done
}

case "${1:-}" in
  start)
    evaluators="${2:-${EVALUATORS:-2}}"
    for s in predictor agent pruner model-host; do start_one "$s" "$s"; done
    scale_evaluators "$evaluators" ;;
  evaluators)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "usage: $0 evaluators N" >&2; exit 2; }
    scale_evaluators "$2" ;;
  stop)
    pids=()
    for f in "$run"/services/*.pid; do
      [ -e "$f" ] || continue
      if alive "$f"; then kill -TERM "$(cat "$f")" && pids+=("$(cat "$f")"); fi
      rm -f "$f"
    done
    for _ in $(seq 300); do
      still=0; for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && still=1; done
      [ $still = 0 ] && break; sleep 0.1
    done
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    [ ${#pids[@]} -gt 0 ] && log "stopped ${#pids[@]} services" || true ;;
  *) echo "usage: $0 start [EVALUATORS] | evaluators N | stop" >&2; exit 2 ;;
esac
