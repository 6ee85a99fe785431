#!/usr/bin/env bash
# make test: provision, start the local stack, build, run every test target,
# and stop the stack again, even when tests fail. A stack that was already
# running before (a developer's `make up`) is left running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

[ "${1:-}" = --stack-only ] || bash infra/setup.sh

# Which parts of the stack run already (a developer's `make up`, `make demo`):
# those are left running at exit; only what this run starts is stopped.
# `stack.sh running` answers by exit status alone: no pipe into `grep -q`,
# whose early exit under pipefail once made a running stack look stopped.
stop_at_exit=()
bash infra/stack.sh running postgres || stop_at_exit+=(pg-down)
bash infra/stack.sh running broker || stop_at_exit+=(broker-down)
stop_started() {
  local command
  for command in "${stop_at_exit[@]}"; do bash infra/stack.sh "$command" || true; done
}
trap stop_started EXIT
# A PostgreSQL this run starts is stopped again at its end: a test stack, so without fsync
# (PPF_PG_FSYNC). One that ran before keeps its own setting.
PPF_PG_FSYNC="${PPF_PG_FSYNC:-off}" bash infra/stack.sh up
eval "$(bash infra/stack.sh env)"
export PPF_KAFKA_BROKERS PPF_POSTGRES_URL PGPASSFILE

# `infra/test.sh --stack-only`: only the start/stop part above (what
# infra/checks/stack-ownership.sh exercises).
if [ "${1:-}" = --stack-only ]; then exit 0; fi

# A check that can fail: a stack that runs before `make test` still runs after it.
bash infra/checks/stack-ownership.sh

# The tests get a broker of their own. Services already running on the shared
# one (a `make demo`) consume PPF's topics in their own groups and would answer
# the tests' messages too: the demo's agent once rejected a test's ratio event
# as "unknown model" before the test's agent answered it. PostgreSQL is shared
# safely: every test works in a database or schema of its own.
test_broker_run=$(mktemp -d /tmp/ppf-test-broker.XXXXXX)
test_broker_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop_test_broker() {
  PPF_RUN_DIR="$test_broker_run" PPF_KAFKA_PORT="$test_broker_port" bash infra/stack.sh broker-down >/dev/null || true
  rm -rf "$test_broker_run"
}
trap 'stop_test_broker; stop_started' EXIT
PPF_RUN_DIR="$test_broker_run" PPF_KAFKA_PORT="$test_broker_port" bash infra/stack.sh broker-up
export PPF_KAFKA_BROKERS="127.0.0.1:$test_broker_port"

swift build --build-tests ${SWIFT_BUILD_FLAGS:-}
if [ $# -gt 0 ]; then
  swift test --skip-build ${SWIFT_TEST_FLAGS:-} "$@"
  exit
fi
# Unit and module tests run in parallel. The integration tests start real
# service processes (several SmolLM2 copies, throwaway brokers and databases)
# and wait for their outcomes with deadlines, so they run one at a time after
# the rest: on 2 cores, all of them at once starve each other past those
# deadlines. They isolate themselves with unique groups and schemas.
swift test --skip-build ${SWIFT_TEST_FLAGS:-} --skip IntegrationTests
swift test --skip-build ${SWIFT_TEST_FLAGS:-} --filter IntegrationTests --no-parallel
