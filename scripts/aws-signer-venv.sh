#!/usr/bin/env bash
# The Python environment of the IAM token tests (net/tests/iam_tokens.rs): AWS's own MSK signer
# and botocore from PyPI, pinned, in a venv under ~/.cache/aurora-logs (installed once; again
# only when the pins change). Prints the interpreter's path.
set -euo pipefail

venv="${AURORA_LOGS_SIGNER_VENV:-$HOME/.cache/aurora-logs/aws-signer-venv}"
requirements="aws-msk-iam-sasl-signer-python==1.0.2 boto3==1.44.18 botocore==1.44.18"

echo "$("$(dirname "$0")"/venv.sh "$venv" "$requirements")/python"
