#!/usr/bin/env bash
# The project's test command: installs what the tests need (scripts/setup.sh), generates the test
# data into target/testdata (fast when up to date), then runs the workspace's tests.
# Extra arguments go to `cargo test`, e.g. scripts/test.sh -p nnslim-tests -- roundtrip
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

scripts/setup.sh
.venv/bin/python scripts/gen_testdata.py target/testdata

export NNSLIM_TESTDATA="$REPO/target/testdata"
export NNSLIM_PYTHON="$REPO/.venv/bin/python"
cargo test --workspace --no-fail-fast "$@"
