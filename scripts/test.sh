#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, every test in the workspace, and the `micro`
# sweep end to end on the real corpus (scripts/micro_check.sh). The sweep runs in the background on its own
# copy of the CLI while clippy and the tests build, which leave a core idle much of the time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo build -p p2law
mkdir -p target/ci
cp target/debug/p2law target/ci/p2law
bash scripts/micro_check.sh target/ci/p2law > target/ci/micro.log 2>&1 &
micro=$!
status=0
cargo clippy --workspace --all-targets -- -D warnings || status=$?
if [ "$status" -eq 0 ]; then
  cargo test --workspace --no-fail-fast || status=$?
fi
if wait "$micro"; then
  tail -n 1 target/ci/micro.log
else
  echo "micro sweep failed (target/ci/micro.log):" >&2
  tail -n 40 target/ci/micro.log >&2
  status=1
fi
exit "$status"
