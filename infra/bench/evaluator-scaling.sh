#!/usr/bin/env bash
# Evaluator scaling: measurements per minute with N = 1, 2, 3 evaluators in
# one consumer group, on the running local stack (`make up`) and the real model.
#
#   make bench-evaluators                  (or: bash infra/bench/evaluator-scaling.sh)
#
# For each N, on a fresh regime so nothing measured before is reused:
#   1. starts N evaluators of its own (PPF_BLAS_THREADS=1 each, PPF_INSTANCE_ID
#      bench-evaluator-i, a consumer group no one else uses, reading only messages
#      produced after they joined) serving the model id smollm2-135m-bench-<stamp>-n<N>,
#      and waits until the group holds all request partitions;
#   2. runs `ppf bootstrap --no-train --model-id <that id> --seed SEED_BASE+N …`;
#   3. reads from PostgreSQL the wall time from the first request stored to the
#      last measurement stored, which evaluators measured, and the steady rate:
#      per evaluator, measurements after its first over the time since its first
#      (so each evaluator's one-off preparation — hashing the model, scoring the
#      metric, reading the calibration cache — and the partition skew drop out),
#      summed over the evaluators.
# Then prints a table and writes the CSV and the section of docs/benchmarks.md.
#
# The stack's own evaluators would compete for the CPU and dead-letter the bench's
# requests (another model id), so they are scaled to 0 for the run and back
# afterwards; if one is busy (a data run), the bench refuses unless FORCE=1.
# Bench rows stay in the database under their own model ids (ppf status / SQL
# can inspect them); they never mix with the real model's training data.
#
# Settings (environment; empty means the default):   default
#   COUNTS           evaluator counts "1 2 3"
#   SAMPLES          policies per count 18 (keep below PPF_PREDICTOR_RETRAIN_AFTER, 32,
#                                     or the stack's predictor trains during the run)
#   PROFILE          1: the bootstrap's sensitivity probes too (211 for SmolLM2-135M, as `ppf bootstrap` runs);
#                    0: --no-profile, the samples only                                      1
#   TOKENS, WINDOW   measurement       512, 256
#   METRIC           importance metric flap
#   SEED_BASE        sampler seed base 100
#   TIMEOUT_MINUTES  per count         60
#   CSV, DOC         outputs           docs/evaluator-scaling.csv, docs/benchmarks.md ("" skips)
#   PPF_BIN_DIR      executables       .build/release
#   PPF_MODEL_DIR, PPF_MODEL_FILE      the model the services read (default: the provisioned SmolLM2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run="${PPF_RUN_DIR:-$root/.run}"
bin="${PPF_BIN_DIR:-$root/.build/release}"
counts="${COUNTS:-1 2 3}"
samples="${SAMPLES:-18}"
profile="${PROFILE:-1}"
tokens="${TOKENS:-512}"
window="${WINDOW:-256}"
metric="${METRIC:-flap}"
seed_base="${SEED_BASE:-100}"
timeout_minutes="${TIMEOUT_MINUTES:-60}"
csv="${CSV-$root/docs/evaluator-scaling.csv}"
doc="${DOC-$root/docs/benchmarks.md}"
model_dir="${PPF_MODEL_DIR:-$root/.deps/models}"
model_file="${PPF_MODEL_FILE:-SmolLM2-135M-Instruct.Q4_1.gguf}"
partitions=12  # Topic.all: ppf.evaluation-requests
topic=ppf.evaluation-requests

log() { printf '\033[1mbench:\033[0m %s\n' "$*"; }
die() { printf '\033[31mbench: error:\033[0m %s\n' "$*" >&2; exit 1; }

positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, not '$2'"; }
for c in $counts; do positive COUNTS "$c"; done
positive SAMPLES "$samples"; positive TOKENS "$tokens"; positive WINDOW "$window"
[[ "$profile" =~ ^[01]$ ]] || die "PROFILE must be 0 or 1, not '$profile'"
# The bootstrap measures the sensitivity profile's probes (211 for SmolLM2-135M) before its samples.
profile_flag=()
[ "$profile" = 1 ] || profile_flag=(--no-profile)
positive TIMEOUT_MINUTES "$timeout_minutes"
[[ "$seed_base" =~ ^[0-9]+$ ]] || die "SEED_BASE must be a whole number, not '$seed_base'"

eval "$(bash "$root/infra/stack.sh" env)"
export PPF_POSTGRES_URL PPF_KAFKA_BROKERS
for exe in evaluator ppf; do
  [ -x "$bin/$exe" ] || die "$bin/$exe is not built; run 'make build-release'"
done
[ -f "$model_dir/$model_file" ] || die "no model at $model_dir/$model_file; run 'make setup'"
psql "$PPF_POSTGRES_URL" -tAc 'select 1' >/dev/null 2>&1 || die "PostgreSQL is not reachable at $PPF_POSTGRES_URL; run 'make up'"
(exec 3<>"/dev/tcp/${PPF_KAFKA_BROKERS%%:*}/${PPF_KAFKA_BROKERS##*:}") 2>/dev/null || die "the broker is not reachable at $PPF_KAFKA_BROKERS; run 'make up'"
sql() { psql "$PPF_POSTGRES_URL" -v ON_ERROR_STOP=1 -tA -F, "$@"; }

stamp=$(date -u +%Y%m%d%H%M%S)
bench_dir="$run/bench/evaluator-scaling-$stamp"
mkdir -p "$bench_dir"
pids=()

# MARK: - The stack's evaluators step aside

stack_evaluators=()
for f in "$run"/services/evaluator-*.pid; do
  [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && stack_evaluators+=("$(basename "$f" .pid)")
done
restore_stack() {
  if [ ${#stack_evaluators[@]} -gt 0 ]; then
    log "restoring the stack's ${#stack_evaluators[@]} evaluator(s)"
    bash "$root/infra/services.sh" evaluators "${#stack_evaluators[@]}" || true
  fi
}
stop_bench_evaluators() {
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 600); do
    local still=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && still=1; done
    [ $still = 0 ] && break; sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap 'stop_bench_evaluators; restore_stack' EXIT
trap 'exit 130' INT TERM  # so the EXIT trap runs: the bench evaluators stop, the stack's come back

if [ ${#stack_evaluators[@]} -gt 0 ]; then
  names=$(printf "'%s'," "${stack_evaluators[@]}"); names=${names%,}
  busy=$(sql -c "SELECT count(*) FROM service_instances WHERE service = 'evaluator' AND instance_id IN ($names)
                   AND last_seen > now() - interval '30 seconds' AND coalesce(details->>'activity', '') <> 'idle'")
  if [ "${busy:-0}" -gt 0 ] && [ "${FORCE:-0}" != 1 ]; then
    stack_evaluators=()  # nothing was stopped, nothing to restore
    die "$busy of the stack's evaluators are measuring (ppf status); the numbers would be wrong and their work interrupted. Rerun when they are idle, or FORCE=1."
  fi
  log "scaling the stack's evaluators (${stack_evaluators[*]}) to 0 for the run"
  old=()
  for name in "${stack_evaluators[@]}"; do old+=("$(cat "$run/services/$name.pid")"); done
  bash "$root/infra/services.sh" evaluators 0
  for _ in $(seq 1200); do
    still=0; for p in "${old[@]}"; do kill -0 "$p" 2>/dev/null && still=1; done
    [ $still = 0 ] && break; sleep 0.1
  done
fi

# MARK: - One count

# held_partitions LOG: how many request partitions the consumer in LOG holds now,
# replayed from PPFBus's "assigned …" / "revoked …" lines.
held_partitions() {
  { grep -E "(assigned|revoked) " "$1" 2>/dev/null || true; } | awk -v topic="$topic" '
    { add = ($0 ~ /assigned /)
      line = $0
      while (match(line, topic "\\[[0-9]+\\]")) {
        p = substr(line, RSTART + length(topic) + 1, RLENGTH - length(topic) - 2)
        if (add) held[p] = 1; else delete held[p]
        line = substr(line, RSTART + RLENGTH)
      } }
    END { n = 0; for (p in held) n++; print n }'
}

results=()
for n in $counts; do
  model_id="smollm2-135m-bench-$stamp-n$n"
  log "N=$n: starting $n evaluator(s) serving '$model_id'"
  logs=()
  for i in $(seq 1 "$n"); do
    evaluator_log="$bench_dir/n$n-evaluator-$i.log"
    PPF_INSTANCE_ID="bench-evaluator-$i" PPF_MODEL_ID="$model_id" PPF_MODEL_DIR="$model_dir" PPF_MODEL_FILE="$model_file" \
      PPF_BLAS_THREADS=1 PPF_CONSUMER_GROUP_PREFIX="bench-$stamp-n$n-" PPF_KAFKA_AUTO_OFFSET_RESET=latest \
      nohup "$bin/evaluator" >"$evaluator_log" 2>&1 &
    pids+=($!)
    logs+=("$evaluator_log")
  done
  # Ready when every evaluator loaded the model and the group's assignment covers every
  # partition and has not changed for 3 s (with `latest`, a partition first assigned after
  # the requests were produced would skip them).
  stable=0; last=""
  for _ in $(seq 600); do
    sleep 0.5
    total=0; each=1; state=""
    for l in "${logs[@]}"; do
      grep -q "model '$model_id' loaded" "$l" || each=0
      h=$(held_partitions "$l"); total=$((total + h)); [ "$h" -gt 0 ] || each=0
      state="$state $(grep -cE '(assigned|revoked) ' "$l" || true)"
    done
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || die "an evaluator exited; see $bench_dir"; done
    if [ $each = 1 ] && [ $total = $partitions ] && [ "$state" = "$last" ]; then
      stable=$((stable + 1)); [ $stable -ge 6 ] && break
    else
      stable=0
    fi
    last=$state
  done
  [ $stable -ge 6 ] || die "the $n evaluator(s) did not settle on the $partitions partitions within 5 min; see $bench_dir"

  log "N=$n: ppf bootstrap --no-train ${profile_flag[*]} --samples $samples --tokens $tokens --window $window --metric $metric --seed $((seed_base + n))"
  if ! "$bin/ppf" bootstrap --no-train "${profile_flag[@]}" --samples "$samples" --tokens "$tokens" --window "$window" --metric "$metric" \
      --seed $((seed_base + n)) --model-id "$model_id" --model "$model_dir/$model_file" \
      --timeout-minutes "$timeout_minutes" 2>&1 | tee "$bench_dir/n$n-bootstrap.log"; then
    die "ppf bootstrap failed for N=$n; see $bench_dir/n$n-bootstrap.log"
  fi

  row=$(sql -c "SELECT count(*), count(DISTINCT m.evaluator_id),
                       round(extract(epoch FROM max(m.created_at) - min(r.created_at))::numeric, 1),
                       round(avg(m.seconds)::numeric, 2)
                  FROM evaluation_requests r JOIN measurements m ON m.request_id = r.id
                 WHERE r.model_id = '$model_id'")
  IFS=, read -r measured seen wall mean <<<"$row"
  requested=$(sql -c "SELECT count(*) FROM evaluation_requests WHERE model_id = '$model_id'")
  [ "$measured" = "$requested" ] || die "N=$n: $measured of $requested requests measured"
  steady=$(sql -c "WITH per AS (
                     SELECT count(*) - 1 AS intervals, extract(epoch FROM max(m.created_at) - min(m.created_at)) AS span
                       FROM evaluation_requests r JOIN measurements m ON m.request_id = r.id
                      WHERE r.model_id = '$model_id' GROUP BY m.evaluator_id)
                   SELECT round(coalesce(sum(60 * intervals / span) FILTER (WHERE span > 0), 0)::numeric, 2) FROM per")
  log "N=$n: $measured measurements by $seen evaluator(s) in $wall s; steady $steady/min (mean $mean s each inside the evaluator)"
  results+=("$n,$measured,$seen,$wall,$steady,$mean,$model_id")
  stop_bench_evaluators
done

# MARK: - Report

# Speed-ups are against the first count's rate per evaluator (N = 1 when COUNTS starts at 1).
base_rate="" base_steady=""
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
table="| evaluators | measurements | evaluators that measured | wall (s) | measurements/min | speed-up | steady measurements/min | steady speed-up | mean s per measurement |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
csv_text="evaluators,measurements,evaluators_that_measured,wall_seconds,measurements_per_minute,speedup,steady_measurements_per_minute,steady_speedup,mean_measurement_seconds,tokens,window,metric,model_id"
for r in "${results[@]}"; do
  IFS=, read -r n measured seen wall steady mean model_id <<<"$r"
  rate=$(awk -v m="$measured" -v w="$wall" 'BEGIN { printf "%.2f", (w > 0 ? 60 * m / w : 0) }')
  [ -n "$base_rate" ] || base_rate=$(awk -v r="$rate" -v n="$n" 'BEGIN { printf "%.6f", r / n }')
  [ -n "$base_steady" ] || base_steady=$(awk -v r="$steady" -v n="$n" 'BEGIN { printf "%.6f", r / n }')
  speedup=$(ratio "$rate" "$base_rate")
  steady_speedup=$(ratio "$steady" "$base_steady")
  table="$table
| $n | $measured | $seen | $wall | $rate | ${speedup}× | $steady | ${steady_speedup}× | $mean |"
  csv_text="$csv_text
$n,$measured,$seen,$wall,$rate,$speedup,$steady,$steady_speedup,$mean,$tokens,$window,$metric,$model_id"
done
echo
echo "$table"

command="make bench-evaluators"
settings="SAMPLES=$samples PROFILE=$profile TOKENS=$tokens WINDOW=$window METRIC=$metric SEED_BASE=$seed_base COUNTS=\"$counts\" PPF_PREFIX_CACHE_MB=${PPF_PREFIX_CACHE_MB:-512}"
section="Measured $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, \`PPF_BLAS_THREADS=1\` per evaluator, model \`$model_file\`. Reproduce: \`$command\` (runs \`infra/bench/evaluator-scaling.sh\` with $settings).

Each row: N evaluators in one consumer group, then \`ppf bootstrap --no-train ${profile_flag[*]} --samples $samples --tokens $tokens --window $window --metric $metric --seed $seed_base+N\` on a fresh model id. *Wall* runs from the first request stored to the last measurement stored: it includes each evaluator's one-off preparation before its first measurement (hashing the model, scoring the metric, reading the calibration cache) and the skew of requests over partitions. *Steady* sums, over the evaluators, the measurements after each one's first divided by the time since its first. Speed-ups are against N = 1; *mean s* is the time inside the evaluator per measurement (plan, apply, forward passes).

$table"

if [ -n "$csv" ]; then
  printf '%s\n' "$csv_text" >"$csv"
  log "wrote $csv"
fi
if [ -n "$doc" ]; then
  start='<!-- bench-evaluators:start -->' end='<!-- bench-evaluators:end -->'
  if ! grep -qF "$start" "$doc"; then
    cat >>"$doc" <<EOF

## Evaluator scaling

Evaluators are scaled out in one consumer group (the requests' 12 partitions are
shared among them). On 2 cores with one BLAS thread each, two evaluators should
nearly double the rate and a third can only add contention.

$start
$end
EOF
  fi
  section_file="$bench_dir/section.md"
  printf '%s\n' "$section" >"$section_file"
  awk -v start="$start" -v end="$end" -v file="$section_file" '
    $0 == start { print; while ((getline line < file) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
  log "updated $doc"
fi
