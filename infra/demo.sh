#!/usr/bin/env bash
# make demo: on a fresh machine, provision, build, start PostgreSQL, the broker
# and the services, then run the main job on the bundled real model.
#
# What the main job is today (README "Status" says what is still missing):
#   1. the model engine on SmolLM2-135M: inspect, perplexity on the test split, generation;
#   2. the system: a ratio-change event through the outbox and the bus, with
#      the audit trail and the services' heartbeats in PostgreSQL.
# The stack is left running for exploration; `make down` stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "1/5 provisioning (Debian packages, pinned PyPI downloads)"
bash infra/setup.sh

step "2/5 building (release)"
swift build -c release 2>&1 | tail -1
ppf="$root/.build/release/ppf"

step "3/5 starting PostgreSQL, the broker and the services (${EVALUATORS:-2} evaluators)"
bash infra/stack.sh up
bash infra/services.sh start "${EVALUATORS:-2}"
eval "$(bash infra/stack.sh env)"
export PPF_POSTGRES_URL PPF_KAFKA_BROKERS

step "4/5 the model engine on the bundled SmolLM2-135M (GGUF Q4_1, dequantized to fp32)"
"$ppf" inspect .deps/models/SmolLM2-135M-Instruct.Q4_1.gguf | sed -n '/^Parameters/,$p'
"$ppf" eval --split test --tokens 4096 --window 512
"$ppf" generate --prompt "The theory of relativity" --max-tokens 24

step "5/5 the system: a ratio-change event through PostgreSQL's outbox and Kafka"
"$ppf" ratio set 0.35 --by demo
psql="psql -h 127.0.0.1 -p ${PPF_PG_PORT:-55432} -U ppf -d ppf -P pager=off"
sleep 6  # one heartbeat interval
$psql -c "SELECT e.id, e.model_id, e.target_ratio, e.mode, e.requested_by, o.published_at IS NOT NULL AS published
            FROM ratio_events e JOIN outbox o ON o.message_id = e.id ORDER BY e.created_at DESC LIMIT 3" \
      -c "SELECT service, instance_id, version, in_flight, now() - last_seen AS since_heartbeat
            FROM service_instances WHERE last_seen > now() - interval '1 minute' ORDER BY service, instance_id"

cat <<TXT

The stack is still running: PostgreSQL on 127.0.0.1:${PPF_PG_PORT:-55432} (database ppf, user ppf),
the broker on 127.0.0.1:${PPF_KAFKA_PORT:-19092}, services' logs in .run/logs/.
  make ps      what runs
  make down    stop everything
TXT
