#!/usr/bin/env bash
# Whole-process scrape benchmark: ferrocol and vmagent, each alone, on the same N local targets
# (nginx on 127.0.0.1 serving a ~2,000-series exposition), as ../shared/specs/performance-anchors.md
# section 1.1 measures the peers. Prints a markdown table (samples/s, CPU-s per million samples,
# peak RSS, idle RSS, sink CPU) and writes it into docs/BENCHMARKS.md (--no-doc to skip).
#
#   scripts/bench-scrape.sh              # quick: 1 s interval, 15 s warm-up, 30 s window (~2.5 min)
#   scripts/bench-scrape.sh --intervals 1,10 --warmup 20 --window 60 --repeat 3   # recorded run (~22 min)
#   FERROCOL_BIN=/path/to/ferrocol scripts/bench-scrape.sh --peers ferrocol --no-doc
#   scripts/bench-scrape.sh --render /tmp/ferrocol-bench/<run>   # re-print / re-write an earlier run
#
# Options (passed to scripts/bench_scrape.py, see --help): --intervals LIST, --warmup S,
# --window S, --repeat N (median of N), --idle S, --targets N, --series N,
# --peers ferrocol,vmagent, --compression gzip|zstd|none, --wait-quiet S, --out DIR,
# --strict (exit 1 when an acceptance check fails), --render DIR; and here: --no-doc,
# --no-build (use target/release/ferrocol as it is).
#
# ferrocol: $FERROCOL_BIN if set, else target/release/ferrocol, rebuilt with
# `cargo build --release` when missing or older than src/, Cargo.toml or Cargo.lock.
# vmagent, victoria-metrics (the remote-write sink) and nginx come from
# ../shared/peers/setup-peers.sh (Debian packages). Needs python3. Every process started is
# stopped on exit; all addresses are loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

doc="$repo/docs/BENCHMARKS.md"
build=1
pass=()
for a in "$@"; do
    case "$a" in
        --no-doc) doc="" ;;
        --no-build) build=0 ;;
        --render|--render=*) build=0; pass+=("$a") ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exec python3 scripts/bench_scrape.py --help ;;
        *) pass+=("$a") ;;
    esac
done

if [[ -n "${FERROCOL_BIN:-}" ]]; then
    bin=$FERROCOL_BIN
else
    bin="$repo/target/release/ferrocol"
    if ((build)); then
        stale=""
        if [[ ! -x "$bin" ]]; then
            stale="missing"
        else
            stale=$(find src Cargo.toml Cargo.lock build.rs -newer "$bin" -print -quit 2>/dev/null || true)
        fi
        if [[ -n "$stale" ]]; then
            echo "building ferrocol (release): ${stale} is newer than the binary" >&2
            # cargo waits by itself if another build holds the lock; bounded anyway.
            timeout 3600 cargo build --release >&2
        fi
    fi
fi
[[ -x "$bin" ]] || [[ " $* " == *" --render"* ]] || {
    echo "no ferrocol binary at $bin (set FERROCOL_BIN or drop --no-build)" >&2; exit 1; }

for t in vmagent victoria-metrics; do
    command -v "$t" >/dev/null || { echo "$t missing: run ../shared/peers/setup-peers.sh" >&2; exit 1; }
done
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || {
    echo "nginx missing: run ../shared/peers/setup-peers.sh" >&2; exit 1; }

cmd="scripts/bench-scrape.sh${*:+ $*}"
args=(--ferrocol-bin "$bin" --command "$cmd")
[[ -n "$doc" ]] && args+=(--doc "$doc")

# The helper owns every benchmark process (own session, parent-death signal, stopped by PID in
# its cleanup); forward TERM/HUP to it and wait for its cleanup. Ctrl-C reaches it directly.
helper=""
cleanup() {
    if [[ -n "$helper" ]] && kill -0 "$helper" 2>/dev/null; then
        kill -TERM "$helper" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$helper" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$helper" 2>/dev/null && kill -KILL "$helper" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM HUP
trap 'exit 130' INT

python3 scripts/bench_scrape.py "${args[@]}" "${pass[@]+"${pass[@]}"}" &
helper=$!
rc=0
wait "$helper" || rc=$?
helper=""
exit "$rc"
