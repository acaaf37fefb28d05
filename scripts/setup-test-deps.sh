#!/usr/bin/env bash
# Installs what the tests need beyond Rust: the OpenTelemetry Python SDK and OTLP exporters
# (an independent, real OTLP client). Idempotent and quiet when already present.
set -euo pipefail
if ! python3 -c 'import opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http, opentelemetry.sdk' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check \
    'opentelemetry-sdk>=1.20' 'opentelemetry-exporter-otlp-proto-grpc>=1.20' 'opentelemetry-exporter-otlp-proto-http>=1.20'
fi
bash "$(dirname "$0")/setup-manifest-deps.sh"
