#!/usr/bin/env bash
# The project's test command: formatting, lints, then every test (unit, integration, the
# config corpus and the real-world configs in ../shared/conformance), with cargo-nextest when
# it is installed and cargo test otherwise. Installs what the tests need (Python OTLP SDK for
# the independent-client test) through scripts/setup-test-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
# Benchmarks must at least build and run once (no timing is asserted).
cargo bench --locked --bench otlp_pipeline --bench scrape_pipeline -- --test
