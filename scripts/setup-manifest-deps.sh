#!/usr/bin/env bash
# Installs what tests/manifests.rs needs beyond Rust: kubernetes-validate, which checks the
# manifests against the Kubernetes OpenAPI schemas it ships (offline; no cluster, no network
# at test time). Idempotent and quiet when already present. Called by scripts/setup-test-deps.sh.
set -euo pipefail
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0'
fi
