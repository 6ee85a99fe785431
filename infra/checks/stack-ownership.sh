#!/usr/bin/env bash
# Checks that `make test` (infra/test.sh) stops only the parts of the local
# stack it started itself, on a private stack (own run folder and ports) so the
# developer's stack is never touched:
#   A. PostgreSQL and the broker already run  -> both still run afterwards (5 tries)
#   B. nothing runs                           -> both started, and both stopped afterwards
#   C. only PostgreSQL runs                   -> PostgreSQL still runs, the broker is stopped
# Exits non-zero, naming the case, when one fails. About 10 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

PPF_RUN_DIR=$(mktemp -d /tmp/ppf-stack-check.XXXXXX)
PPF_PG_PORT=$((56000 + RANDOM % 1000))
PPF_KAFKA_PORT=$((20000 + RANDOM % 1000))
export PPF_RUN_DIR PPF_PG_PORT PPF_KAFKA_PORT

log() { printf '\033[1mstack-ownership:\033[0m %s\n' "$*"; }
fail() { printf '\033[31mstack-ownership: FAILED:\033[0m %s\n' "$*" >&2; exit 1; }
cleanup() { bash infra/stack.sh down >/dev/null 2>&1 || true; rm -rf "$PPF_RUN_DIR"; }
trap cleanup EXIT

is_running() { bash infra/stack.sh running "$1"; }
expect_state() { # expect_state CASE PART running|stopped
  if is_running "$2"; then [ "$3" = running ] || fail "$1: $2 runs but should be stopped"
  else [ "$3" = stopped ] || fail "$1: $2 was stopped but should still run"; fi
}

# A. A running stack survives `make test`'s start/stop logic, every time.
bash infra/stack.sh up >/dev/null
for try in 1 2 3 4 5; do
  bash infra/test.sh --stack-only >/dev/null
  expect_state "A (try $try)" postgres running
  expect_state "A (try $try)" broker running
done
log "A: a running stack is left running (5 of 5)"

# B. What test.sh starts, it stops.
bash infra/stack.sh down >/dev/null
bash infra/test.sh --stack-only >/dev/null
expect_state B postgres stopped
expect_state B broker stopped
log "B: a stack that test.sh started is stopped at its exit"

# C. Only the missing part is started and stopped.
bash infra/stack.sh pg-up >/dev/null
bash infra/test.sh --stack-only >/dev/null
expect_state C postgres running
expect_state C broker stopped
log "C: only the part test.sh started is stopped"
