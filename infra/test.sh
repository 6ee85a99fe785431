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
# Swift Testing runs tests in parallel; integration tests isolate themselves
# with unique topics, groups and schemas.
swift test --skip-build ${SWIFT_TEST_FLAGS:-} "$@"
