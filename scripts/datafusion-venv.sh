#!/usr/bin/env bash
# The Python environment the OpenObserve query proofs run in (tests/openobserve_queries.rs runs
# openobserve/tests/prove_queries.py with it): Apache DataFusion from PyPI, pinned, in a venv
# under ~/.cache/aurora-logs (installed once; again only when the pins change). Prints the
# interpreter's path.
set -euo pipefail

venv="${AURORA_LOGS_DATAFUSION_VENV:-$HOME/.cache/aurora-logs/datafusion-venv}"
requirements="datafusion==55.0.0 pyarrow==26.0.1"

if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]; then
  echo "installing $requirements into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$venv/.requirements"
fi
echo "$venv/bin/python"
