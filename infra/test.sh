#!/usr/bin/env bash
# make test: provision, start the local stack, build, run every test target,
# and stop the stack again, even when tests fail. A stack that was already
# running before (a developer's `make up`) is left running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash infra/setup.sh

started_stack=0
if ! bash infra/stack.sh ps | grep -qE '^(postgres|broker) +[0-9]'; then started_stack=1; fi
stop_stack() { if [ "$started_stack" = 1 ]; then bash infra/stack.sh down || true; fi; }
trap stop_stack EXIT
bash infra/stack.sh up
eval "$(bash infra/stack.sh env)"
export PPF_KAFKA_BROKERS PPF_POSTGRES_URL

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
