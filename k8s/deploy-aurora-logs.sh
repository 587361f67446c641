#!/usr/bin/env bash
# Deploy aurora-logs to the current kubectl context:
#
#   k8s/deploy-aurora-logs.sh poc|production        render with values-<env>.yaml and apply
#   k8s/deploy-aurora-logs.sh --render DIR ENV      only render into DIR (no cluster needed;
#                                                   scripts/deploy-checks.sh validates this)
#
# Idempotent: every object is applied (created or updated); Secrets that already exist are
# kept unless OPENOBSERVE_PASSWORD is given; the topic and OpenObserve-install Jobs re-run
# (they change only what is missing or differs). Values: values-<env>.yaml, each overridable
# by a shell variable of the same name.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
namespace=aurora-logs

die() { echo "deploy-aurora-logs: $*" >&2; exit 1; }
info() { echo "deploy-aurora-logs: $*" >&2; }

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

render_dir=""
if [ "${1:-}" = "--render" ]; then
  [ $# -eq 3 ] || usage
  render_dir="$2"
  shift 2
fi
[ $# -eq 1 ] || usage
env_name="$1"
values="$here/values-$env_name.yaml"
[ -f "$values" ] || die "no values file for '$env_name' ($values); environments: $(cd "$here" && for f in values-*.yaml; do f="${f#values-}"; printf '%s ' "${f%.yaml}"; done)"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not on PATH ($2)"; }
need envsubst "Debian/Ubuntu: apt-get install gettext-base; macOS: brew install gettext"
if [ -z "$render_dir" ]; then
  need kubectl "https://kubernetes.io/docs/tasks/tools/"
  kubectl version --request-timeout=10s >/dev/null 2>&1 \
    || die "kubectl cannot reach a cluster: run 'aws eks update-kubeconfig --name <terraform output cluster_name>' first"
fi

# Load KEY: "value" lines; a variable already set in the environment wins.
keys=()
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  [[ "$line" =~ ^([A-Z][A-Z0-9_]*):[[:space:]]*\"(.*)\"[[:space:]]*$ ]] \
    || die "$values: cannot read line '$line' (expected KEY: \"value\")"
  key="${BASH_REMATCH[1]}"
  keys+=("$key")
  # shellcheck disable=SC2163 # exports the variable named by $key
  if [ -z "${!key:-}" ]; then export "$key=${BASH_REMATCH[2]}"; else export "$key"; fi
done < "$values"
[ "${#keys[@]}" -gt 0 ] || die "$values defines no values"

# Secrets: from the environment only, never from a file in the repository.
secret_keys=(OPENOBSERVE_PASSWORD)
secrets_given=true
for key in "${secret_keys[@]}"; do
  if [ -z "${!key:-}" ]; then secrets_given=false; fi
  # The templates hold secrets in YAML double quotes: escape \ and " so that any password
  # renders as itself.
  value="${!key:-}"
  value="${value//\\/\\\\}"
  value="${value//\"/\\\"}"
  export "$key=$value"
done

shell_format=""
for key in "${keys[@]}" "${secret_keys[@]}"; do shell_format+="\${$key} "; done

# The manifests, in the order they are applied.
manifests=(
  setup.yaml
  configmaps/app-config.yaml
  configmaps/kafka-config.yaml
  configmaps/graceful-shutdown.yaml
  secrets/app-secrets.yaml
  secrets/openobserve-secret.yaml
  services/services.yaml
  policies/network-policies.yaml
  deployments/kafka.yaml
  deployments/openobserve.yaml
  deployments/openobserve-install.yaml
  deployments/discovery.yaml
  deployments/processor.yaml
  hpa/autoscaling.yaml
  policies/disruption-budgets.yaml
)

render() { # manifest -> stdout
  local out
  out="$(envsubst "$shell_format" < "$here/$1")"
  # Every placeholder of ours must be gone (shell variables of the scripts in kafka-config stay).
  for key in "${keys[@]}" "${secret_keys[@]}"; do
    if grep -q "\${$key}" <<< "$out"; then die "$1: \${$key} left unreplaced"; fi
  done
  printf '%s\n' "$out"
}

if [ -n "$render_dir" ]; then
  mkdir -p "$render_dir"
  for m in "${manifests[@]}"; do
    mkdir -p "$render_dir/$(dirname "$m")"
    render "$m" > "$render_dir/$m"
  done
  info "rendered ${#manifests[@]} manifests for $env_name into $render_dir"
  exit 0
fi

# Every value still holding a REPLACE_ placeholder stops the deployment, naming its source.
declare -A source_of=(
  [IMAGE]="terraform output ecr_repository_url"
  [VALKEY_HOST]="terraform output valkey_endpoint"
  [OPENOBSERVE_BUCKET]="terraform output openobserve_bucket"
)
for key in "${keys[@]}"; do
  case "${!key}" in
    *REPLACE_*) die "$key is '${!key}': set it in $values or the environment (${source_of[$key]:-see the comment in $values})" ;;
  esac
done

apply() { render "$1" | kubectl apply -f - >&2; }
secret_name() { sed -n 's/^  name: //p' "$here/$1" | head -n 1; }

# Without the secret values, the Secrets must exist already: check before changing anything.
if [ "$secrets_given" = false ]; then
  for m in "${manifests[@]}"; do
    case "$m" in secrets/*)
      kubectl -n "$namespace" get secret "$(secret_name "$m")" >/dev/null 2>&1 \
        || die "secret $(secret_name "$m") does not exist yet: export OPENOBSERVE_PASSWORD (OpenObserve's root password) and run again"
    esac
  done
fi

for m in "${manifests[@]}"; do
  case "$m" in
    secrets/*)
      if [ "$secrets_given" = true ]; then
        apply "$m"
      else
        info "secret $(secret_name "$m") exists; kept (set OPENOBSERVE_PASSWORD to replace it)"
      fi
      ;;
    deployments/kafka.yaml)
      # A Job's template is immutable: replace the previous run.
      kubectl -n "$namespace" delete job kafka-topics --ignore-not-found >&2
      apply "$m"
      kubectl -n "$namespace" rollout status statefulset/kafka --timeout=600s >&2
      kubectl -n "$namespace" wait --for=condition=complete job/kafka-topics --timeout=300s >&2
      ;;
    deployments/openobserve.yaml)
      apply "$m"
      kubectl -n "$namespace" rollout status statefulset/openobserve --timeout=600s >&2
      ;;
    deployments/openobserve-install.yaml)
      # Stream settings, dashboards, alerts, saved views: after OpenObserve is ready.
      kubectl -n "$namespace" delete job aurora-logs-openobserve-install --ignore-not-found >&2
      apply "$m"
      kubectl -n "$namespace" wait --for=condition=complete job/aurora-logs-openobserve-install --timeout=300s >&2
      ;;
    *) apply "$m" ;;
  esac
done

for d in aurora-logs-discovery aurora-logs-processor; do
  kubectl -n "$namespace" rollout status "deployment/$d" --timeout=300s >&2
done
info "$env_name deployed: kubectl -n $namespace get pods; OpenObserve UI: kubectl -n $namespace port-forward svc/openobserve 5080"
