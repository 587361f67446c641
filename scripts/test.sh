#!/usr/bin/env bash
# The project's one test command (README, .ci/run): sets up what a fresh machine lacks, then runs
# every check and test. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-logs/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE=1

step() { printf '\n== %s\n' "$*"; }

step "toolchain"
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done
# The C parts some crates build from source (ISA-L's autotools and nasm), as the image build
# installs them.
scripts/image-build.sh toolchain "$(uname -m)-unknown-linux-gnu"
cargo --version

step "corpora"
# Conformance tests read ../shared/corpora in place. Without it they skip with a notice, except
# under CI=true, where they fail: CI must check conformance.
if [ -d ../shared/corpora ]; then echo "using $(cd ../shared/corpora && pwd)"; else echo "../shared/corpora absent: conformance tests will skip"; fi

step "services"
# Kafka protocol (tansu), DynamoDB Local and Redis, installed and started if missing.
# Its exports go through a file, not `$(...)`, so that nothing it leaves running can hold us.
services_env="$(mktemp)"
scripts/services.sh >"$services_env"
# shellcheck disable=SC1090
. "$services_env"
rm -f "$services_env"
# What this run started, it stops (a service that was already answering is left alone).
stop_started() {
  # shellcheck disable=SC2086
  if [ -n "${AURORA_SERVICES_STARTED:-}" ]; then scripts/services.sh stop $AURORA_SERVICES_STARTED; fi
}
trap stop_started EXIT

step "datafusion (the OpenObserve query proofs)"
# tests/openobserve_queries.rs runs every dashboard panel, alert and saved view in DataFusion.
AURORA_LOGS_DATAFUSION_PYTHON="$(scripts/datafusion-venv.sh)"
export AURORA_LOGS_DATAFUSION_PYTHON
echo "$AURORA_LOGS_DATAFUSION_PYTHON"

step "AWS's signers (the IAM token references)"
# net/tests/iam_tokens.rs compares the MSK and ElastiCache IAM tokens with AWS's own code.
AURORA_TEST_SIGNER_PYTHON="$(scripts/aws-signer-venv.sh)"
export AURORA_TEST_SIGNER_PYTHON
echo "$AURORA_TEST_SIGNER_PYTHON"

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "crate boundaries (scripts/check-boundaries.sh)"
scripts/check-boundaries.sh

step "deployment: k8s/, eks-terraform/, iam/, Dockerfile (scripts/deploy-checks.sh)"
scripts/deploy-checks.sh

step "tests"
log=$(mktemp)
trap 'rm -f "$log"; stop_started' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

step "the README's first command"
cargo run --release --locked -q -- parse examples/mysql-slowquery.log > /dev/null
cargo run --release --locked -q -- demo --seconds 5 --json | tail -n 1 | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["records_lost"]==0 and s["entries_generated"]>0, s; print("demo:", s)'

step "aarch64: the workspace cross-built, its tests under qemu, same output, the image build (scripts/arm64.sh)"
# Its own target dir and a cached build; skipped loudly (not failed) only where the aarch64
# toolchain cannot be installed. Its last lines: per-crate counts, and `aarch64: N passed, N failed`.
a64_log=$(mktemp)
trap 'rm -f "$log" "$a64_log"; stop_started' EXIT
scripts/arm64.sh | tee "$a64_log"

# One closing line over every x86_64 test binary (cargo prints one `test result:` per binary, and the
# last of them is a doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
# And the aarch64 step's own closing lines: qemu counts per crate, same output, the total.
grep -E '^aarch64' "$a64_log" | tail -n 4 || true
