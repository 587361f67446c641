#!/usr/bin/env bash
# The Python environment the OpenObserve query proofs run in (tests/openobserve_queries.rs runs
# openobserve/tests/prove_queries.py with it): Apache DataFusion from PyPI, pinned, in a venv
# under ~/.cache/aurora-logs (installed once; again only when the pins change). Prints the
# interpreter's path.
set -euo pipefail

venv="${AURORA_LOGS_DATAFUSION_VENV:-$HOME/.cache/aurora-logs/datafusion-venv}"
requirements="datafusion==55.0.0 pyarrow==26.0.1"

echo "$("$(dirname "$0")"/venv.sh "$venv" "$requirements")/python"
